package hub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeHub mimics the hub: /api/models/REPO/tree/REV lists files; /REPO/resolve/REV/NAME
// serves small files itself and redirects LFS files to a CDN path that honours Range
// requests; it can drop a connection part-way through, and counts requests.
type fakeHub struct {
	files     map[string][]byte
	lfs       map[string]bool
	listing   bool   // answer the tree API
	dropAfter int    // drop the first CDN response after this many bytes (0: never)
	corrupt   string // serve this file with a flipped byte
	mu        sync.Mutex
	ranges    []string // Range headers seen at the CDN
	dropped   int
}

func (h *fakeHub) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	const repo = "/microsoft/git-large-vqav2"
	switch {
	case r.URL.Path == "/api/models/microsoft/git-large-vqav2/tree/main":
		if !h.listing {
			http.Error(w, "rate limited", http.StatusTooManyRequests)
			return
		}
		var list []map[string]any
		for name, data := range h.files {
			e := map[string]any{"type": "file", "path": name, "size": len(data)}
			if h.lfs[name] {
				sum := sha256.Sum256(data)
				e["lfs"] = map[string]any{"oid": hex.EncodeToString(sum[:]), "size": len(data), "pointerSize": 134}
				e["size"] = 134
			}
			list = append(list, e)
		}
		json.NewEncoder(w).Encode(list)
	case strings.HasPrefix(r.URL.Path, repo+"/resolve/main/"):
		name := strings.TrimPrefix(r.URL.Path, repo+"/resolve/main/")
		data, ok := h.files[name]
		if !ok {
			http.Error(w, "Entry not found", http.StatusNotFound)
			return
		}
		if h.lfs[name] {
			sum := sha256.Sum256(data)
			w.Header().Set("X-Linked-Etag", `"`+hex.EncodeToString(sum[:])+`"`)
			http.Redirect(w, r, "/cdn/"+name, http.StatusFound)
			return
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	case strings.HasPrefix(r.URL.Path, "/cdn/"):
		name := strings.TrimPrefix(r.URL.Path, "/cdn/")
		data := h.files[name]
		if name == h.corrupt {
			data = append([]byte(nil), data...)
			data[len(data)/3] ^= 0xff
		}
		h.mu.Lock()
		h.ranges = append(h.ranges, r.Header.Get("Range"))
		drop := h.dropAfter > 0 && h.dropped == 0
		if drop {
			h.dropped++
		}
		h.mu.Unlock()
		if drop {
			// Promise the whole file, send part of it, then cut the connection.
			w.Header().Set("Content-Length", fmt.Sprint(len(data)))
			w.WriteHeader(http.StatusOK)
			w.Write(data[:h.dropAfter])
			w.(http.Flusher).Flush()
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(data))
	default:
		http.NotFound(w, r)
	}
}

func newHub(weights string) *fakeHub {
	big := make([]byte, 3<<20)
	for i := range big {
		big[i] = byte(i*31 + i/1000)
	}
	return &fakeHub{
		files: map[string][]byte{
			"config.json":              []byte(`{"model_type":"git"}`),
			"preprocessor_config.json": []byte(`{"size":420}`),
			"vocab.txt":                []byte("[PAD]\n[UNK]\n"),
			weights:                    big,
		},
		lfs:     map[string]bool{weights: true},
		listing: true,
	}
}

func fetcher(srv *httptest.Server) *Fetcher {
	return &Fetcher{Endpoint: srv.URL, Repo: "microsoft/git-large-vqav2", Revision: "main", Retries: 3, Backoff: time.Millisecond}
}

func TestResumesAfterDroppedConnection(t *testing.T) {
	hub := newHub("model.safetensors")
	hub.dropAfter = 1<<20 + 123
	srv := httptest.NewServer(hub)
	defer srv.Close()
	dir := t.TempDir()
	if err := fetcher(srv).Checkpoint(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	for name, want := range hub.files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %v (%d bytes, want %d)", name, err, len(got), len(want))
		}
	}
	if len(hub.ranges) != 2 || hub.ranges[0] != "" || hub.ranges[1] != fmt.Sprintf("bytes=%d-", hub.dropAfter) {
		t.Fatalf("CDN saw ranges %q: the second request should resume where the first broke", hub.ranges)
	}
	if _, err := os.Stat(filepath.Join(dir, ".model.safetensors.part")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("partial file left behind")
	}
	// A second run finds everything in place and downloads nothing.
	hub.ranges = nil
	if err := fetcher(srv).Checkpoint(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	if len(hub.ranges) != 0 {
		t.Fatalf("re-downloaded: %q", hub.ranges)
	}
}

// Without the tree listing, the size comes from the response and the hash from the
// X-Linked-Etag header, and a partial file from an earlier run is resumed.
func TestResumesEarlierPartialWithoutListing(t *testing.T) {
	hub := newHub("model.safetensors")
	hub.listing = false
	srv := httptest.NewServer(hub)
	defer srv.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, ".model.safetensors.part"), hub.files["model.safetensors"][:5000], 0o644)
	if err := fetcher(srv).Checkpoint(context.Background(), dir); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(filepath.Join(dir, "model.safetensors"))
	if !bytes.Equal(got, hub.files["model.safetensors"]) {
		t.Fatal("content differs")
	}
	if len(hub.ranges) != 1 || hub.ranges[0] != "bytes=5000-" {
		t.Fatalf("ranges %q", hub.ranges)
	}
}

func TestFallsBackToPytorchBin(t *testing.T) {
	for _, listing := range []bool{true, false} {
		hub := newHub("pytorch_model.bin")
		hub.listing = listing
		srv := httptest.NewServer(hub)
		dir := t.TempDir()
		if err := fetcher(srv).Checkpoint(context.Background(), dir); err != nil {
			t.Fatal(err)
		}
		srv.Close()
		if _, err := os.Stat(filepath.Join(dir, "pytorch_model.bin")); err != nil {
			t.Fatalf("listing=%v: %v", listing, err)
		}
	}
}

func TestRefusesCorruptDownload(t *testing.T) {
	hub := newHub("model.safetensors")
	hub.corrupt = "model.safetensors"
	srv := httptest.NewServer(hub)
	defer srv.Close()
	dir := t.TempDir()
	err := fetcher(srv).Checkpoint(context.Background(), dir)
	if err == nil || !strings.Contains(err.Error(), "sha256") {
		t.Fatalf("corrupt file: %v", err)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), "model.safetensors") {
			t.Fatalf("%s kept after a failed check", e.Name())
		}
	}
}

func TestGivesUpOnDeadServer(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "down", http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	err := fetcher(srv).Checkpoint(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "giving up") {
		t.Fatalf("%v", err)
	}
}
