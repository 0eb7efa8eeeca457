// Package server is the static file server of tools/serve, for development and tests:
// correct MIME types (application/wasm), gzip or brotli for the big text-like files
// (a precompressed file.br or file.gz beside the file when there is a current one, as a
// static host serves them; compressed on the fly otherwise),
// immutable caching for content-addressed chunks, optional cross-origin isolation
// headers, and faults on demand (a dropped connection, a stalled one, a corrupted body,
// a web page instead of a file, a delay, an error status) so tests can see how the page
// copes.
package server

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/andybalholm/brotli"
)

// Faults to inject, matched against request paths by substring. Each count is how many
// requests suffer it (-1: all of them).
type Faults struct {
	DropAfter  map[string]int // send this many body bytes, then cut the connection
	DropTimes  map[string]int
	Corrupt    map[string]int // flip a byte in the body
	Status     map[string]int // answer 503 instead
	Stall      map[string]int // send StallAfter body bytes, then nothing, keeping the connection open
	StallAfter int
	HTML       map[string]int // answer 200 with a web page, as a static host's catch-all does
	Delay      time.Duration  // before every response
}

// Server serves one folder.
type Server struct {
	Dir       string
	Isolation bool // send COOP/COEP/CORP so the page is cross-origin isolated
	NoStore   bool // forbid HTTP caching (tests count every request)
	Log       io.Writer

	mu     sync.Mutex
	faults Faults
	counts map[string]int
	cache  map[string][]byte // compressed bodies by path|mtime|encoding
}

// New serves dir.
func New(dir string) *Server {
	return &Server{Dir: dir, counts: map[string]int{}, cache: map[string][]byte{}}
}

// SetFaults replaces the faults to inject.
func (s *Server) SetFaults(f Faults) {
	s.mu.Lock()
	s.faults = f
	s.mu.Unlock()
}

// Count says how many requests reached a path (as requested, e.g. "/models/x/manifest.json").
func (s *Server) Count(p string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.counts[p]
}

// Counts returns every path's request count.
func (s *Server) Counts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// ResetCounts forgets the counts.
func (s *Server) ResetCounts() {
	s.mu.Lock()
	s.counts = map[string]int{}
	s.mu.Unlock()
}

// take reports whether the fault keyed in m applies to p, consuming one use.
func take(m map[string]int, p string) (string, bool) {
	for k, n := range m {
		if strings.Contains(p, k) && n != 0 {
			if n > 0 {
				m[k] = n - 1
			}
			return k, true
		}
	}
	return "", false
}

var contentAddressed = regexp.MustCompile(`/[0-9a-f]{64}\.[a-z]+$`)

var types = map[string]string{
	".wasm": "application/wasm", ".js": "text/javascript; charset=utf-8", ".mjs": "text/javascript; charset=utf-8",
	".json": "application/json", ".html": "text/html; charset=utf-8", ".css": "text/css; charset=utf-8",
	".bin": "application/octet-stream", ".txt": "text/plain; charset=utf-8", ".png": "image/png",
}

