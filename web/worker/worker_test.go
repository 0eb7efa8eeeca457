package worker

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/kernels"
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

// memCache is a Cache in memory.
type memCache struct {
	mu     sync.Mutex
	chunks map[string][]byte
	models map[string]download.ModelRecord
	// clearAt, when set, clears everything as the chunk of this many puts is stored, as
	// another tab's "clear cache" would in the middle of a download.
	clearAt, puts int
}

func (c *memCache) Chunk(_ context.Context, ref modelfile.FileRef) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.chunks[ref.SHA256]
	return b, ok && modelfile.Verify(ref, b) == nil, nil
}
func (c *memCache) PutChunk(_ context.Context, ref modelfile.FileRef, d []byte) error {
	sha := ref.SHA256
	c.mu.Lock()
	defer c.mu.Unlock()
	c.chunks[sha] = d
	if c.puts++; c.puts == c.clearAt {
		c.models, c.chunks = map[string]download.ModelRecord{}, map[string][]byte{}
	}
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

func (c *memCache) Models(context.Context) ([]download.ModelRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []download.ModelRecord
	for _, r := range c.models {
		out = append(out, r)
	}
	return out, nil
}
func (c *memCache) DeleteModel(_ context.Context, url string) (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.models[url]
	delete(c.models, url)
	return ok, nil
}
func (c *memCache) Clear(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.models, c.chunks = map[string]download.ModelRecord{}, map[string][]byte{}
	return nil
}

func (c *memCache) Missing(_ context.Context, shas []string) ([]string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, s := range shas {
		if _, ok := c.chunks[s]; !ok {
			out = append(out, s)
		}
	}
	return out, nil
}

func newCache() *memCache {
	return &memCache{chunks: map[string][]byte{}, models: map[string]download.ModelRecord{}}
}

// harness collects a worker's messages.
type harness struct {
	w   *Worker
	got chan protocol.Message
}

func newHarness(net *fakenet.Network, cache Cache) *harness {
	h := &harness{got: make(chan protocol.Message, 1000)}
	h.w = &Worker{
		Post:   func(m protocol.Message) { h.got <- m },
		Yield:  func() {},
		Client: net.Client(),
	}
	if cache != nil {
		h.w.OpenCache = func(context.Context) (Cache, error) { return cache, nil }
	}
	return h
}

// idOf is a reply's question (or cache request) id, 0 for none.
func idOf(m protocol.Message) int {
	if f := reflect.ValueOf(m).FieldByName("ID"); f.IsValid() {
		return int(f.Int())
	}
	return 0
}

// until waits for a message of one of the types (for id, when id > 0).
func (h *harness) until(t *testing.T, id int, types ...string) protocol.Message {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case m := <-h.got:
			if id > 0 && idOf(m) != id {
				continue
			}
			for _, ty := range types {
				if m.Type() == ty {
					return m
				}
			}
		case <-timeout:
			t.Fatalf("no %v message", types)
		}
	}
}

// answer waits for question id's answer, failing on an error.
func (h *harness) answer(t *testing.T, id int) protocol.Answer {
	t.Helper()
	m := h.until(t, id, "answer", "error")
	a, ok := m.(protocol.Answer)
	if !ok {
		t.Fatalf("question %d: %+v", id, m)
	}
	return a
}

// code waits for question id's error code ("" for an answer).
func (h *harness) code(t *testing.T, id int) string {
	t.Helper()
	if e, ok := h.until(t, id, "answer", "error").(protocol.Error); ok {
		return e.Code
	}
	return ""
}

func (h *harness) load(t *testing.T, r protocol.Load) protocol.Ready {
	t.Helper()
	if r.ManifestURL == "" {
		r.ManifestURL = manifestURL
	}
	h.w.Handle(r)
	m := h.until(t, 0, "ready", "error")
	ready, ok := m.(protocol.Ready)
	if !ok {
		t.Fatalf("load: %+v", m)
	}
	return ready
}

