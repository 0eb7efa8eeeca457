//go:build js && wasm

package chunkstore

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"syscall/js"
	"testing"
	"time"

	"github.com/hack-pad/go-indexeddb/idb"
	"github.com/hack-pad/safejs"

	"gitvqa/model/modelfile"
	"gitvqa/web/download"
	"gitvqa/web/internal/fakenet"
	"gitvqa/web/jsutil"
)

func open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Clear(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestChunksAndModels(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	data := bytes.Repeat([]byte{1, 2, 3}, 100000)
	sum := sha256.Sum256(data)
	sha := hex.EncodeToString(sum[:])
	ref := modelfile.FileRef{File: sha + ".bin", Bytes: int64(len(data)), SHA256: sha}
	if _, ok, _ := s.Chunk(ctx, ref); ok {
		t.Fatal("a cleared store has the chunk")
	}
	if err := s.PutChunk(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	got, ok, err := s.Chunk(ctx, ref)
	if err != nil || !ok || !bytes.Equal(got, data) {
		t.Fatalf("read back: ok=%v err=%v equal=%v", ok, err, bytes.Equal(got, data))
	}
	if _, ok, err := s.Chunk(ctx, modelfile.FileRef{SHA256: "00", Bytes: 1}); ok || err != nil {
		t.Fatalf("missing chunk: %v %v", ok, err)
	}
	// A copy damaged in storage, or one that is not the size its manifest says, is not
	// handed over; one stored the old way (a Uint8Array) still is.
	put := func(v js.Value) {
		txn, st, err := s.store(idb.TransactionReadWrite, Chunks)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.PutKey(js.ValueOf(sha), v); err != nil {
			t.Fatal(err)
		}
		if err := txn.Await(ctx); err != nil {
			t.Fatal(err)
		}
	}
	flipped := append([]byte(nil), data...)
	flipped[12345] ^= 1
	record := func(b []byte, crc uint32) js.Value {
		u8, _ := jsutil.Uint8Array(b)
		blob := js.Global().Get("Blob").New([]any{safejs.Unsafe(u8)})
		return js.ValueOf(map[string]any{"data": blob, "crc32c": float64(crc)})
	}
	for name, v := range map[string]js.Value{
		"a flipped bit under its CRC":       record(flipped, CRC(data)),
		"a short copy":                      record(data[:1000], CRC(data[:1000])),
		"a flipped bit, stored the old way": func() js.Value { u8, _ := jsutil.Uint8Array(flipped); return safejs.Unsafe(u8) }(),
	} {
		put(v)
		if _, ok, err := s.Chunk(ctx, ref); ok || err != nil {
			t.Errorf("%s was handed over (err %v)", name, err)
		}
	}
	// Records written before the CRC was kept (a Uint8Array, a bare Blob) are still read,
	// checked by their sha256.
	u8, _ := jsutil.Uint8Array(data)
	for name, v := range map[string]js.Value{"a Uint8Array": safejs.Unsafe(u8), "a Blob": js.Global().Get("Blob").New([]any{safejs.Unsafe(u8)})} {
		put(v)
		if got, ok, err := s.Chunk(ctx, ref); !ok || err != nil || !bytes.Equal(got, data) {
			t.Errorf("a chunk stored as %s: ok=%v err=%v", name, ok, err)
		}
	}
	// Where the browser refuses Blobs (WebKit's private sessions), chunks are kept as
	// bytes, with their CRC, and read back the same.
	s.noBlobs = true
	if err := s.PutChunk(ctx, ref, data); err != nil {
		t.Fatal(err)
	}
	if got, ok, err := s.Chunk(ctx, ref); !ok || err != nil || !bytes.Equal(got, data) {
		t.Errorf("a chunk stored as bytes: ok=%v err=%v", ok, err)
	}
	bad, _ := jsutil.Uint8Array(flipped)
	put(js.ValueOf(map[string]any{"data": safejs.Unsafe(bad), "crc32c": float64(CRC(data))}))
	if _, ok, err := s.Chunk(ctx, ref); ok || err != nil {
		t.Errorf("bytes with a flipped bit under their CRC were handed over (err %v)", err)
	}
	s.noBlobs = false
	rec := download.ModelRecord{URL: "https://x.test/m/manifest.json", Manifest: []byte(`{"a":1}`), Bytes: 300000, Complete: true, Updated: time.UnixMilli(1700000000000)}
	if err := s.PutModel(ctx, rec); err != nil {
		t.Fatal(err)
	}
	back, ok, err := s.Model(ctx, rec.URL)
	if err != nil || !ok || back.URL != rec.URL || string(back.Manifest) != string(rec.Manifest) || back.Bytes != rec.Bytes || !back.Complete || !back.Updated.Equal(rec.Updated) {
		t.Fatalf("model record: %+v %v %v", back, ok, err)
	}
	list, err := s.Models(ctx)
	if err != nil || len(list) != 1 {
		t.Fatalf("models %v %v", list, err)
	}
	if err := s.Clear(ctx); err != nil {
		t.Fatal(err)
	}
	if list, _ := s.Models(ctx); len(list) != 0 {
		t.Fatal("clear left models")
	}
}

// The downloader over the real IndexedDB: the second load needs only the manifest.
func TestDownloaderResumesFromIndexedDB(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	dir := t.TempDir()
	w, err := modelfile.NewWriter(dir, 4096, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := make([]float32, 5000)
	for i := range v {
		v[i] = float32(i%13) - 6
	}
	w.AddF32("a", []int{5000}, v)
	m, err := w.Finish([]byte(`{}`), []byte(`{}`), []byte("[PAD]\n"), "f32", 0)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, r := range append([]modelfile.FileRef{m.Tokenizer}, m.Chunks...) {
		files[r.File], _ = modelfile.DirSource(dir).Fetch(ctx, r)
	}
	files["manifest.json"], _ = os.ReadFile(filepath.Join(dir, "manifest.json"))
	net := &fakenet.Network{Files: files}
	load := func() {
		l := &download.Loader{ManifestURL: "https://x.test/m/manifest.json", Client: net.Client(), Store: s}
		mm, _, _, err := l.Manifest(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		src := l.Source(ctx, mm)
		st, err := modelfile.Load(ctx, mm, src, nil)
		src.Close()
		l.WaitStored() // the files are written behind the load
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := st.Float32("a"); len(got) != 5000 || got[7] != 1 {
			t.Fatalf("tensor %v", got[:8])
		}
	}
	load()
	if n := len(net.Requests()); n != len(m.Chunks)+2 {
		t.Fatalf("first load made %d requests, want %d", n, len(m.Chunks)+2)
	}
	load()
	if r := net.Requests(); len(r) != 1 || r[0] != "manifest.json" {
		t.Fatalf("second load requested %v", r)
	}
}

// Deleting a model removes its record and the files no other model lists.
func TestDeleteModelKeepsSharedFiles(t *testing.T) {
	ctx := context.Background()
	s := open(t)
	// Two models with the same vocabulary and different weights.
	manifest := func(value float32) (*modelfile.Manifest, []byte) {
		dir := t.TempDir()
		w, err := modelfile.NewWriter(dir, 4096, nil)
		if err != nil {
			t.Fatal(err)
		}
		w.AddF32("a", []int{3}, []float32{value, value, value})
		m, err := w.Finish([]byte(`{}`), []byte(`{}`), []byte("[PAD]\n"), "f32", 0)
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "manifest.json"))
		return m, raw
	}
	ma, rawA := manifest(1)
	mb, rawB := manifest(2)
	for url, m := range map[string]*modelfile.Manifest{"https://x.test/a/manifest.json": ma, "https://x.test/b/manifest.json": mb} {
		raw := rawA
		if m == mb {
			raw = rawB
		}
		if err := s.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Complete: true}); err != nil {
			t.Fatal(err)
		}
		for _, r := range append([]modelfile.FileRef{m.Tokenizer}, m.Chunks...) {
			if err := s.PutChunk(ctx, r, []byte(r.File)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if ma.Tokenizer.SHA256 != mb.Tokenizer.SHA256 || ma.Chunks[0].SHA256 == mb.Chunks[0].SHA256 {
		t.Fatal("the two test models should share exactly their vocabulary")
	}
	ok, err := s.DeleteModel(ctx, "https://x.test/a/manifest.json")
	if err != nil || !ok {
		t.Fatalf("delete: %v %v", ok, err)
	}
	has := func(sha string) bool {
		missing, _ := s.Missing(ctx, []string{sha})
		return len(missing) == 0
	}
	if has(ma.Chunks[0].SHA256) || !has(mb.Chunks[0].SHA256) || !has(ma.Tokenizer.SHA256) {
		t.Fatalf("after deleting a: a's chunk %v, b's chunk %v, shared vocab %v", has(ma.Chunks[0].SHA256), has(mb.Chunks[0].SHA256), has(ma.Tokenizer.SHA256))
	}
	if list, _ := s.Models(ctx); len(list) != 1 || list[0].URL != "https://x.test/b/manifest.json" {
		t.Fatalf("models left: %v", list)
	}
	if ok, err := s.DeleteModel(ctx, "https://x.test/a/manifest.json"); ok || err != nil {
		t.Fatalf("deleting it again: %v %v", ok, err)
	}
}
