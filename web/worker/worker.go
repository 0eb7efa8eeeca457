// Package worker is the browser worker's logic, free of JavaScript: it takes the page's
// messages (load, ask, cancel, cache, and the shard workers' wiring), drives the
// download, the model session and the cache, and posts replies through a callback.
// wasm/ decodes postMessage events into protocol.Messages and encodes the replies;
// tests drive it directly.
package worker

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"gitvqa/model"
	"gitvqa/model/imageproc"
	"gitvqa/web/download"
	"gitvqa/web/protocol"
)

// Cache is where models are kept between visits: IndexedDB in the browser
// (web/chunkstore), the schema's one owner.
type Cache interface {
	download.Cache
	// Missing returns those of the files (by sha256) the cache does not hold.
	Missing(ctx context.Context, shas []string) ([]string, error)
	Models(ctx context.Context) ([]download.ModelRecord, error)
	DeleteModel(ctx context.Context, url string) (bool, error)
	Clear(ctx context.Context) error
}

// Worker answers messages. Its methods may be called from any goroutine.
type Worker struct {
	Post      func(protocol.Message)                   // to the page
	Yield     func()                                   // return to the event loop between layers
	Client    *http.Client                             // nil: http.DefaultClient
	OpenCache func(ctx context.Context) (Cache, error) // nil: memory only
	// Hash, when set, is the downloads' SHA-256 (download.Loader.Hash).
	Hash func(ctx context.Context, data []byte) ([32]byte, error)
	// FreeSpace, when set, says how many bytes the browser will still store.
	FreeSpace func(ctx context.Context) (int64, error)
	// MemoryBytes, when set, reports the worker's memory size (for the answer's timings).
	MemoryBytes func() int64
	// NewBackend makes what a model runs on: kernels is protocol.KernelsAuto (or "") for
	// the fastest set that works here (the GPU included), protocol.KernelsCPU for the
	// fastest CPU set, or one to force; exact keeps activations float32; workers is how
	// many workers would share the CPU's work (the GPU is weighed against them). note says
	// why a faster set is not used, if it is not. nil: the Go kernels.
	NewBackend func(kernels string, exact bool, workers int) (b model.Backend, note string)
	// DecodePicture, when set, decodes a picture with the browser's decoders (JPEG, and
	// what Go cannot read); mime may be "".
	DecodePicture func(ctx context.Context, data []byte, mime string) (Picture, error)
	// BootPhases, when set, says how the worker started (compiling the wasm, say), for
	// the ready messages.
	BootPhases func() []protocol.Phase

	mu      sync.Mutex
	url     string          // model loaded or loading
	ready   *protocol.Ready // the ready message, once loaded
	loadErr *protocol.Error // the load's error, once failed
	session *model.Session  // the loaded model's session
	peers   *peerSet        // the shard workers, when sharing the image encoder
	shard   *model.VisionShard
	jobs    chan job
	cancels map[int]context.CancelFunc
	started sync.Once
	// pictures are the recent pictures' pixel values, by their bytes (the answering
	// goroutine's alone).
	pictures []cachedPicture
}

// job is a question, or other work that must not overlap one (run).
type job struct {
	ask protocol.Ask
	ctx context.Context
	run func()
}

func (w *Worker) start() {
	w.started.Do(func() {
		w.jobs = make(chan job, 64)
		w.cancels = map[int]context.CancelFunc{}
		go w.loop()
	})
}

func (w *Worker) memoryBytes() int64 {
	if w.MemoryBytes == nil {
		return 0
	}
	return w.MemoryBytes()
}

func (w *Worker) fail(id int, code string, err error) {
	w.Post(protocol.Error{ID: id, Code: code, Message: err.Error()})
}

// maxWorkers is how many workers can share a picture's encoder and image pass: on the
// CPU, cpuWorkers; on the GPU the work is the GPU's alone.
func maxWorkers(b model.Backend, c *model.Config) int {
	if b.Name() == protocol.KernelsWebGPU {
		return 1
	}
	return cpuWorkers(c)
}

// cpuWorkers is how many CPU workers can share a picture: one per head of the encoder
// or decoder, whichever has fewer (16 and 12 for git-large).
func cpuWorkers(c *model.Config) int { return min(c.Vision.NumAttentionHeads, c.NumAttentionHeads) }

func (w *Worker) backend(kernels string, exact bool, workers int) (model.Backend, string) {
	if w.NewBackend == nil {
		return model.GoBackend(), ""
	}
	return w.NewBackend(kernels, exact, workers)
}

