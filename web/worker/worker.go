// Package worker is the browser worker's logic, free of JavaScript: it takes decoded
// requests (load, ask, cancel), drives the download and the model session, and posts
// replies through a callback. wasm/ turns postMessage events into Requests and
// Messages back into JavaScript objects; tests drive it directly.
package worker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"gitvqa/model"
	"gitvqa/model/imageproc"
	"gitvqa/model/kernel"
	"gitvqa/model/modelfile"
	"gitvqa/web/download"
	"gitvqa/web/protocol"
)

// Image is an ask's picture: canvas pixels (RGBA at natural size) or encoded bytes.
type Image struct {
	Width, Height int
	RGBA          []byte
	Bytes         []byte
	Type          string // MIME type of Bytes, for messages only
}

// Request is a message from the page.
type Request struct {
	V           int
	Type        string
	ID          int
	ManifestURL string
	Image       *Image
	Question    string
	MaxTokens   int
	Caption     bool // an empty question asks for a caption
	Profile     bool // report where the time went, by kernel kind
	Exact       bool // load: keep activations float32 (no int8 activation path)

	// Sharing the image encoder between workers (see peers.go).
	Index, Count int       // shard: this worker's share
	Ports        []Port    // peers: the coordinator's ports to the shard workers
	Peer         int       // partial: which of Ports it came from
	Seq          int       // block, partial: the request's number
	Kind         string    // block: model.BlockAttention or model.BlockMLP
	Layer        int       // block
	Data         []float32 // block: the input; partial: the partial sum
	Error        string    // partial: the shard's error
	Ms           float64   // partial: how long the shard computed
	Reply        Port      // block: where the partial goes
}

// Message is a reply to the page: a JSON-compatible object.
type Message map[string]any

// Worker answers requests. Its methods may be called from any goroutine.
type Worker struct {
	Post      func(Message)                                     // to the page
	Yield     func()                                            // return to the event loop between layers
	Client    *http.Client                                      // nil: http.DefaultClient
	OpenCache func(ctx context.Context) (download.Cache, error) // nil: memory only
	// FreeSpace, when set, says how many bytes the browser will still store.
	FreeSpace func(ctx context.Context) (int64, error)
	// MemoryBytes, when set, reports the worker's memory size (for the answer's timings).
	MemoryBytes func() int64
	// SetExact, when set, turns the int8-activation fast path off (true) or on.
	SetExact func(exact bool)
	// Kernels names the kernels in use ("relaxed-simd", "simd", "go"), for the ready message.
	Kernels string

	mu      sync.Mutex
	url     string         // model loaded or loading
	ready   Message        // the ready message, once loaded
	session *model.Session // the loaded model's session
	peers   *peerSet       // the shard workers, when sharing the image encoder
	shard   *model.VisionShard
	loadErr Message
	jobs    chan *job
	cancels map[int]context.CancelFunc
	started sync.Once
}

type job struct {
	req Request
	ctx context.Context
	run func() // set for work other than a question
}

func (w *Worker) start() {
	w.started.Do(func() {
		w.jobs = make(chan *job, 64)
		w.cancels = map[int]context.CancelFunc{}
		go w.askLoop()
	})
}

func (w *Worker) post(m Message) {
	m["v"] = protocol.Version
	w.Post(m)
}

func (w *Worker) fail(id int, code string, err error) {
	m := Message{"type": protocol.Error, "code": code, "message": err.Error()}
	if id != 0 {
		m["id"] = id
	}
	w.post(m)
}

