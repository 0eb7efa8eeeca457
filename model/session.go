package model

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"gorgonia.org/tensor"

	"gitvqa/model/kernel"
	"gitvqa/model/nn"
)

// DefaultMaxNewTokens is generate()'s answer budget unless the caller asks otherwise.
const DefaultMaxNewTokens = 20

// ErrQuestionTooLong is returned when the prompt does not fit the model's positions.
var ErrQuestionTooLong = errors.New("question too long")

// Options tune one Ask.
type Options struct {
	MaxNewTokens int                              // 0: DefaultMaxNewTokens
	OnToken      func(Token)                      // called for each generated token, [SEP] included
	OnProgress   func(Progress)                   // called after each layer and token
	OnLogits     func(step int, logits []float32) // next-token logits of each step (valid during the call)
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

// Progress reports work done within a phase.
type Progress struct {
	Phase       string // "encode" (vision layers), "prefill" (decoder over image and prompt), "decode" (tokens)
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
	StoppedBy    string // "eos" or "max_new_tokens"
	Timings      Timings
}

// ImageState is what a Session keeps per picture: the encoder's outputs and the
// decoder's keys and values for the image positions, which no question changes.
type ImageState struct {
	key       [32]byte
	Vision    []float32 // (N, Dv) vision last_hidden_state, after post_layernorm
	Projected []float32 // (N, D) GitProjection output
	kv        []*nn.KVCache
}

// Session answers questions. It owns the graphs' buffers and the caches, so it is not
// safe for concurrent use; make one Session per goroutine.
type Session struct {
	m *Model

	// ImageCacheSize is how many recent pictures keep their state (default 2).
	ImageCacheSize int
	// Yield, when set, runs between layers and tokens: the browser worker returns to its
	// event loop there so that cancel and progress messages get through.
	Yield func()

	images []*ImageState // most recent first
	stats  Stats

	visionEmbed *visionEmbedGraph
	shard       *VisionShard // this worker's share of the vision layers (all of them alone)
	peers       Peers        // the other shards, if any
	partial     []float32
	projection  *projectionGraph
	imageLayer  *decoderLayerGraph
	head        *headGraph
	textEmbed   map[int]*textEmbedGraph
	textLayer   map[int]*decoderLayerGraph
}

// Stats counts the expensive passes a session has run.
type Stats struct {
	ImageEncodes  int // vision encoder + projection runs
	ImagePrefills int // decoder passes over image tokens
	TokenSteps    int // decoder passes over text (prompts and generated tokens)
}

// Stats returns the session's counters.
func (s *Session) Stats() Stats { return s.stats }

// NewSession compiles the graphs.
func (m *Model) NewSession() (*Session, error) {
	c, w := &m.Config, m.Weights
	s := &Session{m: m, ImageCacheSize: 2, textEmbed: map[int]*textEmbedGraph{}, textLayer: map[int]*decoderLayerGraph{}}
	var err error
	if s.visionEmbed, err = newVisionEmbedGraph(c, w); err != nil {
		return nil, err
	}
	if s.shard, err = m.NewVisionShard(0, 1); err != nil {
		return nil, err
	}
	if s.projection, err = newProjectionGraph(c, w); err != nil {
		return nil, err
	}
	if s.imageLayer, err = newDecoderLayerGraph(c, w, c.NumImageTokens(), false); err != nil {
		return nil, err
	}
	if s.head, err = newHeadGraph(c, w); err != nil {
		return nil, err
	}
	return s, nil
}

// SetPeers shares the vision encoder with other workers (nil: none), each computing
// one shard as NewVisionShard(i, 1+peers.Count()) for i ≥ 1; this session keeps shard 0.
func (s *Session) SetPeers(p Peers) error {
	count := 1
	if p != nil {
		count += p.Count()
	}
	shard, err := s.m.NewVisionShard(0, count)
	if err != nil {
		return err
	}
	s.shard, s.peers = shard, p
	if count == 1 {
		s.peers = nil
	}
	return nil
}

// Workers is how many workers share the vision encoder.
func (s *Session) Workers() int { return s.shard.Count }

// block adds a vision layer's attention or MLP block, and its bias, to hidden: the
// local shard's partial sum plus the peers'.
func (s *Session) block(kind string, layer int, hidden, bias []float32) error {
	var wait func([]float32) error
	if s.peers != nil {
		wait = s.peers.Start(kind, layer, hidden)
	}
	done := kernel.Timed("vision.local")
	part, err := s.shard.Block(kind, layer, hidden)
	done()
	if err != nil {
		return err
	}
	s.partial = append(s.partial[:0], part...)
	if wait != nil {
		if err := wait(s.partial); err != nil {
			return fmt.Errorf("%w: %v", errPeers, err)
		}
	}
	d := len(bias)
	for r := 0; r < len(hidden); r += d {
		h, p := hidden[r:r+d], s.partial[r:r+d]
		for j, b := range bias {
			h[j] += p[j] + b
		}
	}
	return nil
}

var errPeers = errors.New("a worker sharing the image encoder failed")

// Model returns the session's model.
func (s *Session) Model() *Model { return s.m }

func (s *Session) pause(ctx context.Context) error {
	if s.Yield != nil {
		s.Yield()
	}
	return ctx.Err()
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

// Image returns the state of the picture with these pixel values (3×S×S, CHW, as
// imageproc makes them), computing it unless it is cached. cached says which.
func (s *Session) Image(ctx context.Context, pixels []float32, o Options) (st *ImageState, cached bool, t Timings, err error) {
	c := &s.m.Config
	size := c.Vision.ImageSize
	if len(pixels) != 3*size*size {
		return nil, false, t, fmt.Errorf("pixel values hold %d numbers, the model takes 3×%d×%d", len(pixels), size, size)
	}
	key := imageKey(pixels)
	for i, im := range s.images {
		if im.key == key {
			copy(s.images[1:i+1], s.images[:i])
			s.images[0] = im
			t.ImageCached = true
			return im, true, t, nil
		}
	}
	progress := func(phase string, done, total int) {
		if o.OnProgress != nil {
			o.OnProgress(Progress{Phase: phase, Done: done, Total: total})
		}
	}
	n, dv := c.NumImageTokens(), c.Vision.HiddenSize
	start := time.Now()
	s.stats.ImageEncodes++
	encodeSteps := len(s.m.Weights.Vision) + 2
	x, err := s.visionEmbed.run(s.visionEmbed.bind, []binding{{s.visionEmbed.pixels, dense(pixels, 3, size, size)}})
	if err != nil {
		return nil, false, t, fmt.Errorf("vision embeddings: %w", err)
	}
	hidden := append([]float32(nil), x...)
	progress("encode", 1, encodeSteps)
	for i := range s.m.Weights.Vision {
		if err := s.pause(ctx); err != nil {
			return nil, false, t, err
		}
		l := &s.m.Weights.Vision[i]
		err := s.block(BlockAttention, i, hidden, l.O.B)
		if err == nil {
			err = s.block(BlockMLP, i, hidden, l.FC2.B)
		}
		if errors.Is(err, errPeers) {
			// Go on alone: drop the peers and encode this picture again.
			s.SetPeers(nil)
			return s.Image(ctx, pixels, o)
		}
		if err != nil {
			return nil, false, t, fmt.Errorf("vision layer %d: %w", i, err)
		}
		progress("encode", i+2, encodeSteps)
	}
	if err := s.pause(ctx); err != nil {
		return nil, false, t, err
	}
	proj, err := s.projection.run(s.projection.bind, []binding{{s.projection.x, dense(hidden, n, dv)}})
	if err != nil {
		return nil, false, t, fmt.Errorf("visual projection: %w", err)
	}
	st = &ImageState{
		key:       key,
		Vision:    append([]float32(nil), s.projection.vision.Value().(*tensor.Dense).Float32s()...),
		Projected: append([]float32(nil), proj...),
	}
	progress("encode", encodeSteps, encodeSteps)
	t.Encode = time.Since(start)

	// The decoder over the image rows: their keys and values are the same for every
	// question, so they are computed once here.
	start = time.Now()
	s.stats.ImagePrefills++
	d := c.HiddenSize
	h := append([]float32(nil), st.Projected...)
	for i, b := range s.imageLayer.layers {
		if err := s.pause(ctx); err != nil {
			return nil, false, t, err
		}
		kv := nn.NewKVCache(n+64, d)
		s.imageLayer.attn.Cache = kv
		y, err := s.imageLayer.run(b, []binding{{s.imageLayer.x, dense(h, n, d)}})
		s.imageLayer.attn.Cache = nil
		if err != nil {
			return nil, false, t, fmt.Errorf("decoder layer %d over the image: %w", i, err)
		}
		copy(h, y)
		st.kv = append(st.kv, kv)
		progress("prefill", i+1, len(s.imageLayer.layers))
	}
	t.ImagePrefill = time.Since(start)
	keep := max(1, s.ImageCacheSize)
	s.images = append([]*ImageState{st}, s.images[:min(len(s.images), keep-1)]...)
	return st, false, t, nil
}

// Ask answers question about the picture with these pixel values (CHW float32, as
// imageproc.Config.Preprocess makes them) by greedy decoding.
func (s *Session) Ask(ctx context.Context, pixels []float32, question string, o Options) (*Answer, error) {
	c := &s.m.Config
	maxNew := o.MaxNewTokens
	if maxNew == 0 {
		maxNew = DefaultMaxNewTokens
	}
	if maxNew < 0 {
		return nil, fmt.Errorf("max new tokens %d is negative", maxNew)
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

	im, _, t, err := s.Image(ctx, pixels, o)
	if err != nil {
		return nil, err
	}
	n := c.NumImageTokens()
	for _, kv := range im.kv {
		kv.Truncate(n) // forget the previous question
	}
	ans := &Answer{InputIDs: prompt, StoppedBy: "max_new_tokens"}
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
		if o.OnProgress != nil {
			o.OnProgress(Progress{Phase: "decode", Done: step + 1, Total: maxNew})
		}
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
	c := &s.m.Config
	n, d := len(ids), c.HiddenSize
	emb, layer, err := s.textGraphs(n)
	if err != nil {
		return nil, err
	}
	idv, pos := make([]int64, n), make([]int64, n)
	for i, id := range ids {
		idv[i], pos[i] = int64(id), int64(start+i)
	}
	if err := s.pause(ctx); err != nil {
		return nil, err
	}
	s.stats.TokenSteps++
	x, err := emb.run(emb.bind, []binding{{emb.ids, int64Dense(idv)}, {emb.pos, int64Dense(pos)}})
	if err != nil {
		return nil, fmt.Errorf("text embeddings: %w", err)
	}
	h := append([]float32(nil), x...)
	for i, b := range layer.layers {
		if i > 0 {
			if err := s.pause(ctx); err != nil {
				return nil, err
			}
		}
		layer.attn.Cache = im.kv[i]
		y, err := layer.run(b, []binding{{layer.x, dense(h, n, d)}})
		layer.attn.Cache = nil
		if err != nil {
			return nil, fmt.Errorf("decoder layer %d: %w", i, err)
		}
		copy(h, y)
		if phase != "" && o.OnProgress != nil {
			o.OnProgress(Progress{Phase: phase, Done: i + 1, Total: len(layer.layers)})
		}
	}
	logits, err := s.head.run(s.head.bind, []binding{{s.head.x, dense(h[(n-1)*d:], 1, d)}})
	if err != nil {
		return nil, fmt.Errorf("output head: %w", err)
	}
	return logits, nil
}

// textGraphs returns the graphs for n text rows, compiling them on first use. Graphs
// for the single-token step stay; those for prompt lengths are few and small.
func (s *Session) textGraphs(n int) (*textEmbedGraph, *decoderLayerGraph, error) {
	if len(s.textLayer) > 8 {
		for k := range s.textLayer {
			if k != 1 {
				delete(s.textLayer, k)
				delete(s.textEmbed, k)
			}
		}
	}
	emb, ok := s.textEmbed[n]
	if !ok {
		var err error
		if emb, err = newTextEmbedGraph(&s.m.Config, s.m.Weights, n); err != nil {
			return nil, nil, err
		}
		s.textEmbed[n] = emb
	}
	layer, ok := s.textLayer[n]
	if !ok {
		var err error
		if layer, err = newDecoderLayerGraph(&s.m.Config, s.m.Weights, n, true); err != nil {
			return nil, nil, err
		}
		s.textLayer[n] = layer
	}
	return emb, layer, nil
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