// Handle takes one message. It never blocks on model work.
func (w *Worker) Handle(m protocol.Message) {
	w.start()
	switch m := m.(type) {
	case protocol.Load:
		w.load(m)
	case protocol.Ask:
		if m.ID <= 0 {
			w.fail(0, protocol.CodeBadMessage, errors.New("ask needs a positive id"))
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		w.mu.Lock()
		w.cancels[m.ID] = cancel
		w.mu.Unlock()
		select {
		case w.jobs <- job{ask: m, ctx: ctx}:
		default:
			w.done(m.ID)
			w.fail(m.ID, protocol.CodeBadMessage, errors.New("too many questions waiting"))
		}
	case protocol.Cancel:
		w.mu.Lock()
		cancel := w.cancels[m.ID]
		w.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	case protocol.Shard:
		w.loadShard(m)
	case protocol.Peers:
		w.mu.Lock()
		old := w.peers
		w.mu.Unlock()
		if old != nil {
			old.failAll(errors.New("the shard workers were replaced"))
			old.close()
		}
		go w.setPeers(m.Ports)
	case protocol.CacheList, protocol.CacheDelete, protocol.CacheClear:
		go w.cache(m)
	case protocol.Error:
		w.Post(m) // a message that could not be decoded
	default:
		w.fail(0, protocol.CodeBadMessage, fmt.Errorf("a worker does not take %q messages", m.Type()))
	}
}

func (w *Worker) done(id int) {
	w.mu.Lock()
	if c := w.cancels[id]; c != nil {
		c()
	}
	delete(w.cancels, id)
	w.mu.Unlock()
}

func (w *Worker) loop() {
	for j := range w.jobs {
		if j.run != nil {
			j.run()
			continue
		}
		w.answer(j)
		w.done(j.ask.ID)
	}
}

// ---- load --------------------------------------------------------------------------

// knownKernels are the kernel sets a load may ask for.
var knownKernels = map[string]bool{"": true, protocol.KernelsAuto: true, protocol.KernelsCPU: true, protocol.KernelsRelaxed: true, protocol.KernelsSIMD: true, protocol.KernelsGo: true, protocol.KernelsWebGPU: true}

func (w *Worker) load(r protocol.Load) {
	if r.ManifestURL == "" {
		w.fail(0, protocol.CodeBadMessage, errors.New("load needs a manifestURL"))
		return
	}
	if !knownKernels[r.Kernels] {
		w.fail(0, protocol.CodeBadMessage, fmt.Errorf("kernels %q: choose %s, %s, %s, %s, %s or %s", r.Kernels, protocol.KernelsAuto, protocol.KernelsCPU, protocol.KernelsRelaxed, protocol.KernelsSIMD, protocol.KernelsGo, protocol.KernelsWebGPU))
		return
	}
	w.mu.Lock()
	if w.url == r.ManifestURL {
		ready, loadErr := w.ready, w.loadErr
		w.mu.Unlock()
		switch {
		case ready != nil:
			w.Post(*ready)
		case loadErr != nil:
			w.Post(*loadErr)
		}
		return // still loading: its ready or error message will come
	}
	w.url, w.ready, w.loadErr = r.ManifestURL, nil, nil
	w.mu.Unlock()
	go func() {
		ready, err := w.loadModel(r)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.url != r.ManifestURL {
			return // another load replaced this one
		}
		if err != nil {
			w.loadErr = &protocol.Error{Code: protocol.CodeLoadFailed, Message: err.Error()}
			w.Post(*w.loadErr)
			return
		}
		w.ready = ready
		w.Post(*ready)
	}()
}

func (w *Worker) loadModel(r protocol.Load) (*protocol.Ready, error) {
	start := time.Now()
	f, err := w.fetch(context.Background(), r.ManifestURL, time.Duration(r.StallMs)*time.Millisecond, true)
	if err != nil {
		return nil, err
	}
	m := f.info
	w.Post(protocol.LoadProgress{Phase: protocol.PhaseLoad, Loaded: m.TotalBytes, Total: m.TotalBytes})
	backendStart := time.Now()
	c := f.model.Config
	b, note := w.backend(r.Kernels, r.Exact, min(max(r.Workers, 1), cpuWorkers(&c)))
	backendMs := ms(time.Since(backendStart))
	sessionStart := time.Now()
	s, err := f.model.NewSession(b)
	if err != nil {
		return nil, err
	}
	sessionMs := ms(time.Since(sessionStart))
	s.Yield = func() {
		if w.Yield != nil {
			w.Yield()
		}
	}
	storage := protocol.StorageMemory
	if f.cache != nil {
		storage = protocol.StorageIndexedDB
	}
	w.mu.Lock()
	w.session = s
	w.mu.Unlock()
	return &protocol.Ready{
		Model: protocol.ModelInfo{URL: r.ManifestURL, Description: m.Description, DType: m.DType, Group: m.Group,
			ImageSize: c.Vision.ImageSize, ImageTokens: c.NumImageTokens(), MaxPositions: c.MaxPositionEmbeddings,
			MaxWorkers: maxWorkers(b, &c), Task: cmp.Or(m.Task, protocol.TaskVQA)},
		Bytes: m.TotalBytes, Storage: storage, Warning: f.warning, Offline: f.offline,
		LoadMs:  ms(time.Since(start)),
		Kernels: b.Name(), KernelsNote: note, Exact: b.Exact(),
		Phases: w.phases(f, backendMs, sessionMs),
	}, nil
}

// ---- ask ---------------------------------------------------------------------------

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (w *Worker) answer(j job) {
	r := j.ask
	if j.ctx.Err() != nil {
		w.fail(r.ID, protocol.CodeCancelled, errors.New("cancelled before it started"))
		return
	}
	w.mu.Lock()
	s := w.session
	w.mu.Unlock()
	if s == nil {
		w.fail(r.ID, protocol.CodeNotLoaded, errors.New("no model is loaded yet"))
		return
	}
	if strings.TrimSpace(r.Question) == "" && !r.Caption {
		w.fail(r.ID, protocol.CodeEmptyQuestion, errors.New("type a question (or ask for a caption)"))
		return
	}
	if r.Caption {
		r.Question = ""
	}
	pic, err := w.prepare(j.ctx, &s.Model().Preprocess, model.ResamplerOf(s.Backend()), r.Image)
	if err != nil {
		code := protocol.CodeBadImage
		if errors.Is(err, imageproc.ErrEmptyImage) {
			code = protocol.CodeEmptyImage
		}
		w.fail(r.ID, code, err)
		return
	}
	start := time.Now()
	prof := s.Backend().Profile()
	if r.Profile {
		prof.Start()
	}
	var lastProgress time.Time
	var logits []float32
	ans, err := s.Ask(j.ctx, pic.res.Pixels, r.Question, model.Options{
		MaxTokens: r.MaxTokens,
		OnToken: func(t model.Token) {
			w.Post(protocol.Token{ID: r.ID, Text: t.Text, Piece: t.Piece, TokenID: t.ID})
		},
		OnProgress: func(p model.Progress) {
			if p.Done < p.Total && time.Since(lastProgress) < 50*time.Millisecond {
				return
			}
			lastProgress = time.Now()
			w.Post(protocol.Progress{ID: r.ID, Phase: p.Phase, Done: p.Done, Total: p.Total})
		},
		OnLogits: func(step int, l []float32) {
			if r.Logits && step == 0 {
				logits = append([]float32(nil), l...)
			}
		},
	})
	var profile map[string]float64
	if r.Profile {
		profile = prof.Stop()
	}
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled):
			w.fail(r.ID, protocol.CodeCancelled, errors.New("cancelled"))
		case errors.Is(err, model.ErrQuestionTooLong):
			w.fail(r.ID, protocol.CodeQuestionTooLong, err)
		case errors.Is(err, model.ErrBadMaxTokens):
			w.fail(r.ID, protocol.CodeBadMessage, err)
		default:
			w.fail(r.ID, protocol.CodeInternal, err)
		}
		return
	}
	t := ans.Timings
	var shardMem []int64
	w.mu.Lock()
	if p := w.peers; p != nil && s.Workers() > 1 {
		p.mu.Lock()
		shardMem = append(shardMem, p.memory...)
		p.mu.Unlock()
	}
	w.mu.Unlock()
	w.Post(protocol.Answer{
		ID: r.ID, Text: ans.Text, IDs: ans.GeneratedIDs, InputIDs: ans.InputIDs, StoppedBy: ans.StoppedBy,
		Profile: profile, Logits: logits,
		Timings: protocol.Timings{
			EncodeMs: ms(t.Encode), ImagePrefillMs: ms(t.ImagePrefill), PromptMs: ms(t.Prompt), DecodeMs: ms(t.Decode),
			TotalMs: ms(time.Since(start)), ImageCached: t.ImageCached, Tokens: len(ans.GeneratedIDs), MemoryBytes: w.memoryBytes(),
			ShardMemoryBytes: shardMem, PreprocessMs: pic.ms, PictureCached: pic.cached, DecodedBy: pic.decodedBy,
		},
	})
}