// Handle takes one request. It never blocks on model work.
func (w *Worker) Handle(r Request) {
	w.start()
	if r.V != protocol.Version {
		w.fail(r.ID, protocol.CodeBadMessage, fmt.Errorf("protocol version %d, this worker speaks %d", r.V, protocol.Version))
		return
	}
	switch r.Type {
	case protocol.Load:
		w.load(r)
	case protocol.Ask:
		if r.ID <= 0 {
			w.fail(0, protocol.CodeBadMessage, errors.New("ask needs a positive id"))
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		w.mu.Lock()
		w.cancels[r.ID] = cancel
		w.mu.Unlock()
		select {
		case w.jobs <- &job{req: r, ctx: ctx}:
		default:
			w.done(r.ID)
			w.fail(r.ID, protocol.CodeBadMessage, errors.New("too many questions waiting"))
		}
	case protocol.Shard:
		w.loadShard(r)
	case protocol.Peers:
		w.mu.Lock()
		old := w.peers
		w.mu.Unlock()
		if old != nil {
			old.failAll(errors.New("the shard workers were replaced"))
		}
		go w.setPeers(r.Ports)
	case protocol.Block:
		w.block(r)
	case protocol.Partial:
		w.mu.Lock()
		p := w.peers
		w.mu.Unlock()
		if p != nil {
			var err error
			if r.Error != "" {
				err = errors.New(r.Error)
			}
			p.reply(r.Seq, r.Data, err, r.Ms)
		}
	case protocol.Cancel:
		w.mu.Lock()
		cancel := w.cancels[r.ID]
		w.mu.Unlock()
		if cancel != nil {
			cancel()
		}
	default:
		w.fail(r.ID, protocol.CodeBadMessage, fmt.Errorf("unknown message type %q", r.Type))
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

// ---- load --------------------------------------------------------------------------

func (w *Worker) load(r Request) {
	if w.SetExact != nil {
		w.SetExact(r.Exact)
	}
	if r.ManifestURL == "" {
		w.fail(0, protocol.CodeBadMessage, errors.New("load needs a manifestURL"))
		return
	}
	w.mu.Lock()
	if w.url == r.ManifestURL {
		ready, loadErr := w.ready, w.loadErr
		w.mu.Unlock()
		switch {
		case ready != nil:
			w.post(ready)
		case loadErr != nil:
			w.post(loadErr)
		}
		return // still loading: its ready or error message will come
	}
	w.url, w.ready, w.loadErr = r.ManifestURL, nil, nil
	w.mu.Unlock()
	go func() {
		ready, err := w.loadModel(r.ManifestURL)
		w.mu.Lock()
		defer w.mu.Unlock()
		if w.url != r.ManifestURL {
			return // another load replaced this one
		}
		if err != nil {
			w.loadErr = Message{"type": protocol.Error, "code": protocol.CodeLoadFailed, "message": err.Error(), "v": protocol.Version}
			w.Post(w.loadErr)
			return
		}
		w.ready = ready
		w.Post(ready)
	}()
}

// fetched is a model read from its folder, with what the ready message says of it.
type fetched struct {
	model    *model.Model
	manifest []byte
	info     *modelfile.Manifest
	cache    download.Cache // nil: not stored
	offline  bool
	warning  string
}

// fetch gets a model folder: from IndexedDB where it is cached, from the network
// otherwise (storing what it downloads, when the browser lets it). progress: post
// download progress messages.
func (w *Worker) fetch(ctx context.Context, url string, progress bool) (*fetched, error) {
	f := &fetched{}
	var cache download.Cache
	if w.OpenCache != nil {
		c, err := w.OpenCache(ctx)
		if err != nil {
			f.warning = "Could not open the browser's storage (" + err.Error() + "): the model runs from memory and will be downloaded again next time."
		} else {
			cache = c
		}
	}
	var cached []byte
	var rec download.ModelRecord
	var haveRec bool
	if cache != nil {
		var err error
		if rec, haveRec, err = cache.Model(ctx, url); err == nil && haveRec {
			cached = rec.Manifest
		}
	}
	l := &download.Loader{ManifestURL: url, Client: w.Client}
	if cache != nil {
		l.Store = cache
	}
	m, raw, offline, err := l.Manifest(ctx, cached)
	if err != nil {
		return nil, err
	}
	f.info, f.manifest, f.offline = m, raw, offline
	stored := haveRec && rec.Complete && string(rec.Manifest) == string(raw)
	if cache != nil && w.FreeSpace != nil && !stored {
		if free, err := w.FreeSpace(ctx); err == nil && free < m.TotalBytes {
			f.warning = fmt.Sprintf("The browser offers %.0f MB of storage, the model needs %.0f MB: it runs from memory and will be downloaded again next time.", float64(free)/1e6, float64(m.TotalBytes)/1e6)
			l.Store = nil
		}
	}
	if l.Store != nil && !stored {
		if err := cache.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Bytes: m.TotalBytes, Updated: time.Now()}); err != nil {
			f.warning = "Could not store the model (" + err.Error() + "): it runs from memory."
			l.Store = nil
		}
	}
	l.OnStoreError = func(err error) {
		f.warning = "The browser refused to store more (" + err.Error() + "): the model runs from memory and will be downloaded again next time."
	}
	if progress {
		l.OnProgress = func(p download.Progress) {
			w.post(Message{"type": protocol.Progress, "phase": p.Phase, "loaded": p.Loaded, "total": p.Total, "fromCache": p.FromCache})
		}
		w.post(Message{"type": protocol.Progress, "phase": protocol.PhaseDownload, "loaded": 0, "total": m.TotalBytes, "fromCache": 0})
	}
	src := l.Source(ctx, m)
	defer src.Close()
	if f.model, err = model.FromFolder(ctx, m, src, nil); err != nil {
		return nil, err
	}
	if l.StoreEnabled() {
		f.cache = cache
		if !stored {
			if err := cache.PutModel(ctx, download.ModelRecord{URL: url, Manifest: raw, Bytes: m.TotalBytes, Complete: true, Updated: time.Now()}); err != nil {
				f.cache, f.warning = nil, "Could not record the model as cached ("+err.Error()+")."
			}
		}
	}
	return f, nil
}

// loadOnly is fetch without progress messages: a shard worker's load.
func (w *Worker) loadOnly(url string) (*model.Model, error) {
	f, err := w.fetch(context.Background(), url, false)
	if err != nil {
		return nil, err
	}
	return f.model, nil
}

func (w *Worker) loadModel(url string) (Message, error) {
	start := time.Now()
	f, err := w.fetch(context.Background(), url, true)
	if err != nil {
		return nil, err
	}
	m := f.info
	w.post(Message{"type": protocol.Progress, "phase": protocol.PhaseLoad, "loaded": m.TotalBytes, "total": m.TotalBytes, "fromCache": 0})
	s, err := f.model.NewSession()
	if err != nil {
		return nil, err
	}
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
	c := f.model.Config
	return Message{
		"type":    protocol.Ready,
		"model":   Message{"url": url, "description": m.Description, "dtype": m.DType, "group": m.Group, "imageSize": c.Vision.ImageSize, "imageTokens": c.NumImageTokens(), "maxPositions": c.MaxPositionEmbeddings, "maxWorkers": c.Vision.NumAttentionHeads},
		"bytes":   m.TotalBytes,
		"storage": storage,
		"warning": f.warning,
		"offline": f.offline,
		"loadMs":  float64(time.Since(start).Microseconds()) / 1000,
		"kernels": w.Kernels,
		"v":       protocol.Version,
	}, nil
}

// ---- ask ---------------------------------------------------------------------------

func (w *Worker) askLoop() {
	for j := range w.jobs {
		if j.run != nil {
			j.run()
			continue
		}
		w.ask(j)
		w.done(j.req.ID)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func (w *Worker) ask(j *job) {
	r := j.req
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
	img, err := decode(r.Image)
	if err != nil {
		code := protocol.CodeBadImage
		if errors.Is(err, imageproc.ErrEmptyImage) {
			code = protocol.CodeEmptyImage
		}
		w.fail(r.ID, code, err)
		return
	}
	pre, err := s.Model().Preprocess.Preprocess(img)
	if err != nil {
		w.fail(r.ID, protocol.CodeBadImage, err)
		return
	}
	start := time.Now()
	if r.Profile {
		kernel.StartProfile()
	}
	var lastProgress time.Time
	ans, err := s.Ask(j.ctx, pre.Pixels, r.Question, model.Options{
		MaxNewTokens: r.MaxTokens,
		OnToken: func(t model.Token) {
			w.post(Message{"type": protocol.Token, "id": r.ID, "text": t.Text, "piece": t.Piece, "tokenId": t.ID})
		},
		OnProgress: func(p model.Progress) {
			if p.Done < p.Total && time.Since(lastProgress) < 50*time.Millisecond {
				return
			}
			lastProgress = time.Now()
			w.post(Message{"type": protocol.Progress, "id": r.ID, "phase": p.Phase, "loaded": p.Done, "total": p.Total})
		},
	})
	if err != nil {
		switch {
		case errors.Is(err, context.Canceled):
			w.fail(r.ID, protocol.CodeCancelled, errors.New("cancelled"))
		case errors.Is(err, model.ErrQuestionTooLong):
			w.fail(r.ID, protocol.CodeQuestionTooLong, err)
		default:
			w.fail(r.ID, protocol.CodeInternal, err)
		}
		return
	}
	var prof map[string]float64
	if r.Profile {
		prof = kernel.StopProfile()
	}
	t := ans.Timings
	var memBytes int64
	if w.MemoryBytes != nil {
		memBytes = w.MemoryBytes()
	}
	w.post(Message{
		"type": protocol.Answer, "id": r.ID, "text": ans.Text, "ids": ans.GeneratedIDs, "inputIds": ans.InputIDs,
		"stoppedBy": ans.StoppedBy,
		"profile":   prof,
		"timings": protocol.Timings{
			EncodeMs: ms(t.Encode), ImagePrefillMs: ms(t.ImagePrefill), PromptMs: ms(t.Prompt), DecodeMs: ms(t.Decode),
			TotalMs: ms(time.Since(start)), ImageCached: t.ImageCached, Tokens: len(ans.GeneratedIDs), MemoryBytes: memBytes,
		},
	})
}

func decode(im *Image) (*imageproc.RGB, error) {
	switch {
	case im == nil:
		return nil, errors.New("no image")
	case im.Bytes != nil:
		return imageproc.Decode(im.Bytes)
	default:
		return imageproc.FromRGBA(im.Width, im.Height, im.RGBA)
	}
}
