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
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"gitvqa/model/modelfile"
)

// Store keeps verified files by sha256 (IndexedDB in the browser).
type Store interface {
	Chunk(ctx context.Context, sha string) ([]byte, bool, error)
	PutChunk(ctx context.Context, sha string, data []byte) error
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
	Parallel    int          // files in flight (default 3)
	Retries     int          // further attempts per file (default 4)
	Backoff     time.Duration
	OnProgress  func(Progress)
	// OnStoreError hears once when storing fails (quota): loading goes on from memory.
	OnStoreError func(error)

	base       *url.URL
	storeOff   atomic.Bool
	storeErr   sync.Once
	loaded     atomic.Int64
	fromCache  atomic.Int64
	downloaded atomic.Bool
	total      int64
	lastReport atomic.Int64
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
// stored copy, passed by the caller) is used instead and offline is true.
func (l *Loader) Manifest(ctx context.Context, cached []byte) (m *modelfile.Manifest, raw []byte, offline bool, err error) {
	if l.base, err = url.Parse(l.ManifestURL); err != nil {
		return nil, nil, false, fmt.Errorf("model URL %q: %w", l.ManifestURL, err)
	}
	raw, netErr := l.get(ctx, l.ManifestURL, 16<<20)
	if netErr != nil {
		if cached == nil {
			return nil, nil, false, fmt.Errorf("%w: %v", ErrOffline, netErr)
		}
		raw, offline = cached, true
	}
	if m, err = modelfile.Parse(raw); err != nil {
		return nil, nil, offline, err
	}
	l.total = m.TotalBytes
	return m, raw, offline, nil
}

func (l *Loader) get(ctx context.Context, u string, limit int64) ([]byte, error) {
	body, err := l.open(ctx, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	return io.ReadAll(io.LimitReader(body, limit))
}

// open starts a GET and returns its body, or an error naming the URL unless the
// server answered 200.
func (l *Loader) open(ctx context.Context, u string) (io.ReadCloser, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := l.client().Do(req)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		resp.Body.Close()
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	return resp.Body, nil
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
		parallel = 3
	}
	// A window keeps memory bounded: at most parallel+1 files wait to be consumed.
	s.window = make(chan struct{}, parallel+1)
	s.ctx, s.cancel = context.WithCancel(ctx)
	go func() {
		sem := make(chan struct{}, parallel)
		for i, r := range refs {
			select {
			case s.window <- struct{}{}:
			case <-s.ctx.Done():
				s.results[i] <- result{err: s.ctx.Err()}
				continue
			}
			sem <- struct{}{}
			go func(i int, r modelfile.FileRef) {
				defer func() { <-sem }()
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

// Close stops fetching ahead.
func (s *Source) Close() { s.cancel() }

// file returns one verified file: from the store if it holds a good copy, else from
// the network (storing it once verified).
func (l *Loader) file(ctx context.Context, ref modelfile.FileRef) ([]byte, error) {
	if l.Store != nil {
		data, ok, err := l.Store.Chunk(ctx, ref.SHA256)
		if err == nil && ok && modelfile.Verify(ref, data) == nil {
			l.fromCache.Add(ref.Bytes)
			l.loaded.Add(ref.Bytes)
			l.report(true)
			return data, nil
		}
		// Missing, unreadable or damaged in storage: fetch it again.
	}
	backoff := l.Backoff
	if backoff == 0 {
		backoff = 500 * time.Millisecond
	}
	retries := l.Retries
	if retries == 0 {
		retries = 4
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
		data, err := l.fetchOnce(ctx, ref, attempt)
		if err == nil {
			err = modelfile.Verify(ref, data)
			if err != nil {
				l.loaded.Add(-ref.Bytes) // its bytes were counted as they arrived
			}
		}
		if err == nil {
			l.put(ctx, ref, data)
			l.report(true)
			return data, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		lastErr = err
	}
	return nil, fmt.Errorf("%s: giving up after %d attempts: %w", ref.File, retries+1, lastErr)
}

func (l *Loader) fetchOnce(ctx context.Context, ref modelfile.FileRef, attempt int) ([]byte, error) {
	rel := &url.URL{Path: ref.File}
	if attempt > 0 {
		// Chunks are served as immutable, so a bad copy may sit in the HTTP cache (or a
		// CDN's): a retry asks for a URL no cache has seen.
		rel.RawQuery = fmt.Sprintf("attempt=%d", attempt)
	}
	u := l.base.ResolveReference(rel).String()
	body, err := l.open(ctx, u)
	if err != nil {
		return nil, err
	}
	defer body.Close()
	l.downloaded.Store(true)
	data := make([]byte, 0, ref.Bytes)
	buf := make([]byte, 256<<10)
	for {
		n, err := body.Read(buf)
		if n > 0 {
			if int64(len(data)+n) > ref.Bytes {
				l.loaded.Add(-int64(len(data)))
				return nil, fmt.Errorf("%s: more than the %d bytes expected", ref.File, ref.Bytes)
			}
			data = append(data, buf[:n]...)
			l.loaded.Add(int64(n))
			l.report(false)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			l.loaded.Add(-int64(len(data)))
			return nil, fmt.Errorf("%s: connection lost after %d bytes: %w", ref.File, len(data), err)
		}
	}
	if int64(len(data)) != ref.Bytes {
		l.loaded.Add(-int64(len(data)))
		return nil, fmt.Errorf("%s: connection closed after %d of %d bytes", ref.File, len(data), ref.Bytes)
	}
	return data, nil
}

func (l *Loader) put(ctx context.Context, ref modelfile.FileRef, data []byte) {
	if !l.StoreEnabled() {
		return
	}
	if err := l.Store.PutChunk(ctx, ref.SHA256, data); err != nil {
		l.storeOff.Store(true)
		l.storeErr.Do(func() {
			if l.OnStoreError != nil {
				l.OnStoreError(err)
			}
		})
	}
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
