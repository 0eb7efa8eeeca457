// Package fakenet is an in-memory web server reached through an http.RoundTripper,
// with faults on demand, so download tests run natively and in the browser (where
// nothing can listen on a socket).
package fakenet

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
)

// Network serves Files by base name.
type Network struct {
	mu         sync.Mutex
	Files      map[string][]byte
	Down       bool           // every request fails, as when offline
	DropOnce   map[string]int // cut the body after this many bytes, once
	Corrupt    map[string]int // flip a byte, this many times
	Status     map[string]int // answer this HTTP status instead
	Stall      map[string]int // send StallAfter body bytes, then nothing until the request is cancelled, this many times (-1: always)
	StallAfter int
	HTML       map[string]bool // answer 200 with a web page instead, as a static host's catch-all does
	requests   []string
}

// RoundTrip implements http.RoundTripper.
func (n *Network) RoundTrip(r *http.Request) (*http.Response, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	name := r.URL.Path[strings.LastIndex(r.URL.Path, "/")+1:]
	n.requests = append(n.requests, name)
	if n.Down {
		return nil, errors.New("network is down")
	}
	rec := httptest.NewRecorder()
	data, ok := n.Files[name]
	switch {
	case n.Status[name] != 0:
		rec.WriteHeader(n.Status[name])
	case n.HTML[name]:
		rec.Header().Set("Content-Type", "text/html; charset=utf-8")
		rec.WriteString("<!doctype html><html><body>Not here.</body></html>")
		data = nil
	case !ok:
		rec.WriteHeader(http.StatusNotFound)
	default:
		if n.Corrupt[name] > 0 {
			n.Corrupt[name]--
			data = append([]byte(nil), data...)
			data[len(data)/2] ^= 0x55
		}
		rec.Write(data)
	}
	resp := rec.Result()
	if k, ok := n.DropOnce[name]; ok {
		delete(n.DropOnce, name)
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data[:k]), errReader{}))
	}
	if k := n.Stall[name]; k != 0 && len(data) > 0 {
		if k > 0 {
			n.Stall[name] = k - 1
		}
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(data[:min(n.StallAfter, len(data))]), stallReader{r.Context().Done(), r.Context().Err}))
	}
	resp.Request = r
	return resp, nil
}

// stallReader sends nothing until its request is cancelled.
type stallReader struct {
	done <-chan struct{}
	err  func() error
}

func (s stallReader) Read([]byte) (int, error) {
	<-s.done
	return 0, s.err()
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("connection reset by peer") }

// Client returns an http.Client on this network.
func (n *Network) Client() *http.Client { return &http.Client{Transport: n} }

// Count says how often a file was requested.
func (n *Network) Count(name string) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, r := range n.requests {
		if r == name {
			c++
		}
	}
	return c
}

// Requests returns every request so far, by file name, and forgets them.
func (n *Network) Requests() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	r := n.requests
	n.requests = nil
	return r
}

// SetDown switches the network off or on.
func (n *Network) SetDown(down bool) {
	n.mu.Lock()
	n.Down = down
	n.mu.Unlock()
}
