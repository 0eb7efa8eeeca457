package model

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"gitvqa/model/ops"
	"gitvqa/model/tokenize"
)

// DefaultMaxTokens is the answer budget unless the caller asks otherwise.
const DefaultMaxTokens = 20

// ErrQuestionTooLong is returned when the prompt does not fit the model's positions,
// or the text is longer than the tokenizer reads.
var ErrQuestionTooLong = tokenize.ErrTooLong

// ErrBadMaxTokens is returned for a negative token budget.
var ErrBadMaxTokens = errors.New("max tokens is negative")

// Options tune one Ask.
type Options struct {
	MaxTokens  int                              // new tokens at most; 0: DefaultMaxTokens
	OnToken    func(Token)                      // called for each generated token, [SEP] included
	OnProgress func(Progress)                   // called after each layer and token
	OnLogits   func(step int, logits []float32) // next-token logits of each step (valid during the call)
	// Force, when set, feeds these tokens instead of the argmax (teacher forcing), for
	// comparing models step by step on the same prefix. At most len(Force) steps run.
	Force []int
}

// Token is one generated token as it streams out.
type Token struct {
	ID    int
	Piece string // the vocabulary entry, e.g. "##ing" or "[SEP]"
	Text  string // the answer decoded so far
}

// Progress reports the steps done within a phase.
type Progress struct {
	Phase       string // "encode" (vision layers), "prefill" (decoder layers over image and prompt), "decode" (tokens)
	Done, Total int
}

// Timings says where an answer's time went.
type Timings struct {
	Encode       time.Duration // vision encoder and projection; 0 when the image was cached
	ImagePrefill time.Duration // decoder over the image tokens; 0 when cached
	Prompt       time.Duration // decoder over the question
	Decode       time.Duration // generated tokens after the first
	ImageCached  bool
}

// Answer is the result of Ask.
type Answer struct {
	Text         string
	InputIDs     []int  // [CLS] + question tokens
	GeneratedIDs []int  // new tokens, ending with [SEP] when it stopped there
	StoppedBy    string // "eos" or "max_tokens"
	Timings      Timings
}

// ImageState is what a Session keeps per picture: the encoder's outputs and the
// decoder's keys and values for the image positions, which no question changes.
type ImageState struct {
	key       [32]byte
	Vision    []float32 // (N, Dv) vision last_hidden_state, after post_layernorm
	Projected []float32 // (N, D) GitProjection output
	kv        []*ops.KVCache
}

// Session answers questions. It owns the programs' buffers and the caches, so it is not
// safe for concurrent use; make one Session per goroutine.
type Session struct {
	m *Model
	b Backend

	// ImageCacheSize is how many recent pictures keep their state (default 2).
	ImageCacheSize int
	// Yield, when set, runs between layers and tokens: the browser worker returns to its
	// event loop there so that cancel and progress messages get through.
	Yield func()

	images []*ImageState // most recent first
	stats  Stats

	embed      program[*visionEmbedNodes]
	vision     *visionStack // this worker's share of the vision layers (all of them alone)
	workers    int          // how many share them
	postNorm   program[*normNodes]
	projection program[*projectionNodes]
	imagePass  *decoderStack // the decoder layers run whole over the image rows (nil: none)
	imageKV    *imageKVPass  // the last layer, its keys and values alone (nil: it runs whole)
	// sharedImage is the image pass shared with the peers (nil without them).
	sharedImage *sharedImagePass
	head        program[*headNodes]
	text        map[[2]int]*textPrograms // by rows and cache capacity
}

// program is a compiled graph and its inputs.
type program[N any] struct {
	Program
	nodes N
}

type textPrograms struct {
	embed  program[*textEmbedNodes]
	layers *decoderStack
}