// ---- the cache -----------------------------------------------------------------------

func (w *Worker) cache(m protocol.Message) {
	ctx := context.Background()
	var id int
	switch m := m.(type) {
	case protocol.CacheList:
		id = m.ID
	case protocol.CacheDelete:
		id = m.ID
	case protocol.CacheClear:
		id = m.ID
	}
	if w.OpenCache == nil {
		w.fail(id, protocol.CodeCacheFailed, errors.New("this worker keeps no cache"))
		return
	}
	c, err := w.OpenCache(ctx)
	if err != nil {
		w.fail(id, protocol.CodeCacheFailed, err)
		return
	}
	var reply protocol.Message
	switch m := m.(type) {
	case protocol.CacheList:
		var recs []download.ModelRecord
		if recs, err = c.Models(ctx); err == nil {
			out := protocol.CacheModels{ID: id, Models: []protocol.CachedModel{}}
			for _, r := range recs {
				out.Models = append(out.Models, protocol.CachedModel{URL: r.URL, Bytes: r.Bytes, Complete: r.Complete,
					Updated: float64(r.Updated.UnixMilli()), Description: describe(r.Manifest)})
			}
			reply = out
		}
	case protocol.CacheDelete:
		var ok bool
		if ok, err = c.DeleteModel(ctx, m.URL); err == nil {
			reply = protocol.CacheDone{ID: id, Deleted: ok}
		}
	case protocol.CacheClear:
		if err = c.Clear(ctx); err == nil {
			reply = protocol.CacheDone{ID: id}
		}
	}
	if err != nil {
		w.fail(id, protocol.CodeCacheFailed, err)
		return
	}
	w.Post(reply)
}
