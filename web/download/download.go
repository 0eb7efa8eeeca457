// Package download gets a model folder into memory for the browser worker: the
// manifest, then every file it lists, each verified against its sha256 before use and
// before it is stored, from the store (IndexedDB) when it is there, from the network
// otherwise, a few at a time, with retries. A broken download can never poison the
// store, and an interrupted one resumes at the first missing chunk.
//
// It uses only net/http (the Fetch API under js/wasm) and a Store interface, so it is
// tested natively and in the browser alike.
package download

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gitvqa/model/modelfile"
)

// Store keeps verified files by sha256 (IndexedDB in the browser).
type Store interface {
	// Chunk returns the stored copy of ref, checked against its size and the check
	// kept with it (the browser's store: a CRC-32C of the verified bytes; a bit flipped
	// in storage is caught so); ok is false when there is none or it is damaged.
	Chunk(ctx context.Context, ref modelfile.FileRef) (data []byte, ok bool, err error)
	// PutChunk stores a file already verified against ref.
	PutChunk(ctx context.Context, ref modelfile.FileRef, data []byte) error
}

// ModelRecord is what a Cache keeps of a model besides its files.
type ModelRecord struct {
	URL      string // the manifest's URL
	Manifest []byte // manifest.json as fetched
	Bytes    int64  // what its files weigh
	Complete bool   // every file stored
	Updated  time.Time
}

// Cache is a Store that also remembers manifests, so a model loads offline.
type Cache interface {
	Store
	Model(ctx context.Context, url string) (ModelRecord, bool, error)
	PutModel(ctx context.Context, r ModelRecord) error
}

// Progress of getting a model's files: bytes done out of the manifest's total.
type Progress struct {
	Phase     string // "download" once any byte came from the network, else "verify"
	Loaded    int64  // bytes verified (or arriving) so far
	Total     int64
	FromCache int64 // bytes of Loaded that came from the store
}

// Loader fetches the files of one model folder.
type Loader struct {
	ManifestURL string
	Client      *http.Client // nil: http.DefaultClient
	Store       Store        // nil: memory only
	Parallel    int          // files in flight (default 6)
	Retries     int          // further attempts per file (default 4)
	Backoff     time.Duration
	// Stall is how long a request may go without a byte before it is abandoned and
	// retried (default 20 s): a connection that stays open and sends nothing.
	Stall time.Duration
	// Hash, when set, computes a download's sha256 (in the browser, WebCrypto: Go's
	// own runs at ≈120 MB/s in wasm). nil: crypto/sha256.
	Hash func(ctx context.Context, data []byte) ([32]byte, error)
	// Absent, when set, lists files known not to be stored (from one look at the store's
	// keys): they are not looked up one by one.
	Absent     map[string]bool
	OnProgress func(Progress)
	// OnStoreError hears once when storing fails (quota): loading goes on from memory.
	OnStoreError func(error)

	// Busy adds up the time spent in each activity ("read storage", "verify",
	// "network", "store"), concurrent ones each counted in full.
	Busy Busy

	base       *url.URL
	writes     chan struct{} // pending stores (storeBehind)
	writesOnce sync.Once
	pending    sync.WaitGroup
	storeOff   atomic.Bool
	storeErr   sync.Once
	loaded     atomic.Int64
	fromCache  atomic.Int64
	downloaded atomic.Bool
	total      int64
	lastReport atomic.Int64
}

// Busy is time spent by activity.
type Busy struct {
	mu sync.Mutex
	by map[string]time.Duration
}

// Add adds d to what.
func (b *Busy) Add(what string, d time.Duration) {
	b.mu.Lock()
	if b.by == nil {
		b.by = map[string]time.Duration{}
	}
	b.by[what] += d
	b.mu.Unlock()
}

// Since adds the time since start to what.
func (b *Busy) Since(what string, start time.Time) { b.Add(what, time.Since(start)) }

// Get returns what's total.
func (b *Busy) Get(what string) time.Duration {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.by[what]
}

// ErrOffline is wrapped by Manifest errors when neither the network nor the store
// has the manifest.
var ErrOffline = errors.New("model not reachable and not cached")

func (l *Loader) client() *http.Client {
	if l.Client != nil {
		return l.Client
	}
	return http.DefaultClient
}