func imageBytes(t *testing.T, c *fixture.Case) []byte {
	b, err := os.ReadFile(c.Path(c.Image))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func imageOf(t *testing.T, c *fixture.Case) *protocol.Image {
	return &protocol.Image{Bytes: imageBytes(t, c), Type: "image/png"}
}

func fixtureCases(t *testing.T) []fixture.Case { return fixture.TinyCases(t) }

func TestAnswersEveryFixtureCase(t *testing.T) {
	h := newHarness(&fakenet.Network{Files: tinyFolder(t)}, newCache())
	ready := h.load(t, protocol.Load{})
	if ready.Storage != protocol.StorageIndexedDB || ready.Offline || ready.Kernels != protocol.KernelsGo || !ready.Exact {
		t.Fatalf("ready %+v", ready)
	}
	cases := fixtureCases(t)
	for i, c := range cases {
		id := i + 1
		h.w.Handle(protocol.Ask{ID: id, Image: imageOf(t, &c), Question: c.Question, Caption: c.Question == "", MaxTokens: c.MaxTokens})
		if a := h.answer(t, id); a.Text != c.Answer || !reflect.DeepEqual(a.IDs, c.GeneratedIDs) || a.StoppedBy != c.StoppedBy {
			t.Errorf("%s: %+v", c.Name, a)
		}
	}
	// Again about the last picture: the image state is reused.
	last := cases[len(cases)-1]
	h.w.Handle(protocol.Ask{ID: 100, Image: imageOf(t, &last), Question: "and now?", MaxTokens: 3})
	if a := h.answer(t, 100); !a.Timings.ImageCached || a.Timings.EncodeMs != 0 {
		t.Fatalf("second question: %+v", a)
	}
}

func TestOfflineSecondVisit(t *testing.T) {
	net := &fakenet.Network{Files: tinyFolder(t)}
	cache := newCache()
	newHarness(net, cache).load(t, protocol.Load{})
	net.SetDown(true)
	if ready := newHarness(net, cache).load(t, protocol.Load{}); !ready.Offline || ready.Storage != protocol.StorageIndexedDB {
		t.Fatalf("offline visit: %+v", ready)
	}
}

func TestDamagedStoredChunkIsFetchedAgain(t *testing.T) {
	files := tinyFolder(t)
	net := &fakenet.Network{Files: files}
	cache := newCache()
	newHarness(net, cache).load(t, protocol.Load{})
	m, err := modelfile.Parse(files["manifest.json"])
	if err != nil {
		t.Fatal(err)
	}
	victim := m.Chunks[len(m.Chunks)/2]
	damaged := append([]byte(nil), cache.chunks[victim.SHA256]...)
	damaged[len(damaged)/2] ^= 1
	cache.chunks[victim.SHA256] = damaged

	h := newHarness(net, cache)
	ready := h.load(t, protocol.Load{})
	if n := net.Count(victim.File); n != 2 {
		t.Errorf("the damaged chunk was fetched %d times in all, want 2", n)
	}
	if err := modelfile.Verify(victim, cache.chunks[victim.SHA256]); err != nil {
		t.Errorf("the stored copy after the repair: %v", err)
	}
	if rec, _, _ := cache.Model(context.Background(), manifestURL); !rec.Complete || ready.Storage != protocol.StorageIndexedDB {
		t.Errorf("after the repair: record complete %v, ready %+v", rec.Complete, ready)
	}
	c := fixtureCases(t)[0]
	h.w.Handle(protocol.Ask{ID: 1, Image: imageOf(t, &c), Question: c.Question, Caption: c.Question == "", MaxTokens: c.MaxTokens})
	if a := h.answer(t, 1); a.Text != c.Answer {
		t.Errorf("after the repair: %q, want %q", a.Text, c.Answer)
	}
}

func TestCancelThenAskAgain(t *testing.T) {
	h := newHarness(&fakenet.Network{Files: tinyFolder(t)}, nil)
	h.load(t, protocol.Load{})
	c := fixtureCases(t)[0]
	// The cancel arrives while the worker yields between layers, as the event loop would
	// deliver it.
	yields := 0
	h.w.Yield = func() {
		yields++
		if yields == 3 {
			h.w.Handle(protocol.Cancel{ID: 1})
		}
	}
	h.w.Handle(protocol.Ask{ID: 1, Image: imageOf(t, &c), Question: c.Question})
	if code := h.code(t, 1); code != protocol.CodeCancelled {
		t.Fatalf("cancelled ask: %q", code)
	}
	h.w.Handle(protocol.Ask{ID: 2, Image: imageOf(t, &c), Question: c.Question, MaxTokens: c.MaxTokens})
	if a := h.answer(t, 2); a.Text != c.Answer {
		t.Fatalf("after cancel: %+v", a)
	}
}

func TestBadRequestsGetClearErrors(t *testing.T) {
	h := newHarness(&fakenet.Network{Files: tinyFolder(t)}, nil)
	px := func(w, h int) *protocol.Image { return &protocol.Image{Width: w, Height: h, RGBA: make([]byte, 4*w*h)} }
	h.w.Handle(protocol.Ask{ID: 1, Image: px(1, 1), Question: "x"})
	if code := h.code(t, 1); code != protocol.CodeNotLoaded {
		t.Fatalf("before load: %q", code)
	}
	h.load(t, protocol.Load{})
	for i, c := range []struct {
		ask  protocol.Ask
		code string
	}{
		{protocol.Ask{Image: &protocol.Image{Bytes: []byte("%PDF-1.4 not a picture")}, Question: "what?"}, protocol.CodeBadImage},
		{protocol.Ask{Image: px(0, 0), Question: "what?"}, protocol.CodeEmptyImage},
		{protocol.Ask{Image: &protocol.Image{}, Question: "what?"}, protocol.CodeEmptyImage}, // no pixels at all
		{protocol.Ask{Image: px(2, 2), Question: "  "}, protocol.CodeEmptyQuestion},
		{protocol.Ask{Image: px(2, 2), Question: string(make([]byte, 5000)) + strings.Repeat("why ", 1200)}, protocol.CodeQuestionTooLong},
		{protocol.Ask{Image: px(2, 2), Question: strings.Repeat("a", 70<<10)}, protocol.CodeQuestionTooLong}, // over the tokenizer's 64 KiB
		{protocol.Ask{Image: px(2, 2), Question: "x", MaxTokens: -1}, protocol.CodeBadMessage},
		{protocol.Ask{Image: nil, Question: "x"}, protocol.CodeBadImage},
	} {
		r := c.ask
		r.ID = 10 + i
		h.w.Handle(r)
		if code := h.code(t, r.ID); code != c.code {
			t.Errorf("case %d: %q, want %s", i, code, c.code)
		}
	}
	h.w.Handle(protocol.Load{ManifestURL: manifestURL + "?other", Kernels: "fastest"})
	if e, ok := h.until(t, 0, "error").(protocol.Error); !ok || e.Code != protocol.CodeBadMessage || !strings.Contains(e.Message, `"fastest"`) {
		t.Fatalf("an unknown kernel set: %+v", e)
	}
	h.w.Handle(protocol.Ready{})
	if e, ok := h.until(t, 0, "error").(protocol.Error); !ok || e.Code != protocol.CodeBadMessage {
		t.Fatalf("a message only workers send: %+v", e)
	}
	// Still working, and a caption needs no question.
	h.w.Handle(protocol.Ask{ID: 60, Image: px(2, 2), Caption: true, MaxTokens: 2})
	h.answer(t, 60)
}

func TestLoadFailureIsReported(t *testing.T) {
	files := tinyFolder(t)
	m, _ := modelfile.Parse(files["manifest.json"])
	delete(files, m.Chunks[0].File)
	h := newHarness(&fakenet.Network{Files: files}, nil)
	h.w.Handle(protocol.Load{ManifestURL: manifestURL})
	if e, ok := h.until(t, 0, "ready", "error").(protocol.Error); !ok || e.Code != protocol.CodeLoadFailed {
		t.Fatalf("%+v", e)
	}
}

// The page's cache calls are answered by the worker from the cache it stores into.
func TestCacheListDeleteClear(t *testing.T) {
	cache := newCache()
	h := newHarness(&fakenet.Network{Files: tinyFolder(t)}, cache)
	h.load(t, protocol.Load{})
	h.w.Handle(protocol.CacheList{ID: 1})
	list := h.until(t, 1, "cache-models", "error").(protocol.CacheModels)
	if len(list.Models) != 1 || list.Models[0].URL != manifestURL || !list.Models[0].Complete || list.Models[0].Bytes == 0 {
		t.Fatalf("list: %+v", list)
	}
	h.w.Handle(protocol.CacheDelete{ID: 2, URL: manifestURL})
	if d := h.until(t, 2, "cache-done", "error").(protocol.CacheDone); !d.Deleted {
		t.Fatalf("delete: %+v", d)
	}
	h.w.Handle(protocol.CacheDelete{ID: 3, URL: manifestURL})
	if d := h.until(t, 3, "cache-done", "error").(protocol.CacheDone); d.Deleted {
		t.Fatalf("deleting it twice: %+v", d)
	}
	h.w.Handle(protocol.CacheClear{ID: 4})
	h.until(t, 4, "cache-done")
	h.w.Handle(protocol.CacheList{ID: 5})
	if list := h.until(t, 5, "cache-models").(protocol.CacheModels); len(list.Models) != 0 {
		t.Fatalf("after clear: %+v", list)
	}
	// A worker without storage says so.
	bare := newHarness(&fakenet.Network{}, nil)
	bare.w.Handle(protocol.CacheList{ID: 6})
	if e, ok := bare.until(t, 6, "cache-models", "error").(protocol.Error); !ok || e.Code != protocol.CodeCacheFailed {
		t.Fatalf("no storage: %+v", e)
	}
}

// memPort delivers posts to the port's other end in order, as a MessagePort does.
type memPort struct {
	mu     sync.Mutex
	other  *memPort
	listen func(protocol.Message)
	queue  chan protocol.Message
}

func portPair() (*memPort, *memPort) {
	a, b := &memPort{queue: make(chan protocol.Message, 1024)}, &memPort{queue: make(chan protocol.Message, 1024)}
	a.other, b.other = b, a
	for _, p := range []*memPort{a, b} {
		go func() {
			for m := range p.queue {
				p.mu.Lock()
				f := p.listen
				p.mu.Unlock()
				f(m)
			}
		}()
	}
	return a, b
}

// blockPosts counts the Block messages memPorts carried, by form.
var blockPosts struct {
	sync.Mutex
	keep, sum, plain int
}

func (p *memPort) Post(m protocol.Message) error {
	switch x := m.(type) { // the receiver gets its own copy, as a transfer would
	case protocol.Block:
		blockPosts.Lock()
		switch {
		case x.Keep:
			blockPosts.keep++
		case x.Sum:
			blockPosts.sum++
		default:
			blockPosts.plain++
		}
		blockPosts.Unlock()
		x.X = append([]float32(nil), x.X...)
		m = x
	case protocol.Partial:
		x.X = append([]float32(nil), x.X...)
		m = x
	case protocol.ShardLayer:
		x.Data = append([]byte(nil), x.Data...)
		m = x
	}
	p.other.queue <- m
	return nil
}

func (p *memPort) Listen(f func(protocol.Message)) {
	p.mu.Lock()
	p.listen = f
	p.mu.Unlock()
}

func (p *memPort) Close() { p.Listen(func(protocol.Message) {}) }

// sharedLoad loads the model into a main worker and workers-1 shard workers wired to
// it, all on the backends NewBackend makes.
func sharedLoad(t *testing.T, files map[string][]byte, workers int, load protocol.Load, backends func(string, bool, int) (model.Backend, string)) *harness {
	t.Helper()
	net := &fakenet.Network{Files: files}
	cache := newCache()
	main := newHarness(net, cache)
	main.w.NewBackend = backends
	load.ManifestURL = manifestURL
	ready := main.load(t, load)
	var ports []protocol.Port
	var shards []*harness
	for i := 1; i < workers; i++ {
		shard := newHarness(&fakenet.Network{}, nil) // a shard worker reads nothing: its share comes from the main worker
		shard.w.NewBackend = backends
		toShard, fromMain := portPair()
		shard.w.Handle(protocol.Shard{Exact: load.Exact, Kernels: load.Kernels, Index: i, Count: workers, Port: fromMain})
		ports, shards = append(ports, toShard), append(shards, shard)
	}
	if workers > 1 {
		main.w.Handle(protocol.Peers{Ports: ports})
		if m, ok := main.until(t, 0, "peers-ready", "error").(protocol.PeersReady); !ok || m.Workers != workers {
			t.Fatalf("peers: %+v", m)
		}
		for i, shard := range shards {
			r, ok := shard.until(t, 0, "shard-ready", "error").(protocol.ShardReady)
			if !ok || r.Index != i+1 || r.Exact != ready.Exact || r.Kernels != ready.Kernels {
				t.Fatalf("shard: %+v", r)
			}
		}
	}
	return main
}

// Two workers share the image encoder: the answers stay those of the fixture. The
// encoder's blocks chain: each picture's first block input is sent, and after it only
// the main worker's partial sums (2·layers − 1 a picture); the decoder's blocks over the
// image rows are sent whole.
func TestShardWorkers(t *testing.T) {
	main := sharedLoad(t, tinyFolder(t), 2, protocol.Load{}, nil)
	blockPosts.Lock()
	blockPosts.keep, blockPosts.sum, blockPosts.plain = 0, 0, 0
	blockPosts.Unlock()
	cs := fixtureCases(t)[:3]
	for i, c := range cs {
		main.w.Handle(protocol.Ask{ID: i + 1, Image: imageOf(t, &c), Question: c.Question, Caption: c.Question == "", MaxTokens: c.MaxTokens})
		if a := main.answer(t, i+1); a.Text != c.Answer {
			t.Errorf("%s with two workers: %+v", c.Name, a)
		}
	}
	layers := main.w.session.Model().Config.Vision.NumHiddenLayers
	blockPosts.Lock()
	defer blockPosts.Unlock()
	if blockPosts.keep != len(cs) || blockPosts.sum != len(cs)*(2*layers-1) || blockPosts.plain == 0 {
		t.Errorf("%d pictures of %d layers: %d inputs kept, %d sums, %d blocks sent whole", len(cs), layers, blockPosts.keep, blockPosts.sum, blockPosts.plain)
	}
}

// A picture cancelled between the encoder's layers leaves the shard mid-chain (a block
// computed ahead, an answer on its way): the next picture still gets the fixture's
// answer, whichever layer the cancel came after. (A picture per cancel: an answered one
// is cached, and its next ask would not run the encoder.)
func TestCancelMidEncoderWithShardWorkers(t *testing.T) {
	main := sharedLoad(t, tinyFolder(t), 2, protocol.Load{}, nil)
	cases := fixtureCases(t)
	layers := main.w.session.Model().Config.Vision.NumHiddenLayers
	if len(cases) < layers+1 {
		t.Fatalf("%d cases for %d cancel points", len(cases), layers+1)
	}
	id := 0
	for cancelAt := 1; cancelAt <= layers+1; cancelAt++ {
		c := cases[cancelAt-1]
		yields := 0
		main.w.Yield = func() { // before each layer, then before the post-norm
			if yields++; yields == cancelAt {
				main.w.Handle(protocol.Cancel{ID: id})
			}
		}
		blockPosts.Lock()
		blockPosts.keep, blockPosts.sum, blockPosts.plain = 0, 0, 0
		blockPosts.Unlock()
		id++
		main.w.Handle(protocol.Ask{ID: id, Image: imageOf(t, &c), Question: c.Question, Caption: c.Question == ""})
		if code := main.code(t, id); code != protocol.CodeCancelled {
			t.Fatalf("cancelled at yield %d: %q", cancelAt, code)
		}
		// The layers run before the cancel: a kept input, then a sum a block (none after
		// the last one).
		done := cancelAt - 1
		wantSums := 2 * done
		if done == layers {
			wantSums--
		}
		blockPosts.Lock()
		keep, sum := blockPosts.keep, blockPosts.sum
		blockPosts.Unlock()
		if keep != min(done, 1) || sum != wantSums {
			t.Errorf("cancelled after %d layers: %d inputs kept and %d sums posted, want %d and %d", done, keep, sum, min(done, 1), wantSums)
		}
		main.w.Yield = nil
		id++
		main.w.Handle(protocol.Ask{ID: id, Image: imageOf(t, &c), Question: c.Question, Caption: c.Question == "", MaxTokens: c.MaxTokens})
		if a := main.answer(t, id); a.Text != c.Answer {
			t.Fatalf("%s after a cancel at yield %d: %+v", c.Name, cancelAt, a)
		}
	}
}

// inexact stands for the browser's 7-bit activation path: results visibly off the
// float32 ones, so a worker that ignores exact shows.
type inexact struct{ kernels.Go }

func (k *inexact) LinearQ8(y, x []float32, m int, w *kernels.Matrix) {
	k.Go.LinearQ8(y, x, m, w)
	for i := range y[:m*w.Rows] {
		y[i] *= 1.01
	}
}

func (k *inexact) GemmNT(m, n, kk int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	k.Go.GemmNT(m, n, kk, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			c[i*ldc+j] *= 1.01
		}
	}
}