// Stats counts the expensive passes a session has run.
type Stats struct {
	ImageEncodes  int // vision encoder + projection runs
	ImagePrefills int // decoder passes over image tokens
	TokenSteps    int // decoder passes over text (prompts and generated tokens)
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats { return s.stats }

// Backend returns what the session runs on.
func (s *Session) Backend() Backend { return s.b }

// NewSession compiles the programs on b (nil: GoBackend()).
func (m *Model) NewSession(b Backend) (*Session, error) {
	if b == nil {
		b = GoBackend()
	}
	c, w := &m.Config, m.Weights
	s := &Session{m: m, b: b, ImageCacheSize: 2, text: map[[2]int]*textPrograms{}}
	var err error
	n := newNet(c, b, nil)
	s.embed.nodes = n.declareVisionEmbed(w)
	if s.embed.Program, err = n.compile(b, n.visionEmbeddings(s.embed.nodes)); err != nil {
		return nil, err
	}
	if err := s.SetPeers(nil); err != nil {
		return nil, err
	}
	n = newNet(c, b, nil)
	nodes, out := n.postNorm()
	if s.postNorm, err = compileProgram(n, b, nodes, out); err != nil {
		return nil, err
	}
	n = newNet(c, b, nil)
	proj, out := n.projection(w)
	if s.projection, err = compileProgram(n, b, proj, out); err != nil {
		return nil, err
	}
	rows := c.NumImageTokens()
	// A backend that takes whole stacks runs the last layer whole, in the stack's program:
	// a second program's trips (the GPU's uploads and reads) would cost it more.
	full := len(w.Decoder)
	if !b.WholeStacks() {
		full--
		if s.imageKV, err = newImageKVPass(c, b, w, rows, imageCacheRows(c)); err != nil {
			return nil, err
		}
	}
	if full > 0 {
		if s.imagePass, err = newDecoderStack(c, b, w, full, rows, imageCacheRows(c), false); err != nil {
			return nil, err
		}
	}
	n = newNet(c, b, nil)
	head, out := n.head(w)
	if s.head, err = compileProgram(n, b, head, out); err != nil {
		return nil, err
	}
	return s, nil
}

// SetPeers shares the vision encoder and the decoder's image pass with other workers
// (nil: none), each computing one shard as NewVisionShard(i, 1+peers.Count(), …) for
// i ≥ 1; this session keeps shard 0.
func (s *Session) SetPeers(p Peers) error {
	count := 1
	if p != nil {
		count += p.Count()
	}
	if count == 1 {
		p = nil
	}
	shares, err := s.m.shardLayers(0, count)
	if err != nil {
		return err
	}
	v, err := newVisionStack(&s.m.Config, s.b, shares, p)
	if err != nil {
		return err
	}
	var shared *sharedImagePass
	if p != nil {
		if shared, err = newSharedImagePass(s.m, s.b, count, p, imageCacheRows(&s.m.Config)); err != nil {
			return err
		}
	}
	s.vision, s.sharedImage, s.workers = v, shared, count
	return nil
}

// Workers is how many workers share the vision encoder.
func (s *Session) Workers() int { return s.workers }

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

func (s *Session) pause(ctx context.Context) error {
	if s.Yield != nil {
		s.Yield()
	}
	return ctx.Err()
}

func progress(o Options, phase string, done, total int) {
	if o.OnProgress != nil {
		o.OnProgress(Progress{Phase: phase, Done: done, Total: total})
	}
}

func clone(v []float32) []float32 { return append([]float32(nil), v...) }

// ---- the picture: cache lookup, encoder, image-token prefill ----------------------------

// Image returns the state of the picture with these pixel values (3×S×S, CHW, as
// imageproc makes them): from the cache, or encoded and run through the decoder now.
func (s *Session) Image(ctx context.Context, pixels []float32, o Options) (*ImageState, Timings, error) {
	var t Timings
	size := s.m.Config.Vision.ImageSize
	if len(pixels) != 3*size*size {
		return nil, t, fmt.Errorf("pixel values hold %d numbers, the model takes 3×%d×%d", len(pixels), size, size)
	}
	key := imageKey(pixels)
	if im := s.lookup(key); im != nil {
		t.ImageCached = true
		return im, t, nil
	}
	start := time.Now()
	im, err := s.encode(ctx, pixels, o)
	if err != nil {
		return nil, t, err
	}
	im.key = key
	t.Encode = time.Since(start)
	start = time.Now()
	if err := s.prefillImage(ctx, im, o); err != nil {
		return nil, t, err
	}
	t.ImagePrefill = time.Since(start)
	keep := max(1, s.ImageCacheSize)
	s.images = append([]*ImageState{im}, s.images[:min(len(s.images), keep-1)]...)
	return im, t, nil
}

// imageKey identifies a picture by its pixel values.
func imageKey(pixels []float32) [32]byte {
	h := sha256.New()
	buf := make([]byte, 4*4096)
	for i := 0; i < len(pixels); i += 4096 {
		chunk := pixels[i:min(i+4096, len(pixels))]
		for j, v := range chunk {
			binary.LittleEndian.PutUint32(buf[4*j:], math.Float32bits(v))
		}
		h.Write(buf[:4*len(chunk)])
	}
	var k [32]byte
	copy(k[:], h.Sum(nil))
	return k
}

// lookup returns the cached state of a picture, making it the most recent.
func (s *Session) lookup(key [32]byte) *ImageState {
	for i, im := range s.images {
		if im.key == key {
			copy(s.images[1:i+1], s.images[:i])
			s.images[0] = im
			return im
		}
	}
	return nil
}

// encode runs the vision encoder and the projection.
func (s *Session) encode(ctx context.Context, pixels []float32, o Options) (*ImageState, error) {
	w := s.m.Weights
	s.stats.ImageEncodes++
	steps := len(w.Vision) + 2
	x, err := s.embed.Run(s.embed.nodes.bind(w, pixels))
	if err != nil {
		return nil, fmt.Errorf("vision embeddings: %w", err)
	}
	hidden := clone(x)
	progress(o, "encode", 1, steps)
	for first := 0; first < len(w.Vision); first += len(s.vision.layers) {
		if err := s.pause(ctx); err != nil {
			return nil, err
		}
		y, err := s.vision.run(first, hidden)
		if errors.Is(err, ops.ErrPeers) {
			// Go on alone: drop the peers and encode this picture again.
			if err := s.SetPeers(nil); err != nil {
				return nil, err
			}
			return s.encode(ctx, pixels, o)
		}
		if err != nil {
			return nil, fmt.Errorf("vision layer %d: %w", first, err)
		}
		copy(hidden, y)
		progress(o, "encode", first+len(s.vision.layers)+1, steps)
	}
	if err := s.pause(ctx); err != nil {
		return nil, err
	}
	vision, err := s.postNorm.Run(concat([]ops.Binding{ops.Bind(s.postNorm.nodes.x, hidden)},
		s.postNorm.nodes.norm.Bind(w.PostNorm.Gamma, w.PostNorm.Beta)))
	if err != nil {
		return nil, fmt.Errorf("post_layernorm: %w", err)
	}
	im := &ImageState{Vision: clone(vision)}
	proj, err := s.projection.Run(s.projection.nodes.bind(w, im.Vision))
	if err != nil {
		return nil, fmt.Errorf("visual projection: %w", err)
	}
	im.Projected = clone(proj)
	progress(o, "encode", steps, steps)
	return im, nil
}

// prefillImage runs the decoder over the image rows: their keys and values are the same
// for every question, so they are computed once, here.
func (s *Session) prefillImage(ctx context.Context, im *ImageState, o Options) error {
	c, w := &s.m.Config, s.m.Weights
	n := c.NumImageTokens()
	s.stats.ImagePrefills++
	for range w.Decoder {
		im.kv = append(im.kv, ops.NewKVCache(imageCacheRows(c), c.HiddenSize))
	}
	h := clone(im.Projected)
	// a run of step layers from first: a stack alone, or a layer shared with the peers
	var step int
	var run func(first int) ([]float32, error)
	switch {
	case s.sharedImage != nil:
		step, run = 1, func(first int) ([]float32, error) { return s.sharedImage.run(first, h, im.kv[first]) }
	case s.imagePass != nil:
		step, run = len(s.imagePass.layers), func(first int) ([]float32, error) { return s.imagePass.run(w, first, h, im.kv) }
	}
	full := len(w.Decoder)
	if s.imageKV != nil {
		full--
	}
	for first := 0; first < full; first += step {
		if err := s.pause(ctx); err != nil {
			return err
		}
		y, err := run(first)
		if errors.Is(err, ops.ErrPeers) {
			// Go on alone: drop the peers and run the pass again.
			if err := s.SetPeers(nil); err != nil {
				return err
			}
			im.kv = nil
			return s.prefillImage(ctx, im, o)
		}
		if err != nil {
			return fmt.Errorf("decoder layer %d over the image: %w", first, err)
		}
		advance(im.kv[first:first+step], n)
		copy(h, y)
		progress(o, "prefill", first+step, len(w.Decoder))
	}
	if s.imageKV != nil {
		if err := s.imageKV.run(w, h, im.kv[full]); err != nil {
			return fmt.Errorf("decoder layer %d over the image: %w", full, err)
		}
		advance(im.kv[full:], n)
		progress(o, "prefill", len(w.Decoder), len(w.Decoder))
	}
	return nil
}

// imageCacheRows is the KV caches' first capacity: the image rows and a short question.
func imageCacheRows(c *Config) int { return c.NumImageTokens() + 64 }

func advance(kv []*ops.KVCache, rows int) {
	for _, c := range kv {
		c.Len += rows
	}
}

// ---- the question: prompt, then greedy decoding -----------------------------------------

// Ask answers question about the picture with these pixel values (CHW float32, as
// imageproc.Config.Preprocess makes them) by greedy decoding.
func (s *Session) Ask(ctx context.Context, pixels []float32, question string, o Options) (*Answer, error) {
	c := &s.m.Config
	maxNew := o.MaxTokens
	if maxNew == 0 {
		maxNew = DefaultMaxTokens
	}
	if maxNew < 0 {
		return nil, fmt.Errorf("%w: %d", ErrBadMaxTokens, maxNew)
	}
	prompt, err := s.m.Tokenizer.Prompt(question)
	if err != nil {
		return nil, err
	}
	if len(prompt) > c.MaxPositionEmbeddings {
		return nil, fmt.Errorf("%w: %d tokens, the model reads at most %d", ErrQuestionTooLong, len(prompt), c.MaxPositionEmbeddings)
	}
	// A generated token is fed back at the next position; the last one is not.
	maxNew = min(maxNew, c.MaxPositionEmbeddings-len(prompt)+1)

	im, t, err := s.Image(ctx, pixels, o)
	if err != nil {
		return nil, err
	}
	for _, kv := range im.kv {
		kv.Truncate(c.NumImageTokens()) // forget the previous question
	}
	ans := &Answer{InputIDs: prompt, StoppedBy: "max_tokens"}
	start := time.Now()
	logits, err := s.forwardText(ctx, im, prompt, 0, o, "prefill")
	if err != nil {
		return nil, err
	}
	t.Prompt = time.Since(start)
	start = time.Now()
	for step := 0; step < maxNew; step++ {
		if o.OnLogits != nil {
			o.OnLogits(step, logits)
		}
		next := argmax(logits)
		if o.Force != nil {
			if step >= len(o.Force) {
				break
			}
			next = o.Force[step]
		}
		ans.GeneratedIDs = append(ans.GeneratedIDs, next)
		if o.OnToken != nil {
			o.OnToken(Token{ID: next, Piece: s.m.Tokenizer.Token(next), Text: s.m.Tokenizer.Decode(ans.GeneratedIDs)})
		}
		progress(o, "decode", step+1, maxNew)
		if next == c.EosTokenID {
			ans.StoppedBy = "eos"
			break
		}
		if step == maxNew-1 {
			break
		}
		if logits, err = s.forwardText(ctx, im, []int{next}, len(prompt)+step, o, ""); err != nil {
			return nil, err
		}
	}
	t.Decode = time.Since(start)
	ans.Text = s.m.Tokenizer.Decode(ans.GeneratedIDs)
	ans.Timings = t
	return ans, nil
}

// forwardText runs the decoder over text tokens at positions start… with the image's
// cache, appending their keys and values, and returns the next-token logits.
func (s *Session) forwardText(ctx context.Context, im *ImageState, ids []int, start int, o Options, phase string) ([]float32, error) {
	w := s.m.Weights
	rows, d := len(ids), s.m.Config.HiddenSize
	for _, kv := range im.kv {
		kv.Reserve(kv.Len + rows)
	}
	p, err := s.textPrograms(rows, im.kv[0].Cap())
	if err != nil {
		return nil, err
	}
	idv, pos := make([]int64, rows), make([]int64, rows)
	for i, id := range ids {
		idv[i], pos[i] = int64(id), int64(start+i)
	}
	if err := s.pause(ctx); err != nil {
		return nil, err
	}
	s.stats.TokenSteps++
	x, err := p.embed.Run(p.embed.nodes.bind(w, idv, pos))
	if err != nil {
		return nil, fmt.Errorf("text embeddings: %w", err)
	}
	h := clone(x)
	for first := 0; first < len(w.Decoder); first += len(p.layers.layers) {
		// A token's six layers take a few ms: one pause per token (above) keeps the
		// worker responsive; a pause per layer cost more than the layers (a yield
		// is a timer, ≥1 ms, 4 ms once nested).
		if first > 0 && rows > 1 {
			if err := s.pause(ctx); err != nil {
				return nil, err
			}
		} else if err := ctx.Err(); err != nil {
			return nil, err
		}
		y, err := p.layers.run(w, first, h, im.kv)
		if err != nil {
			return nil, fmt.Errorf("decoder layer %d: %w", first, err)
		}
		advance(im.kv[first:first+len(p.layers.layers)], rows)
		copy(h, y)
		if phase != "" {
			progress(o, phase, first+len(p.layers.layers), len(w.Decoder))
		}
	}
	logits, err := s.head.Run(s.head.nodes.bind(w, h[(rows-1)*d:]))
	if err != nil {
		return nil, fmt.Errorf("output head: %w", err)
	}
	return logits, nil
}

// textPrograms returns the programs for rows text rows over caches of the given
// capacity, compiling them on first use. Those for the single-token step stay; those
// for prompt lengths are few and small.
func (s *Session) textPrograms(rows, capacity int) (*textPrograms, error) {
	key := [2]int{rows, capacity}
	if p, ok := s.text[key]; ok {
		return p, nil
	}
	if len(s.text) > 8 {
		for k := range s.text {
			if k[0] != 1 {
				delete(s.text, k)
			}
		}
	}
	c, w := &s.m.Config, s.m.Weights
	p := &textPrograms{}
	n := newNet(c, s.b, nil)
	nodes, out := n.textEmbeddings(w, rows)
	var err error
	if p.embed, err = compileProgram(n, s.b, nodes, out); err != nil {
		return nil, err
	}
	if p.layers, err = newDecoderStack(c, s.b, w, len(w.Decoder), rows, capacity, true); err != nil {
		return nil, err
	}
	s.text[key] = p
	return p, nil
}

// argmax returns the first index of the largest value, as torch.argmax does.
func argmax(v []float32) int {
	best := 0
	for i, x := range v {
		if x > v[best] || (math.IsNaN(float64(x)) && !math.IsNaN(float64(v[best]))) {
			best = i
		}
	}
	return best
}