// Manifest fetches and validates the manifest. When the network fails, cached (the
// stored copy, passed by the caller) is used instead, after one try, and offline is
// true; without a cached copy the fetch is retried like a chunk's.
func (l *Loader) Manifest(ctx context.Context, cached []byte) (m *modelfile.Manifest, raw []byte, offline bool, err error) {
	if l.base, err = url.Parse(l.ManifestURL); err != nil {
		return nil, nil, false, fmt.Errorf("model URL %q: %w", l.ManifestURL, err)
	}
	retries := l.retries()
	if cached != nil {
		retries = 0
	}
	raw, netErr := l.retry(ctx, retries, func(int) ([]byte, error) {
		return l.get(ctx, l.ManifestURL, modelfile.MaxManifestBytes, -1, nil)
	})
	if netErr != nil {
		if cached == nil || errors.Is(netErr, ErrNotModel) {
			return nil, nil, false, fmt.Errorf("%w: %w", ErrOffline, netErr)
		}
		raw, offline = cached, true
	}
	if m, err = modelfile.Parse(raw); err != nil {
		return nil, nil, offline, err
	}
	l.total = m.TotalBytes
	return m, raw, offline, nil
}

// ErrNotModel is wrapped when the server sends a web page where a model file belongs
// (a static host's catch-all page for a missing file, say): retrying cannot help.
var ErrNotModel = errors.New("the server sent a web page, not a model file")

var errStalled = errors.New("stalled")

func (l *Loader) stall() time.Duration {
	if l.Stall > 0 {
		return l.Stall
	}
	return 20 * time.Second
}

// get fetches u: at most limit bytes, exactly want unless want < 0. A request that
// goes Stall without a byte (headers included) is abandoned. onBytes hears of the bytes
// as they arrive; a failed get takes them back by calling it with the negative count.
func (l *Loader) get(ctx context.Context, u string, limit, want int64, onBytes func(int64)) ([]byte, error) {
	if onBytes == nil {
		onBytes = func(int64) {}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stall := l.stall()
	var body atomic.Pointer[io.ReadCloser]
	watchdog := time.AfterFunc(stall, func() {
		cancel(errStalled)
		// Cancelling the request does not stop a body being read in the browser (Go's
		// fetch transport watches the context only until the headers arrive): closing the
		// body does.
		if b := body.Load(); b != nil {
			(*b).Close()
		}
	})
	defer watchdog.Stop()
	var data []byte
	fail := func(err error) ([]byte, error) {
		onBytes(-int64(len(data)))
		if errors.Is(context.Cause(ctx), errStalled) {
			err = fmt.Errorf("%s: no data for %v after %d bytes (the connection stalled)", u, stall, len(data))
		}
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.client().Do(req)
	if err != nil {
		return fail(err)
	}
	body.Store(&resp.Body)
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fail(fmt.Errorf("%s: %s", u, resp.Status))
	}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		return fail(fmt.Errorf("%s: %w (is the model folder at this address?)", u, ErrNotModel))
	}
	if want >= 0 {
		data = make([]byte, 0, want)
	}
	buf := make([]byte, 256<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			watchdog.Reset(stall)
			if int64(len(data)+n) > limit {
				return fail(fmt.Errorf("%s: more than the %d bytes expected", u, limit))
			}
			data = append(data, buf[:n]...)
			onBytes(int64(n))
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return fail(fmt.Errorf("%s: connection lost after %d bytes: %w", u, len(data), err))
		}
	}
	if want < 0 && errors.Is(context.Cause(ctx), errStalled) {
		return fail(nil) // the body was closed under the read: its end is not the file's
	}
	if want >= 0 && int64(len(data)) != want {
		return fail(fmt.Errorf("%s: connection closed after %d of %d bytes", u, len(data), want))
	}
	return data, nil
}

func (l *Loader) retries() int {
	if l.Retries == 0 {
		return 4
	}
	return l.Retries
}

// retry runs f until it succeeds, at most 1+retries times, waiting longer before each
// retry; a web page where a model file belongs is not retried.
func (l *Loader) retry(ctx context.Context, retries int, f func(attempt int) ([]byte, error)) ([]byte, error) {
	backoff := l.Backoff
	if backoff == 0 {
		backoff = 500 * time.Millisecond
	}
	var lastErr error
	for attempt := 0; attempt <= retries; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return nil, ctx.Err()
			}
			backoff = min(2*backoff, 10*time.Second)
		}
		data, err := f(attempt)
		if err == nil {
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, ErrNotModel) {
			return nil, err
		}
		lastErr = err
	}
	if retries == 0 {
		return nil, lastErr
	}
	return nil, fmt.Errorf("giving up after %d attempts: %w", retries+1, lastErr)
}