// exact with several workers is exact on every worker: the same logits as one worker
// (within the rounding of summing the shards' partials), unlike the fast path.
func TestExactWithShardWorkers(t *testing.T) {
	backends := func(_ string, exact bool, _ int) (model.Backend, string) {
		if exact {
			return model.GoBackend(), ""
		}
		return model.CPU("fast", &inexact{}, false), ""
	}
	files := tinyFolder(t)
	c := fixtureCases(t)[0]
	logits := func(h *harness, id int) []float32 {
		h.w.Handle(protocol.Ask{ID: id, Image: imageOf(t, &c), Question: c.Question, MaxTokens: 1, Logits: true})
		a := h.answer(t, id)
		if len(a.Logits) == 0 {
			t.Fatal("no logits in the answer")
		}
		return a.Logits
	}
	one := logits(sharedLoad(t, files, 1, protocol.Load{Exact: true}, backends), 1)
	two := logits(sharedLoad(t, files, 2, protocol.Load{Exact: true}, backends), 1)
	fast := logits(sharedLoad(t, files, 2, protocol.Load{}, backends), 1)
	if d := fixture.MaxAbsDiff(two, one); d > 1e-5 {
		t.Errorf("exact with two workers is %g off exact with one", d)
	}
	if d := fixture.MaxAbsDiff(fast, one); d < 1e-3 {
		t.Errorf("the fast path is only %g off exact: the test cannot tell them apart", d)
	}
}

