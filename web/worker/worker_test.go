package worker

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/modelfile"
	"gitvqa/web/download"
	"gitvqa/web/internal/fakenet"
	"gitvqa/web/protocol"
)

const manifestURL = "https://example.test/models/tiny/manifest.json"

// tinyFolder converts the fixture checkpoint to an f32 model folder and returns its
// files by name.
func tinyFolder(t *testing.T) map[string][]byte {
	t.Helper()
	dir := fixture.TinyDir()
	in, closeSrc, err := convert.OpenFolder(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	out := t.TempDir()
	if _, err := convert.Convert(in, out, convert.Options{DType: "f32", ChunkBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	entries, _ := os.ReadDir(out)
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(out, e.Name()))
		files[e.Name()] = b
	}
	return files
}

// memCache is a download.Cache in memory.
type memCache struct {
	mu     sync.Mutex
	chunks map[string][]byte
	models map[string]download.ModelRecord
}

func (c *memCache) Chunk(_ context.Context, sha string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.chunks[sha]
	return b, ok, nil
}
func (c *memCache) PutChunk(_ context.Context, sha string, d []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks[sha] = d
	return nil
}
func (c *memCache) Model(_ context.Context, url string) (download.ModelRecord, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r, ok := c.models[url]
	return r, ok, nil
}
func (c *memCache) PutModel(_ context.Context, r download.ModelRecord) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.models[r.URL] = r
	return nil
}

// harness collects a worker's messages.
type harness struct {
	w    *Worker
	mu   sync.Mutex
	msgs []Message
	got  chan Message
}

func newHarness(net *fakenet.Network, cache download.Cache) *harness {
	h := &harness{got: make(chan Message, 1000)}
	h.w = &Worker{
		Post:   func(m Message) { h.got <- m },
		Yield:  func() {},
		Client: net.Client(),
	}
	if cache != nil {
		h.w.OpenCache = func(context.Context) (download.Cache, error) { return cache, nil }
	}
	return h
}

// until waits for a message of one of the types (for id, when id > 0).
func (h *harness) until(t *testing.T, id int, types ...string) Message {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-h.got:
			if m["v"] != protocol.Version {
				t.Fatalf("message without version: %v", m)
			}
			if id > 0 && m["id"] != id {
				continue
			}
			for _, ty := range types {
				if m["type"] == ty {
					return m
				}
			}
		case <-timeout:
			t.Fatalf("no %v message", types)
		}
	}
}

func (h *harness) load(t *testing.T) Message {
	h.w.Handle(Request{V: 1, Type: protocol.Load, ManifestURL: manifestURL})
	m := h.until(t, 0, protocol.Ready, protocol.Error)
	if m["type"] != protocol.Ready {
		t.Fatalf("load: %v", m)
	}
	return m
}

func imageBytes(t *testing.T, c *fixture.Case) []byte {
	b, err := os.ReadFile(c.Path(c.Image))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestAnswersEveryFixtureCase(t *testing.T) {
	files := tinyFolder(t)
	cache := &memCache{chunks: map[string][]byte{}, models: map[string]download.ModelRecord{}}
	h := newHarness(&fakenet.Network{Files: files}, cache)
	ready := h.load(t)
	if ready["storage"] != protocol.StorageIndexedDB || ready["offline"] != false {
		t.Fatalf("ready %v", ready)
	}
	cases, err := fixture.Load(filepath.Join(fixture.TinyDir(), "cases"))
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		id := i + 1
		h.w.Handle(Request{V: 1, Type: protocol.Ask, ID: id, Image: &Image{Bytes: imageBytes(t, &c), Type: "image/png"},
			Question: c.Question, Caption: c.Question == "", MaxTokens: c.MaxNewTokens})
		m := h.until(t, id, protocol.Answer, protocol.Error)
		if m["type"] != protocol.Answer || m["text"] != c.Answer || !reflect.DeepEqual(m["ids"], c.GeneratedIDs) {
			t.Errorf("%s: %v", c.Name, m)
		}
	}
	// Again about the last picture: the image state is reused.
	last := cases[len(cases)-1]
	h.w.Handle(Request{V: 1, Type: protocol.Ask, ID: 100, Image: &Image{Bytes: imageBytes(t, &last)}, Question: "and now?", MaxTokens: 3})
	m := h.until(t, 100, protocol.Answer, protocol.Error)
	if tm, ok := m["timings"].(protocol.Timings); !ok || !tm.ImageCached || tm.EncodeMs != 0 {
		t.Fatalf("second question: %v", m)
	}
}