// StoreEnabled reports whether files are still being stored.
func (l *Loader) StoreEnabled() bool { return l.Store != nil && !l.storeOff.Load() }

// Source returns the manifest's files in the order modelfile.Load asks for them,
// fetching ahead in parallel.
func (l *Loader) Source(ctx context.Context, m *modelfile.Manifest) *Source {
	if l.base == nil {
		l.base, _ = url.Parse(l.ManifestURL)
	}
	l.total = m.TotalBytes
	refs := append([]modelfile.FileRef{m.Tokenizer}, m.Chunks...)
	s := &Source{l: l, refs: refs, results: make([]chan result, len(refs))}
	for i := range refs {
		s.results[i] = make(chan result, 1)
	}
	parallel := l.Parallel
	if parallel <= 0 {
		parallel = 6
	}
	// A window keeps memory bounded: at most parallel+1 files wait to be consumed.
	s.window = make(chan struct{}, parallel+1)
	s.ctx, s.cancel = context.WithCancel(ctx)
	s.running.Add(1)
	go func() {
		defer s.running.Done()
		sem := make(chan struct{}, parallel)
		for i, r := range refs {
			select {
			case s.window <- struct{}{}:
			case <-s.ctx.Done():
				s.results[i] <- result{err: s.ctx.Err()}
				continue
			}
			sem <- struct{}{}
			s.running.Add(1)
			go func(i int, r modelfile.FileRef) {
				defer func() { <-sem; s.running.Done() }()
				data, err := l.file(s.ctx, r)
				s.results[i] <- result{data, err}
			}(i, r)
		}
	}()
	return s
}

type result struct {
	data []byte
	err  error
}

// Source is a modelfile.ChunkSource over a Loader. modelfile.Load asks for the
// tokenizer, then the chunks in order; Source hands them over in that order.
type Source struct {
	l       *Loader
	refs    []modelfile.FileRef
	next    int
	results []chan result
	window  chan struct{}
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup // the fetches, and what starts them
}

// Fetch implements modelfile.ChunkSource.
func (s *Source) Fetch(ctx context.Context, ref modelfile.FileRef) ([]byte, error) {
	i := s.next
	if i >= len(s.refs) || s.refs[i].SHA256 != ref.SHA256 {
		return nil, fmt.Errorf("%s asked for out of the manifest's order", ref.File)
	}
	s.next++
	select {
	case r := <-s.results[i]:
		<-s.window
		if r.err != nil {
			s.cancel()
		}
		return r.data, r.err
	case <-ctx.Done():
		s.cancel()
		return nil, ctx.Err()
	}
}

// VerifiesFiles tells modelfile.Load that every file was checked here.
func (s *Source) VerifiesFiles() bool { return true }

// Close stops fetching ahead and waits for the fetches in flight to end (their files
// may still be being stored: Loader.WaitStored).
func (s *Source) Close() {
	s.cancel()
	s.running.Wait()
}

// file returns one verified file: from the store if it holds a good copy, else from
// the network (storing it once verified).
func (l *Loader) file(ctx context.Context, ref modelfile.FileRef) ([]byte, error) {
	if l.Store != nil && !l.Absent[ref.SHA256] {
		start := time.Now()
		data, ok, err := l.Store.Chunk(ctx, ref)
		l.Busy.Since("read storage", start)
		if err == nil && ok {
			l.fromCache.Add(ref.Bytes)
			l.loaded.Add(ref.Bytes)
			l.report(true)
			return data, nil
		}
		// Missing, unreadable or damaged in storage: fetch it again.
	}
	data, err := l.retry(ctx, l.retries(), func(attempt int) ([]byte, error) {
		start := time.Now()
		data, err := l.fetchOnce(ctx, ref, attempt)
		l.Busy.Since("network", start)
		if err == nil {
			if err = l.verifyAndStore(ctx, ref, data); err != nil {
				l.loaded.Add(-ref.Bytes) // its bytes were counted as they arrived
			}
		}
		return data, err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ref.File, err)
	}
	l.report(true)
	return data, nil
}

