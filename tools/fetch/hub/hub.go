// Package hub downloads a GIT checkpoint from the Hugging Face hub: config.json,
// preprocessor_config.json, vocab.txt and model.safetensors (pytorch_model.bin when the
// repository has no safetensors) from the hub's resolve/ URLs, resuming interrupted
// downloads with HTTP Range requests, retrying with backoff, and checking each file's
// size and sha256 against the hub's LFS metadata when the hub gives it. A file appears
// under its name only once complete and verified. tools/fetch and tools/verifyreal use it.
package hub

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Fetcher downloads files of one hub repository.
type Fetcher struct {
	Endpoint, Repo, Revision string
	Retries                  int
	Client                   *http.Client  // nil: a client with sane timeouts
	Backoff                  time.Duration // first retry delay (doubles); 0: 1 s
	Log                      io.Writer
}

// Meta is what the hub says of a file.
type Meta struct {
	Size   int64  // -1: unknown
	SHA256 string // "": unknown (not an LFS file, or no metadata)
}

// ErrNotFound is a file the repository does not have.
var ErrNotFound = errors.New("not found on the hub")

// Checkpoint fetches what model.LoadDir and tools/convert need into dir.
func (f *Fetcher) Checkpoint(ctx context.Context, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	meta, err := f.Tree(ctx)
	if err != nil {
		f.logf("no file listing from the hub (%v); sizes and hashes come from the download headers\n", err)
	}
	for _, name := range []string{"config.json", "preprocessor_config.json", "vocab.txt"} {
		if err := f.File(ctx, name, dir, meta[name]); err != nil {
			return err
		}
	}
	weights := []string{"model.safetensors", "pytorch_model.bin"}
	for i, name := range weights {
		if meta != nil {
			if _, ok := meta[name]; !ok && i < len(weights)-1 {
				continue // the listing says it is not there
			}
		}
		err := f.File(ctx, name, dir, meta[name])
		if errors.Is(err, ErrNotFound) && i < len(weights)-1 {
			f.logf("%s: not in the repository, trying %s\n", name, weights[i+1])
			continue
		}
		return err
	}
	return nil
}

func (f *Fetcher) logf(format string, args ...any) {
	if f.Log != nil {
		fmt.Fprintf(f.Log, format, args...)
	}
}

func (f *Fetcher) client() *http.Client {
	if f.Client != nil {
		return f.Client
	}
	return &http.Client{Transport: &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		ResponseHeaderTimeout: 60 * time.Second,
		TLSHandshakeTimeout:   30 * time.Second,
	}}
}

func (f *Fetcher) resolveURL(name string) string {
	return fmt.Sprintf("%s/%s/resolve/%s/%s", strings.TrimRight(f.Endpoint, "/"), f.Repo, url.PathEscape(f.Revision), name)
}

