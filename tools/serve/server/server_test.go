package server

import (
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
)

func serve(t *testing.T) (*Server, *httptest.Server, string) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "index.html"), []byte("<!doctype html>hello"), 0o644)
	os.WriteFile(filepath.Join(dir, "app.wasm"), []byte(strings.Repeat("\x00asm", 5000)), 0o644)
	os.MkdirAll(filepath.Join(dir, "m"), 0o755)
	chunk := strings.Repeat("c", 64) + ".bin"
	os.WriteFile(filepath.Join(dir, "m", chunk), []byte(strings.Repeat("0123456789", 100)), 0o644)
	s := New(dir)
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv, "/m/" + chunk
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte, error) {
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableCompression: true}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

// A current precompressed copy beside a file is sent as it is; a stale one (older than
// the file) is not.
func TestPrecompressed(t *testing.T) {
	s, srv, _ := serve(t)
	wasm := filepath.Join(s.Dir, "app.wasm")
	var br strings.Builder
	bw := brotli.NewWriterLevel(&br, 11)
	bw.Write([]byte("precompressed body"))
	bw.Close()
	os.WriteFile(wasm+".br", []byte(br.String()), 0o644)
	resp, body, err := get(t, srv.URL+"/app.wasm", map[string]string{"Accept-Encoding": "gzip, br"})
	if err != nil || resp.Header.Get("Content-Encoding") != "br" || string(body) != br.String() || resp.Header.Get("Content-Type") != "application/wasm" {
		t.Fatalf("precompressed: %v %q", resp.Header, body)
	}
	old := time.Now().Add(-time.Hour)
	os.Chtimes(wasm+".br", old, old)
	_, body, _ = get(t, srv.URL+"/app.wasm", map[string]string{"Accept-Encoding": "br"})
	if plain, _ := io.ReadAll(brotli.NewReader(strings.NewReader(string(body)))); len(plain) != 20000 {
		t.Fatalf("a stale .br was served (%d bytes)", len(plain))
	}
}

func TestTypesCompressionAndCaching(t *testing.T) {
	s, srv, chunk := serve(t)
	resp, body, err := get(t, srv.URL+"/app.wasm", map[string]string{"Accept-Encoding": "br, gzip"})
	if err != nil || resp.Header.Get("Content-Type") != "application/wasm" || resp.Header.Get("Content-Encoding") != "br" {
		t.Fatalf("%v %v", err, resp.Header)
	}
	plain, _ := io.ReadAll(brotli.NewReader(strings.NewReader(string(body))))
	if len(plain) != 20000 || len(body) > 1000 {
		t.Fatalf("brotli: %d → %d", len(plain), len(body))
	}
	resp, body, _ = get(t, srv.URL+"/app.wasm", map[string]string{"Accept-Encoding": "gzip"})
	zr, err := gzip.NewReader(strings.NewReader(string(body)))
	if err != nil || resp.Header.Get("Content-Encoding") != "gzip" {
		t.Fatal(err)
	}
	if plain, _ := io.ReadAll(zr); len(plain) != 20000 {
		t.Fatal("gzip body")
	}
	resp, body, _ = get(t, srv.URL+chunk, map[string]string{"Accept-Encoding": "gzip", "Range": "bytes=10-19"})
	if resp.StatusCode != http.StatusPartialContent || string(body) != "0123456789" || resp.Header.Get("Content-Encoding") != "" {
		t.Fatalf("range on a chunk: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "immutable") {
		t.Fatal("a content-addressed chunk is not immutable")
	}
	resp, _, _ = get(t, srv.URL+"/", nil)
	if resp.Header.Get("Cache-Control") != "no-cache" || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("index: %v", resp.Header)
	}
	if s.Count("/app.wasm") != 2 {
		t.Fatalf("count %d", s.Count("/app.wasm"))
	}
	s.Isolation = true
	resp, _, _ = get(t, srv.URL+"/", nil)
	if resp.Header.Get("Cross-Origin-Embedder-Policy") != "require-corp" {
		t.Fatal("no COEP")
	}
	if resp, _, _ := get(t, srv.URL+"/../etc/passwd", nil); resp.StatusCode != http.StatusNotFound {
		t.Fatal("escaped the folder")
	}
}

func TestFaults(t *testing.T) {
	s, srv, chunk := serve(t)
	s.SetFaults(Faults{DropAfter: map[string]int{".bin": 100}, DropTimes: map[string]int{".bin": 1}})
	if _, body, err := get(t, srv.URL+chunk, nil); err == nil && len(body) == 1000 {
		t.Fatal("not dropped")
	}
	if _, body, err := get(t, srv.URL+chunk, nil); err != nil || len(body) != 1000 {
		t.Fatalf("second try: %v %d", err, len(body))
	}
	s.SetFaults(Faults{Corrupt: map[string]int{".bin": 1}, Status: map[string]int{"index": 1}})
	if _, body, _ := get(t, srv.URL+chunk, nil); string(body) == strings.Repeat("0123456789", 100) {
		t.Fatal("not corrupted")
	}
	if resp, _, _ := get(t, srv.URL+"/index.html", nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatal("no 503")
	}
	if resp, _, _ := get(t, srv.URL+"/index.html", nil); resp.StatusCode != http.StatusOK {
		t.Fatal("fault did not wear off")
	}
}