// compressible says which files are worth compressing: not the int8 weight chunks.
func compressible(ext string) bool {
	switch ext {
	case ".wasm", ".js", ".mjs", ".json", ".html", ".css", ".txt":
		return true
	}
	return false
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p := path.Clean("/" + r.URL.Path)
	s.mu.Lock()
	s.counts[p]++
	f := s.faults
	delay := f.Delay
	_, status := take(f.Status, p)
	dropKey, drop := take(f.DropTimes, p)
	_, corrupt := take(f.Corrupt, p)
	_, stall := take(f.Stall, p)
	_, html := take(f.HTML, p)
	s.mu.Unlock()
	if s.Log != nil {
		fmt.Fprintf(s.Log, "%s %s\n", r.Method, r.URL.RequestURI())
	}
	if delay > 0 {
		time.Sleep(delay)
	}
	if s.Isolation {
		w.Header().Set("Cross-Origin-Opener-Policy", "same-origin")
		w.Header().Set("Cross-Origin-Embedder-Policy", "require-corp")
		w.Header().Set("Cross-Origin-Resource-Policy", "same-origin")
	}
	if status {
		http.Error(w, "injected failure", http.StatusServiceUnavailable)
		return
	}
	if html {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, "<!doctype html><html><body><h1>Welcome!</h1>This site has no such page.</body></html>")
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name := filepath.Join(s.Dir, filepath.FromSlash(p))
	st, err := os.Stat(name)
	if err == nil && st.IsDir() {
		if !strings.HasSuffix(r.URL.Path, "/") {
			http.Redirect(w, r, r.URL.Path+"/", http.StatusMovedPermanently)
			return
		}
		name = filepath.Join(name, "index.html")
		st, err = os.Stat(name)
	}
	if err != nil {
		http.NotFound(w, r)
		return
	}
	body, err := os.ReadFile(name)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	ext := filepath.Ext(name)
	ct := types[ext]
	if ct == "" {
		ct = mime.TypeByExtension(ext)
	}
	if ct != "" {
		w.Header().Set("Content-Type", ct)
	}
	if s.NoStore {
		w.Header().Set("Cache-Control", "no-store")
	} else if contentAddressed.MatchString(p) {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "no-cache")
	}
	if corrupt && len(body) > 0 {
		body = append([]byte(nil), body...)
		body[len(body)/2] ^= 0x5a
	}
	if stall {
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:min(len(body), f.StallAfter)])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		<-r.Context().Done() // until the client gives up
		return
	}
	if drop {
		// Promise the whole body, send part of it, then hang up.
		w.Header().Set("Content-Length", fmt.Sprint(len(body)))
		w.WriteHeader(http.StatusOK)
		w.Write(body[:min(len(body), f.DropAfter[dropKey])])
		if fl, ok := w.(http.Flusher); ok {
			fl.Flush()
		}
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				conn.Close()
			}
		}
		return
	}
	if enc := s.encoding(r, ext); enc != "" && !corrupt {
		cb, err := s.compressed(name, st.ModTime(), enc, body)
		if err == nil {
			w.Header().Set("Content-Encoding", enc)
			w.Header().Set("Vary", "Accept-Encoding")
			w.Header().Set("Content-Length", fmt.Sprint(len(cb)))
			if r.Method == http.MethodGet {
				w.Write(cb)
			}
			return
		}
	}
	http.ServeContent(w, r, name, st.ModTime(), bytes.NewReader(body))
}

func (s *Server) encoding(r *http.Request, ext string) string {
	if !compressible(ext) || r.Header.Get("Range") != "" {
		return ""
	}
	ae := r.Header.Get("Accept-Encoding")
	switch {
	case strings.Contains(ae, "br"):
		return "br"
	case strings.Contains(ae, "gzip"):
		return "gzip"
	}
	return ""
}

// Suffixes of precompressed files, by encoding.
var precompressed = map[string]string{"br": ".br", "gzip": ".gz"}

func (s *Server) compressed(name string, mod time.Time, enc string, body []byte) ([]byte, error) {
	// A precompressed copy older than the file is stale (the file was rebuilt): ignored.
	if st, err := os.Stat(name + precompressed[enc]); err == nil && !st.ModTime().Before(mod) {
		return os.ReadFile(name + precompressed[enc])
	}
	key := fmt.Sprintf("%s|%d|%s", name, mod.UnixNano(), enc)
	s.mu.Lock()
	cb, ok := s.cache[key]
	s.mu.Unlock()
	if ok {
		return cb, nil
	}
	var buf bytes.Buffer
	var w io.WriteCloser
	if enc == "br" {
		w = brotli.NewWriterLevel(&buf, 6)
	} else {
		w, _ = gzip.NewWriterLevel(&buf, gzip.BestCompression)
	}
	if _, err := w.Write(body); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.cache[key] = buf.Bytes()
	s.mu.Unlock()
	return buf.Bytes(), nil
}
