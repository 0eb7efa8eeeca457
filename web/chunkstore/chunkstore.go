//go:build js && wasm

// Package chunkstore keeps model files in IndexedDB so a second visit starts offline:
// one record per verified chunk keyed by its sha256, and one record per model keyed by
// its manifest URL. This package is the schema's only owner: the page lists, deletes
// and clears models by asking a worker (GitVQA.cache.*), which answers from here.
package chunkstore

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"strings"
	"syscall/js"
	"time"

	"github.com/hack-pad/go-indexeddb/idb"
	"github.com/hack-pad/safejs"

	"gitvqa/model/modelfile"
	"gitvqa/web/download"
	"gitvqa/web/jsutil"
)

// The schema.
const (
	DBName    = "gitvqa"
	DBVersion = 1
	// Chunks: key sha256 hex; value {data: Blob, crc32c: number}, the CRC-32C of data
	// computed from the verified bytes when stored; data is a Uint8Array where the
	// browser will not store Blobs (WebKit's private and automation sessions). Caches
	// written before hold a bare Blob or Uint8Array: still read, checked by their sha256
	// instead.
	Chunks = "chunks"
	Models = "models" // key: manifest URL; value: ModelRecord as an object
)

// ErrQuota is returned when the browser refuses to store more.
var ErrQuota = errors.New("browser storage is full (quota exceeded)")

// Store is an open database.
type Store struct {
	db *idb.Database
	// noBlobs is set once the browser refused a Blob value: chunks are stored as bytes
	// from then on.
	noBlobs bool
}