// HashingStore is a Store that can check a download and store it from one copy (the
// browser's: one copy of the bytes into JavaScript serves WebCrypto and IndexedDB).
type HashingStore interface {
	Store
	// Verify checks data against ref: mismatch when it does not match, err when it
	// could not check (then nothing is stored). When it matches, store writes that
	// same copy.
	Verify(ctx context.Context, ref modelfile.FileRef, data []byte) (store func(context.Context) error, mismatch, err error)
}

// verifyAndStore checks a download against ref and, when storing is on, stores it
// behind the load: the next files download and the model builds while it is written
// (WaitStored waits for the writes). At most Parallel writes are pending, each holding
// a copy in JavaScript.
func (l *Loader) verifyAndStore(ctx context.Context, ref modelfile.FileRef, data []byte) error {
	if hs, ok := l.Store.(HashingStore); ok && l.StoreEnabled() && int64(len(data)) == ref.Bytes {
		start := time.Now()
		store, mismatch, err := hs.Verify(ctx, ref, data)
		l.Busy.Since("verify", start)
		if mismatch != nil {
			return mismatch
		}
		if err == nil {
			l.storeBehind(ctx, store)
			return nil
		}
		// The browser could not hash it: Go does, and the store copies it again.
	}
	if err := l.verify(ctx, ref, data); err != nil {
		return err
	}
	l.put(ctx, ref, data)
	return nil
}

func (l *Loader) storeBehind(ctx context.Context, store func(context.Context) error) {
	l.writesOnce.Do(func() { l.writes = make(chan struct{}, cmp.Or(l.Parallel, 6)) })
	l.writes <- struct{}{}
	l.pending.Add(1)
	go func() {
		defer func() { <-l.writes; l.pending.Done() }()
		start := time.Now()
		// A verified file is worth keeping even when the load stops fetching.
		if err := store(context.WithoutCancel(ctx)); err != nil {
			l.storeFailed(err)
		}
		l.Busy.Since("store", start)
	}()
}

// WaitStored waits until every file verified is written (or failed to be). Call it
// after the Source is closed.
func (l *Loader) WaitStored() { l.pending.Wait() }

func (l *Loader) fetchOnce(ctx context.Context, ref modelfile.FileRef, attempt int) ([]byte, error) {
	rel := &url.URL{Path: ref.File}
	if attempt > 0 {
		// Chunks are served as immutable, so a bad copy may sit in the HTTP cache (or a
		// CDN's): a retry asks for a URL no cache has seen.
		rel.RawQuery = fmt.Sprintf("attempt=%d", attempt)
	}
	u := l.base.ResolveReference(rel).String()
	l.downloaded.Store(true)
	return l.get(ctx, u, ref.Bytes, ref.Bytes, func(n int64) {
		l.loaded.Add(n)
		if n > 0 {
			l.report(false)
		}
	})
}

func (l *Loader) verify(ctx context.Context, ref modelfile.FileRef, data []byte) error {
	defer l.Busy.Since("verify", time.Now())
	if l.Hash == nil || int64(len(data)) != ref.Bytes {
		return modelfile.Verify(ref, data)
	}
	sum, err := l.Hash(ctx, data)
	if err != nil {
		return err
	}
	return modelfile.VerifySum(ref, len(data), sum)
}

func (l *Loader) put(ctx context.Context, ref modelfile.FileRef, data []byte) {
	defer l.Busy.Since("store", time.Now())
	if !l.StoreEnabled() {
		return
	}
	if err := l.Store.PutChunk(ctx, ref, data); err != nil {
		l.storeFailed(err)
	}
}

// storeFailed turns storing off and tells OnStoreError, once.
func (l *Loader) storeFailed(err error) {
	l.storeOff.Store(true)
	l.storeErr.Do(func() {
		if l.OnStoreError != nil {
			l.OnStoreError(err)
		}
	})
}

// report sends progress, at most every 100 ms unless force.
func (l *Loader) report(force bool) {
	if l.OnProgress == nil {
		return
	}
	now := time.Now().UnixMilli()
	if !force && now-l.lastReport.Load() < 100 {
		return
	}
	l.lastReport.Store(now)
	phase := "verify"
	if l.downloaded.Load() {
		phase = "download"
	}
	l.OnProgress(Progress{Phase: phase, Loaded: l.loaded.Load(), Total: l.total, FromCache: l.fromCache.Load()})
}