// Tree reads the hub's file listing (/api/models/REPO/tree/REV): sizes, and the sha256
// of files kept in LFS.
func (f *Fetcher) Tree(ctx context.Context) (map[string]Meta, error) {
	u := fmt.Sprintf("%s/api/models/%s/tree/%s", strings.TrimRight(f.Endpoint, "/"), f.Repo, url.PathEscape(f.Revision))
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", u, resp.Status)
	}
	var entries []struct {
		Type string `json:"type"`
		Path string `json:"path"`
		Size int64  `json:"size"`
		LFS  *struct {
			OID  string `json:"oid"`
			Size int64  `json:"size"`
		} `json:"lfs"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 8<<20)).Decode(&entries); err != nil {
		return nil, fmt.Errorf("%s: %w", u, err)
	}
	meta := map[string]Meta{}
	for _, e := range entries {
		if e.Type != "file" {
			continue
		}
		m := Meta{Size: e.Size}
		if e.LFS != nil {
			m = Meta{Size: e.LFS.Size, SHA256: strings.ToLower(e.LFS.OID)}
		}
		meta[e.Path] = m
	}
	return meta, nil
}

// File downloads name into dir, resuming a partial download, and verifies it.
func (f *Fetcher) File(ctx context.Context, name, dir string, meta Meta) error {
	if meta.Size == 0 && meta.SHA256 == "" {
		meta.Size = -1
	}
	final := filepath.Join(dir, name)
	part := filepath.Join(dir, "."+name+".part")
	if st, err := os.Stat(final); err == nil && (meta.Size < 0 || st.Size() == meta.Size) {
		if meta.SHA256 == "" || verifyFile(final, meta.SHA256) == nil {
			f.logf("%s: already here\n", name)
			return nil
		}
	}
	backoff := f.Backoff
	if backoff == 0 {
		backoff = time.Second
	}
	var lastErr error
	for attempt := 0; attempt <= f.Retries; attempt++ {
		if attempt > 0 {
			f.logf("%s: %v; retrying in %v\n", name, lastErr, backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return ctx.Err()
			}
			backoff = min(2*backoff, time.Minute)
		}
		err := f.download(ctx, name, part, &meta)
		if err == nil {
			break
		}
		if errors.Is(err, ErrNotFound) || ctx.Err() != nil {
			return err
		}
		lastErr = err
		if attempt == f.Retries {
			return fmt.Errorf("%s: giving up after %d attempts: %w", name, attempt+1, err)
		}
	}
	st, err := os.Stat(part)
	if err != nil {
		return err
	}
	if meta.Size >= 0 && st.Size() != meta.Size {
		return fmt.Errorf("%s: downloaded %d bytes, the hub says %d", name, st.Size(), meta.Size)
	}
	if meta.SHA256 != "" {
		if err := verifyFile(part, meta.SHA256); err != nil {
			os.Remove(part) // a bad file must not be resumed
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	if err := os.Rename(part, final); err != nil {
		return err
	}
	f.logf("%s: %d bytes, verified %s\n", name, st.Size(), map[bool]string{true: "sha256 and size", false: "size"}[meta.SHA256 != ""])
	return nil
}

// download appends the rest of the file to part, from where it stops.
func (f *Fetcher) download(ctx context.Context, name, part string, meta *Meta) error {
	out, err := os.OpenFile(part, os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer out.Close()
	have, err := out.Seek(0, io.SeekEnd)
	if err != nil {
		return err
	}
	if meta.Size >= 0 && have == meta.Size {
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.resolveURL(name), nil)
	if err != nil {
		return err
	}
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := f.client().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		if have > 0 { // the server ignored the range: start over
			if err := out.Truncate(0); err != nil {
				return err
			}
			if _, err := out.Seek(0, io.SeekStart); err != nil {
				return err
			}
			have = 0
		}
	case http.StatusPartialContent:
		if start, ok := rangeStart(resp.Header.Get("Content-Range")); !ok || start != have {
			return fmt.Errorf("server resumed at %q, not at byte %d", resp.Header.Get("Content-Range"), have)
		}
	case http.StatusRequestedRangeNotSatisfiable:
		// What we have is longer than the file: start over.
		return out.Truncate(0)
	case http.StatusNotFound:
		return fmt.Errorf("%s: %w", name, ErrNotFound)
	default:
		return fmt.Errorf("%s: %s", req.URL, resp.Status)
	}
	f.fillMeta(resp, have, meta)
	n, err := io.Copy(out, &progressReader{r: resp.Body, f: f, name: name, done: have, total: meta.Size})
	if err != nil {
		return fmt.Errorf("connection lost after %d bytes: %w", have+n, err)
	}
	if meta.Size >= 0 && have+n != meta.Size {
		return fmt.Errorf("connection closed at byte %d of %d", have+n, meta.Size)
	}
	return nil
}

// fillMeta takes the size and LFS hash from the response when the listing had none.
// The hub names an LFS file's sha256 in X-Linked-Etag (before its redirect) or ETag.
func (f *Fetcher) fillMeta(resp *http.Response, have int64, meta *Meta) {
	if meta.Size < 0 {
		if resp.StatusCode == http.StatusOK && resp.ContentLength >= 0 {
			meta.Size = resp.ContentLength
		} else if cr := resp.Header.Get("Content-Range"); cr != "" {
			if i := strings.LastIndex(cr, "/"); i >= 0 {
				if n, err := strconv.ParseInt(cr[i+1:], 10, 64); err == nil {
					meta.Size = n
				}
			}
		}
	}
	if meta.SHA256 == "" {
		for r := resp; r != nil; r = r.Request.Response {
			for _, h := range []string{"X-Linked-Etag", "Etag"} {
				if v := strings.Trim(strings.TrimPrefix(r.Header.Get(h), "W/"), `"`); len(v) == 64 && isHex(v) {
					meta.SHA256 = strings.ToLower(v)
					return
				}
			}
			if r.Request == nil {
				break
			}
		}
	}
}

func isHex(s string) bool {
	_, err := hex.DecodeString(s)
	return err == nil
}

func rangeStart(cr string) (int64, bool) {
	var start, end int64
	if _, err := fmt.Sscanf(cr, "bytes %d-%d/", &start, &end); err != nil {
		return 0, false
	}
	return start, true
}

func verifyFile(path, want string) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	h := sha256.New()
	if _, err := io.Copy(h, fh); err != nil {
		return err
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != want {
		return fmt.Errorf("sha256 %s, the hub says %s", got, want)
	}
	return nil
}

type progressReader struct {
	r           io.Reader
	f           *Fetcher
	name        string
	done, total int64
	last        time.Time
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.done += int64(n)
	if time.Since(p.last) > 2*time.Second {
		p.last = time.Now()
		if p.total > 0 {
			p.f.logf("%s: %.1f%% (%d / %d bytes)\n", p.name, 100*float64(p.done)/float64(p.total), p.done, p.total)
		}
	}
	return n, err
}