// Open opens (creating if needed) the database. It fails where IndexedDB is missing
// or disabled (some private windows): callers then run from memory.
func Open(ctx context.Context) (s *Store, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("IndexedDB is not available: %v", r)
		}
	}()
	req, err := idb.Global().Open(ctx, DBName, DBVersion, func(db *idb.Database, oldVersion, _ uint) error {
		if oldVersion < 1 {
			if _, err := db.CreateObjectStore(Chunks, idb.ObjectStoreOptions{}); err != nil {
				return err
			}
			if _, err := db.CreateObjectStore(Models, idb.ObjectStoreOptions{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("opening IndexedDB: %w", err)
	}
	db, err := req.Await(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening IndexedDB: %w", err)
	}
	return &Store{db: db}, nil
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, idb.NewDOMException("QuotaExceededError")) || jsutil.IsQuota(err) {
		return fmt.Errorf("%w: %v", ErrQuota, err)
	}
	return err
}

func (s *Store) store(mode idb.TransactionMode, name string) (*idb.Transaction, *idb.ObjectStore, error) {
	txn, err := s.db.Transaction(mode, name)
	if err != nil {
		return nil, nil, mapErr(err)
	}
	st, err := txn.ObjectStore(name)
	return txn, st, mapErr(err)
}

// Chunk returns the stored copy of ref, or ok false (fetch it again) when it is missing
// or does not match: a chunk's SHA-256 is checked once, when it is downloaded, and its
// CRC-32C stored beside it; every read checks that CRC on the very bytes Go will run
// (≈2 GB/s in wasm, where a second SHA-256 over 0.4 GB cost half a second of start-up).
// CRC-32C catches every burst of up to 32 flipped bits and all but 1 in 4 billion
// other damage; a page script that rewrites the store on purpose could rewrite a hash
// too. Chunks are Blobs, which IndexedDB reads about three times faster than
// ArrayBuffer values.
func (s *Store) Chunk(ctx context.Context, ref modelfile.FileRef) (data []byte, ok bool, err error) {
	_, st, err := s.store(idb.TransactionReadOnly, Chunks)
	if err != nil {
		return nil, false, err
	}
	req, err := st.Get(js.ValueOf(ref.SHA256))
	if err != nil {
		return nil, false, mapErr(err)
	}
	v, err := req.Await(ctx)
	if err != nil {
		return nil, false, mapErr(err)
	}
	if v.IsUndefined() || v.IsNull() {
		return nil, false, nil
	}
	buf := safejs.Safe(v)
	crc := -1.0 // a record written before the CRC was kept
	if data, _ := buf.Get("data"); !data.IsUndefined() {
		if c, _ := buf.Get("crc32c"); c.Type() == safejs.TypeNumber {
			crc, _ = c.Float()
		}
		buf = data
	}
	if ok, _ := buf.InstanceOf(global("Blob")); ok {
		p, err := buf.Call("arrayBuffer")
		if err != nil {
			return nil, false, err
		}
		if buf, err = jsutil.Await(ctx, p); err != nil {
			return nil, false, err
		}
	}
	n, _ := buf.Get("byteLength")
	if size, _ := n.Int(); int64(size) != ref.Bytes {
		return nil, false, nil // truncated in storage
	}
	if crc < 0 {
		sum, err := jsutil.SHA256(ctx, buf)
		if err != nil {
			return nil, false, err
		}
		if modelfile.VerifySum(ref, int(ref.Bytes), sum) != nil {
			return nil, false, nil // damaged in storage
		}
	}
	if data, err = jsutil.Bytes(buf); err != nil {
		return nil, false, err
	}
	if crc >= 0 && float64(CRC(data)) != crc {
		return nil, false, nil // damaged in storage
	}
	return data, true, nil
}

// CRC is the check a stored chunk keeps: CRC-32C (Castagnoli).
func CRC(data []byte) uint32 { return crc32.Checksum(data, castagnoli) }

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func global(name string) safejs.Value {
	v, _ := safejs.Global().Get(name)
	return v
}

// PutChunk stores a chunk, as a Blob. The caller must have verified data against ref:
// only verified chunks enter the store.
func (s *Store) PutChunk(ctx context.Context, ref modelfile.FileRef, data []byte) error {
	u8, err := jsutil.Uint8Array(data)
	if err != nil {
		return err
	}
	return s.putBlob(ctx, ref, u8, CRC(data))
}

func (s *Store) putBlob(ctx context.Context, ref modelfile.FileRef, u8 safejs.Value, crc uint32) error {
	if !s.noBlobs {
		arr, _ := global("Array").New()
		arr.Call("push", u8)
		blob, err := global("Blob").New(arr)
		if err != nil {
			return err
		}
		err = s.putRecord(ctx, ref, blob, crc)
		if err == nil || errors.Is(err, ErrQuota) || !refusesBlobs(err) {
			return err
		}
		s.noBlobs = true
	}
	return s.putRecord(ctx, ref, u8, crc)
}

// refusesBlobs says whether a failed write was the browser refusing a Blob value
// (WebKit without persistent storage: "UnknownError: Error preparing Blob/File data to
// be stored in object store"), which it stores as bytes.
func refusesBlobs(err error) bool {
	return strings.Contains(err.Error(), "Blob") || errors.Is(err, idb.NewDOMException("DataCloneError"))
}

func (s *Store) putRecord(ctx context.Context, ref modelfile.FileRef, data safejs.Value, crc uint32) error {
	rec, _ := global("Object").New()
	rec.Set("data", data)
	rec.Set("crc32c", float64(crc))
	txn, st, err := s.store(idb.TransactionReadWrite, Chunks)
	if err != nil {
		return err
	}
	if _, err := st.PutKey(js.ValueOf(ref.SHA256), safejs.Unsafe(rec)); err != nil {
		return mapErr(err)
	}
	return mapErr(txn.Await(ctx))
}

// Verify implements download.HashingStore: one copy of the bytes into JavaScript is
// hashed by WebCrypto and, if it matches, is what store writes (with a CRC-32C of the
// verified bytes, for reads).
func (s *Store) Verify(ctx context.Context, ref modelfile.FileRef, data []byte) (store func(context.Context) error, mismatch, err error) {
	u8, err := jsutil.Uint8Array(data)
	if err != nil {
		return nil, nil, err
	}
	sum, err := jsutil.SHA256(ctx, u8)
	if err != nil {
		return nil, nil, err
	}
	if err := modelfile.VerifySum(ref, len(data), sum); err != nil {
		return nil, err, nil
	}
	crc := CRC(data)
	return func(ctx context.Context) error { return s.putBlob(ctx, ref, u8, crc) }, nil, nil
}

// Hash is download.Loader.Hash: WebCrypto's SHA-256.
func Hash(ctx context.Context, data []byte) ([32]byte, error) { return jsutil.SHA256Of(ctx, data) }

// ModelRecord describes a cached model.
type ModelRecord = download.ModelRecord

var _ download.Cache = (*Store)(nil)

// PutModel stores or replaces a model record.
func (s *Store) PutModel(ctx context.Context, r ModelRecord) error {
	obj := js.Global().Get("Object").New()
	obj.Set("url", r.URL)
	obj.Set("manifest", string(r.Manifest))
	obj.Set("bytes", float64(r.Bytes))
	obj.Set("complete", r.Complete)
	obj.Set("updated", float64(r.Updated.UnixMilli()))
	txn, st, err := s.store(idb.TransactionReadWrite, Models)
	if err != nil {
		return err
	}
	if _, err := st.PutKey(js.ValueOf(r.URL), obj); err != nil {
		return mapErr(err)
	}
	return mapErr(txn.Await(ctx))
}

// Model returns the record for a manifest URL; ok is false when there is none.
func (s *Store) Model(ctx context.Context, url string) (r ModelRecord, ok bool, err error) {
	_, st, err := s.store(idb.TransactionReadOnly, Models)
	if err != nil {
		return r, false, err
	}
	req, err := st.Get(js.ValueOf(url))
	if err != nil {
		return r, false, mapErr(err)
	}
	v, err := req.Await(ctx)
	if err != nil || v.IsUndefined() || v.IsNull() {
		return r, false, mapErr(err)
	}
	return recordOf(v), true, nil
}

func recordOf(v js.Value) ModelRecord {
	return ModelRecord{
		URL:      v.Get("url").String(),
		Manifest: []byte(v.Get("manifest").String()),
		Bytes:    int64(v.Get("bytes").Float()),
		Complete: v.Get("complete").Truthy(),
		Updated:  time.UnixMilli(int64(v.Get("updated").Float())),
	}
}

// Models lists the cached models.
func (s *Store) Models(ctx context.Context) ([]ModelRecord, error) {
	_, st, err := s.store(idb.TransactionReadOnly, Models)
	if err != nil {
		return nil, err
	}
	req, err := st.OpenCursor(idb.CursorNext)
	if err != nil {
		return nil, mapErr(err)
	}
	var out []ModelRecord
	err = req.Iter(ctx, func(c *idb.CursorWithValue) error {
		v, err := c.Value()
		if err != nil {
			return err
		}
		out = append(out, recordOf(v))
		return nil
	})
	return out, mapErr(err)
}

// Missing returns those of shas the store holds no chunk for.
func (s *Store) Missing(ctx context.Context, shas []string) ([]string, error) {
	_, st, err := s.store(idb.TransactionReadOnly, Chunks)
	if err != nil {
		return nil, err
	}
	req, err := st.GetAllKeys()
	if err != nil {
		return nil, mapErr(err)
	}
	keys, err := req.Await(ctx)
	if err != nil {
		return nil, mapErr(err)
	}
	have := make(map[string]bool, len(keys))
	for _, k := range keys {
		have[k.String()] = true
	}
	var out []string
	for _, sha := range shas {
		if !have[sha] {
			out = append(out, sha)
		}
	}
	return out, nil
}

// DeleteModel removes a model's record and the files no other cached model lists; ok
// is false when the model was not cached.
func (s *Store) DeleteModel(ctx context.Context, url string) (ok bool, err error) {
	all, err := s.Models(ctx)
	if err != nil {
		return false, err
	}
	keep := map[string]bool{}
	var files []string
	for _, r := range all {
		m, err := modelfile.Parse(r.Manifest)
		if err != nil {
			continue // an unreadable record keeps nothing alive
		}
		refs := append([]string{m.Tokenizer.SHA256}, shas(m.Chunks)...)
		if r.URL == url {
			ok, files = true, refs
		} else {
			for _, k := range refs {
				keep[k] = true
			}
		}
	}
	if !ok {
		return false, nil
	}
	// One transaction over both stores, its requests issued without waiting in between:
	// the record and its files go together or not at all.
	txn, err := s.db.Transaction(idb.TransactionReadWrite, Models, Chunks)
	if err != nil {
		return false, mapErr(err)
	}
	models, err := txn.ObjectStore(Models)
	if err != nil {
		return false, mapErr(err)
	}
	chunks, err := txn.ObjectStore(Chunks)
	if err != nil {
		return false, mapErr(err)
	}
	if _, err := models.Delete(js.ValueOf(url)); err != nil {
		return false, mapErr(err)
	}
	for _, k := range files {
		if !keep[k] {
			if _, err := chunks.Delete(js.ValueOf(k)); err != nil {
				return false, mapErr(err)
			}
		}
	}
	return true, mapErr(txn.Await(ctx))
}

func shas(refs []modelfile.FileRef) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.SHA256
	}
	return out
}

// Clear removes every model and chunk.
func (s *Store) Clear(ctx context.Context) error {
	for _, name := range []string{Chunks, Models} {
		txn, st, err := s.store(idb.TransactionReadWrite, name)
		if err != nil {
			return err
		}
		if _, err := st.Clear(); err != nil {
			return mapErr(err)
		}
		if err := txn.Await(ctx); err != nil {
			return mapErr(err)
		}
	}
	return nil
}

// FreeSpace asks navigator.storage.estimate() how much more the origin may store.
func FreeSpace(ctx context.Context) (int64, error) {
	nav, err := safejs.Global().Get("navigator")
	if err != nil {
		return 0, err
	}
	storage, err := nav.Get("storage")
	if err != nil || storage.IsUndefined() {
		return 0, fmt.Errorf("navigator.storage is not available")
	}
	p, err := storage.Call("estimate")
	if err != nil {
		return 0, err
	}
	est, err := jsutil.Await(ctx, p)
	if err != nil {
		return 0, err
	}
	quota, _ := est.Get("quota")
	usage, _ := est.Get("usage")
	q, _ := quota.Float()
	u, _ := usage.Float()
	return int64(q - u), nil
}