func TestOfflineSecondVisit(t *testing.T) {
	files := tinyFolder(t)
	net := &fakenet.Network{Files: files}
	cache := &memCache{chunks: map[string][]byte{}, models: map[string]download.ModelRecord{}}
	newHarness(net, cache).load(t)
	net.SetDown(true)
	ready := newHarness(net, cache).load(t)
	if ready["offline"] != true || ready["storage"] != protocol.StorageIndexedDB {
		t.Fatalf("offline visit: %v", ready)
	}
}

func TestCancelThenAskAgain(t *testing.T) {
	files := tinyFolder(t)
	h := newHarness(&fakenet.Network{Files: files}, nil)
	h.load(t)
	c := fixture.Case{}
	cases, _ := fixture.Load(filepath.Join(fixture.TinyDir(), "cases"))
	c = cases[0]
	// The cancel arrives while the worker yields between layers, as the event loop would
	// deliver it.
	yields := 0
	h.w.Yield = func() {
		yields++
		if yields == 3 {
			h.w.Handle(Request{V: 1, Type: protocol.Cancel, ID: 1})
		}
	}
	h.w.Handle(Request{V: 1, Type: protocol.Ask, ID: 1, Image: &Image{Bytes: imageBytes(t, &c)}, Question: c.Question})
	if m := h.until(t, 1, protocol.Answer, protocol.Error); m["code"] != protocol.CodeCancelled {
		t.Fatalf("cancelled ask: %v", m)
	}
	h.w.Handle(Request{V: 1, Type: protocol.Ask, ID: 2, Image: &Image{Bytes: imageBytes(t, &c)}, Question: c.Question, MaxTokens: c.MaxNewTokens})
	if m := h.until(t, 2, protocol.Answer, protocol.Error); m["text"] != c.Answer {
		t.Fatalf("after cancel: %v", m)
	}
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	files := tinyFolder(t)
	h := newHarness(&fakenet.Network{Files: files}, nil)
	h.w.Handle(Request{V: 1, Type: protocol.Ask, ID: 1, Image: &Image{Width: 1, Height: 1, RGBA: make([]byte, 4)}, Question: "x"})
	if m := h.until(t, 1, protocol.Error); m["code"] != protocol.CodeNotLoaded {
		t.Fatalf("before load: %v", m)
	}
	h.load(t)
	for i, c := range []struct {
		req  Request
		code string
	}{
		{Request{Image: &Image{Bytes: []byte("%PDF-1.4 not a picture")}, Question: "what?"}, protocol.CodeBadImage},
		{Request{Image: &Image{Width: 0, Height: 0}, Question: "what?"}, protocol.CodeEmptyImage},
		{Request{Image: &Image{Width: 2, Height: 2, RGBA: make([]byte, 16)}, Question: "  "}, protocol.CodeEmptyQuestion},
		{Request{Image: &Image{Width: 2, Height: 2, RGBA: make([]byte, 16)}, Question: string(make([]byte, 5000)) + repeat("why ", 1200)}, protocol.CodeQuestionTooLong},
		{Request{Image: nil, Question: "x"}, protocol.CodeBadImage},
	} {
		r := c.req
		r.V, r.Type, r.ID = 1, protocol.Ask, 10+i
		h.w.Handle(r)
		if m := h.until(t, r.ID, protocol.Error, protocol.Answer); m["code"] != c.code {
			t.Errorf("case %d: %v, want %s", i, m, c.code)
		}
	}
	h.w.Handle(Request{V: 2, Type: protocol.Ask, ID: 50})
	if m := h.until(t, 50, protocol.Error); m["code"] != protocol.CodeBadMessage {
		t.Fatalf("version 2: %v", m)
	}
	h.w.Handle(Request{V: 1, Type: "dance", ID: 51})
	if m := h.until(t, 51, protocol.Error); m["code"] != protocol.CodeBadMessage {
		t.Fatalf("unknown type: %v", m)
	}
	// Still working, and a caption needs no question.
	h.w.Handle(Request{V: 1, Type: protocol.Ask, ID: 60, Image: &Image{Width: 2, Height: 2, RGBA: make([]byte, 16)}, Caption: true, MaxTokens: 2})
	if m := h.until(t, 60, protocol.Answer, protocol.Error); m["type"] != protocol.Answer {
		t.Fatalf("caption after errors: %v", m)
	}
}