// A cache cleared while the model downloads is not called complete: the page hears it
// runs from memory, the next visit offline is refused with a way out, and the next
// visit online completes the copy.
func TestCacheClearedDuringDownloadIsHonest(t *testing.T) {
	files := tinyFolder(t)
	m, _ := modelfile.Parse(files["manifest.json"])
	net := &fakenet.Network{Files: files}
	cache := newCache()
	cache.clearAt = len(m.Chunks) / 2
	ready := newHarness(net, cache).load(t, protocol.Load{})
	if ready.Storage != protocol.StorageMemory || !strings.Contains(ready.Warning, "cleared") {
		t.Fatalf("ready after the clear: %+v", ready)
	}
	if r := cache.models[manifestURL]; r.Complete {
		t.Fatal("a copy with holes was recorded complete")
	}
	net.SetDown(true)
	h := newHarness(net, cache)
	h.w.Handle(protocol.Load{ManifestURL: manifestURL})
	e, ok := h.until(t, 0, "ready", "error").(protocol.Error)
	if !ok || e.Code != protocol.CodeLoadFailed || !strings.Contains(e.Message, "incomplete") || !strings.Contains(e.Message, "connect once") {
		t.Fatalf("offline with holes: %+v", e)
	}
	net.SetDown(false)
	if ready := newHarness(net, cache).load(t, protocol.Load{}); ready.Storage != protocol.StorageIndexedDB || ready.Warning != "" {
		t.Fatalf("online again: %+v", ready)
	}
	net.SetDown(true)
	if ready := newHarness(net, cache).load(t, protocol.Load{}); !ready.Offline || ready.Storage != protocol.StorageIndexedDB {
		t.Fatalf("offline once repaired: %+v", ready)
	}
}

// A peer set that was replaced (or failed) answers the next block at once with an
// error, rather than posting to workers that are gone and waiting out PeerTimeout.
func TestDeadPeersAnswerAtOnce(t *testing.T) {
	a, b := portPair()
	b.Listen(func(protocol.Message) {}) // the other end never answers
	defer func(d time.Duration) { PeerTimeout = d }(PeerTimeout)
	PeerTimeout = 3 * time.Second
	p := &peerSet{ports: []protocol.Port{a}, wait: map[int]chan partial{}, memory: make([]int64, 1), dead: make(chan struct{})}
	pending := p.Start(model.BlockAttention, 0, make([]float32, 4))
	p.failAll(errors.New("the shard workers were replaced"))
	start := time.Now()
	if _, err := pending(nil); err == nil {
		t.Fatal("a block in flight when its peers were replaced succeeded")
	}
	if _, err := p.Start(model.BlockMLP, 0, make([]float32, 4))(nil); err == nil {
		t.Fatal("a block started after the peers were replaced succeeded")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("the blocks took %v to fail", d)
	}
}