func TestLoadFailureIsReported(t *testing.T) {
	files := tinyFolder(t)
	m, _ := modelfile.Parse(files["manifest.json"])
	delete(files, m.Chunks[0].File)
	h := newHarness(&fakenet.Network{Files: files}, nil)
	h.w.Handle(Request{V: 1, Type: protocol.Load, ManifestURL: manifestURL})
	if msg := h.until(t, 0, protocol.Ready, protocol.Error); msg["code"] != protocol.CodeLoadFailed {
		t.Fatalf("%v", msg)
	}
}

func repeat(s string, n int) string {
	out := ""
	for i := 0; i < n; i++ {
		out += s
	}
	return out
}

// memPort delivers a worker's posts on a port to another worker, as a MessagePort.
type memPort struct {
	to   func(Request)
	peer int
}

func (p memPort) Post(m Message, x []float32) {
	r := Request{V: 1, Type: m["type"].(string), Peer: p.peer, Data: append([]float32(nil), x...)}
	r.Seq, _ = m["seq"].(int)
	r.Kind, _ = m["kind"].(string)
	r.Layer, _ = m["layer"].(int)
	r.Error, _ = m["error"].(string)
	go p.to(r)
}

// Two workers share the image encoder: the answers stay those of the fixture.
func TestShardWorkers(t *testing.T) {
	files := tinyFolder(t)
	net := &fakenet.Network{Files: files}
	cache := &memCache{chunks: map[string][]byte{}, models: map[string]download.ModelRecord{}}
	main := newHarness(net, cache)
	main.load(t)
	shard := newHarness(net, cache)
	shard.w.Handle(Request{V: 1, Type: protocol.Shard, ManifestURL: manifestURL, Index: 1, Count: 2})
	if m := shard.until(t, 0, protocol.Ready, protocol.Error); m["type"] != protocol.Ready || m["role"] != "shard" {
		t.Fatalf("shard: %v", m)
	}
	// main → shard requests carry the port back for the partial sums
	toMain := memPort{to: main.w.Handle, peer: 0}
	toShard := memPort{to: func(r Request) { r.Reply = toMain; shard.w.Handle(r) }}
	main.w.Handle(Request{V: 1, Type: protocol.Peers, Ports: []Port{toShard}})
	if m := main.until(t, 0, protocol.PeersReady, protocol.Error); m["workers"] != 2 {
		t.Fatalf("peers: %v", m)
	}
	cases, _ := fixture.Load(filepath.Join(fixture.TinyDir(), "cases"))
	for i, c := range cases[:3] {
		main.w.Handle(Request{V: 1, Type: protocol.Ask, ID: i + 1, Image: &Image{Bytes: imageBytes(t, &c)}, Question: c.Question, Caption: c.Question == "", MaxTokens: c.MaxNewTokens})
		if m := main.until(t, i+1, protocol.Answer, protocol.Error); m["text"] != c.Answer {
			t.Errorf("%s with two workers: %v", c.Name, m)
		}
	}
}
