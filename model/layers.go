package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"gitvqa/model/ops"
)

// The forward pass, in model order. Each layer kind has its graph inputs (declared in
// the shapes of its weights), the function that says what the layer computes, and the
// binding of one layer's weights to those inputs. One graph serves every layer of a kind
// (its weights are bound before each run), so compiling stays cheap, the session can
// check for cancellation and yield between layers, and memory is bounded by one layer's
// activations; a backend that asks for whole stacks gets each stack as one graph.

// net builds graphs whose ops run on one backend.
type net struct {
	*ops.Builder
	c     *Config
	peers ops.Peers // the workers sharing the vision layers; nil: this one alone
}

func newNet(c *Config, b Backend, peers ops.Peers) *net {
	return &net{Builder: ops.NewBuilder(b.Kernels(), b.Profile()), c: c, peers: peers}
}

// compile finishes the graph: the builder's first error, or the backend's program.
func (n *net) compile(b Backend, out *G.Node) (Program, error) {
	if n.Err != nil {
		return nil, n.Err
	}
	return b.Compile(n.G, out)
}

func compileProgram[N any](n *net, b Backend, nodes N, out *G.Node) (program[N], error) {
	p, err := n.compile(b, out)
	return program[N]{p, nodes}, err
}

func concat(bs ...[]ops.Binding) []ops.Binding {
	var out []ops.Binding
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

// ---- vision embeddings ---------------------------------------------------------------

type visionEmbedNodes struct {
	pixels          *G.Node // (3, S, S)
	patch           ops.LinearNodes
	class, position *G.Node
	pre             ops.NormNodes
}

func (n *net) declareVisionEmbed(w *Weights) *visionEmbedNodes {
	v := n.c.Vision
	return &visionEmbedNodes{
		pixels:   n.Tensor3("pixel_values", 3, v.ImageSize, v.ImageSize),
		patch:    n.LinearWeights("patch_embedding", &w.PatchEmbed, false),
		class:    n.Vector("class_embedding", v.HiddenSize),
		position: n.Matrix("position_embedding", n.c.NumImageTokens(), v.HiddenSize),
		pre:      n.NormWeights("pre_layrnorm", v.HiddenSize),
	}
}

// visionEmbeddings: the patches (a stride-p convolution, as a Linear over patch rows),
// the class token and positions, then pre_layrnorm.
func (n *net) visionEmbeddings(e *visionEmbedNodes) *G.Node {
	x := n.Patchify(e.pixels, n.c.Vision.PatchSize)
	x = n.Linear(x, e.patch, "")
	x = n.ClassAndPosition(x, e.class, e.position)
	return n.LayerNorm(x, e.pre, n.c.Vision.LayerNormEps)
}

func (e *visionEmbedNodes) bind(w *Weights, pixels []float32) []ops.Binding {
	return concat(
		[]ops.Binding{ops.Bind(e.pixels, pixels), ops.Bind(e.class, w.ClassEmbed), ops.Bind(e.position, w.VisionPos)},
		e.patch.Bind(&w.PatchEmbed, nil),
		e.pre.Bind(w.PreNorm.Gamma, w.PreNorm.Beta))
}

// ---- vision encoder layer (pre-LN CLIP) ---------------------------------------------

// Block kinds: the two halves of a vision layer that workers share.
const (
	BlockAttention = "attention"
	BlockMLP       = "mlp"
)

type visionLayerNodes struct {
	index                *G.Node // which layer: the peers run the same one
	heads                int     // this worker's share of the heads
	norm1, norm2         ops.NormNodes
	q, k, v, o, fc1, fc2 ops.LinearNodes
}

// declareVisionLayer declares a layer's inputs in the shapes of l (this worker's share
// of a layer: its heads and MLP units).
func (n *net) declareVisionLayer(l *VisionLayer, name string) *visionLayerNodes {
	d := n.c.Vision.HiddenSize
	lin := func(part string, w *Linear) ops.LinearNodes {
		return n.LinearWeights(name+part, &w.W, w.B != nil)
	}
	return &visionLayerNodes{
		index: n.Int(name + "index"), heads: l.Q.W.Rows / (d / n.c.Vision.NumAttentionHeads),
		norm1: n.NormWeights(name+"layer_norm1", d), norm2: n.NormWeights(name+"layer_norm2", d),
		q: lin("q_proj", &l.Q), k: lin("k_proj", &l.K), v: lin("v_proj", &l.V), o: lin("out_proj", &l.O),
		fc1: lin("fc1", &l.FC1), fc2: lin("fc2", &l.FC2),
	}
}

// visionLayer: x + attention(LN1(x)), then + MLP(LN2(·)); each block shared with the
// peers, if any.
func (n *net) visionLayer(x *G.Node, l *visionLayerNodes) *G.Node {
	x = n.TensorParallel(x, l.index, BlockAttention, n.peers, func(x *G.Node) *G.Node { return n.visionAttention(x, l) })
	x = n.TensorParallel(x, l.index, BlockMLP, n.peers, func(x *G.Node) *G.Node { return n.visionMLP(x, l) })
	return x
}

// visionAttention is this worker's share of the attention block: its heads, then the
// matching columns of the output projection (whose bias only shard 0 holds), so the
// shares add up to the block.
func (n *net) visionAttention(x *G.Node, l *visionLayerNodes) *G.Node {
	h := n.LayerNorm(x, l.norm1, n.c.Vision.LayerNormEps)
	a := n.Attention(n.Linear(h, l.q, ""), n.Linear(h, l.k, ""), n.Linear(h, l.v, ""), l.heads)
	return n.Linear(a, l.o, "")
}

// visionMLP is this worker's share of the MLP block: its hidden units, then the
// matching columns of the second layer.
func (n *net) visionMLP(x *G.Node, l *visionLayerNodes) *G.Node {
	h := n.LayerNorm(x, l.norm2, n.c.Vision.LayerNormEps)
	return n.Linear(n.Linear(h, l.fc1, n.c.Vision.HiddenAct), l.fc2, "")
}

func (n *visionLayerNodes) bind(l *VisionLayer, index int) []ops.Binding {
	return concat([]ops.Binding{ops.BindInt(n.index, index)},
		n.norm1.Bind(l.Norm1.Gamma, l.Norm1.Beta),
		n.q.Bind(&l.Q.W, l.Q.B), n.k.Bind(&l.K.W, l.K.B), n.v.Bind(&l.V.W, l.V.B), n.o.Bind(&l.O.W, l.O.B),
		n.norm2.Bind(l.Norm2.Gamma, l.Norm2.Beta),
		n.fc1.Bind(&l.FC1.W, l.FC1.B), n.fc2.Bind(&l.FC2.W, l.FC2.B))
}

// ---- projection: post_layernorm, then GitProjection (Linear + LayerNorm) --------------

type normNodes struct {
	x    *G.Node
	norm ops.NormNodes
}

// postNorm is the vision model's last step: its output is last_hidden_state.
func (n *net) postNorm() (*normNodes, *G.Node) {
	d := n.c.Vision.HiddenSize
	p := &normNodes{x: n.Matrix("hidden", n.c.NumImageTokens(), d), norm: n.NormWeights("post_layernorm", d)}
	return p, n.LayerNorm(p.x, p.norm, n.c.Vision.LayerNormEps)
}

type projectionNodes struct {
	x    *G.Node
	proj ops.LinearNodes
	norm ops.NormNodes
}

func (n *net) projection(w *Weights) (*projectionNodes, *G.Node) {
	p := &projectionNodes{
		x:    n.Matrix("vision", n.c.NumImageTokens(), n.c.Vision.HiddenSize),
		proj: n.LinearWeights("visual_projection.0", &w.Proj.W, true),
		norm: n.NormWeights("visual_projection.1", n.c.HiddenSize),
	}
	return p, n.LayerNorm(n.Linear(p.x, p.proj, ""), p.norm, n.c.Vision.LayerNormEps)
}

func (p *projectionNodes) bind(w *Weights, vision []float32) []ops.Binding {
	return concat([]ops.Binding{ops.Bind(p.x, vision)}, p.proj.Bind(&w.Proj.W, w.Proj.B), p.norm.Bind(w.ProjNorm.Gamma, w.ProjNorm.Beta))
}

// ---- text embeddings -----------------------------------------------------------------

type textEmbedNodes struct {
	ids, pos *G.Node // int64 (n)
	word     ops.LinearNodes
	position *G.Node
	norm     ops.NormNodes
}

// textEmbeddings: word + absolute position embeddings, then LayerNorm, for rows text
// tokens.
func (n *net) textEmbeddings(w *Weights, rows int) (*textEmbedNodes, *G.Node) {
	e := &textEmbedNodes{
		ids: n.Int64s("input_ids", rows), pos: n.Int64s("position_ids", rows),
		word:     n.LinearWeights("word_embeddings", &w.WordEmbed, false),
		position: n.Matrix("position_embeddings", n.c.MaxPositionEmbeddings, n.c.HiddenSize),
		norm:     n.NormWeights("embeddings.LayerNorm", n.c.HiddenSize),
	}
	x := n.TokenEmbedding(e.ids, e.pos, e.word, e.position)
	return e, n.LayerNorm(x, e.norm, n.c.LayerNormEps)
}

func (e *textEmbedNodes) bind(w *Weights, ids, pos []int64) []ops.Binding {
	return concat([]ops.Binding{ops.BindInt64s(e.ids, ids), ops.BindInt64s(e.pos, pos), ops.Bind(e.position, w.TextPos)},
		e.word.Bind(&w.WordEmbed, nil), e.norm.Bind(w.EmbedNorm.Gamma, w.EmbedNorm.Beta))
}

// ---- text decoder layer (post-LN BERT, GIT's attention mask) ---------------------------

type decoderLayerNodes struct {
	q, k, v, o, ffnIn, ffnOut ops.LinearNodes
	attnNorm, outNorm         ops.NormNodes
	cache                     ops.KVNodes // this layer's keys and values
}

// declareDecoderLayer declares a layer's inputs, for caches of capacity rows.
func (n *net) declareDecoderLayer(l *DecoderLayer, name string, capacity int) *decoderLayerNodes {
	d := n.c.HiddenSize
	lin := func(part string, w *Linear) ops.LinearNodes { return n.LinearWeights(name+part, &w.W, true) }
	return &decoderLayerNodes{
		q: lin("query", &l.Q), k: lin("key", &l.K), v: lin("value", &l.V), o: lin("attention.output.dense", &l.O),
		ffnIn: lin("intermediate.dense", &l.FFNIn), ffnOut: lin("output.dense", &l.FFNOut),
		attnNorm: n.NormWeights(name+"attention.output.LayerNorm", d), outNorm: n.NormWeights(name+"output.LayerNorm", d),
		cache: n.KVCacheInputs(name+"cache", capacity, d),
	}
}

// decoderLayer: attention over the cache and these rows, + x, LN; FFN, + residual, LN.
// causal: the rows are text (each sees the image and the text up to itself); otherwise
// they are the image's rows, which see each other and nothing else.
func (n *net) decoderLayer(x *G.Node, l *decoderLayerNodes, causal bool) *G.Node {
	eps := n.c.LayerNormEps
	a := n.CachedAttention(n.Linear(x, l.q, ""), n.Linear(x, l.k, ""), n.Linear(x, l.v, ""), l.cache, n.c.NumAttentionHeads, causal)
	x = n.LayerNorm(n.Add(n.Linear(a, l.o, ""), x), l.attnNorm, eps)
	f := n.Linear(n.Linear(x, l.ffnIn, n.c.HiddenAct), l.ffnOut, "")
	return n.LayerNorm(n.Add(f, x), l.outNorm, eps)
}

func (n *decoderLayerNodes) bind(l *DecoderLayer, kv *ops.KVCache) []ops.Binding {
	return concat(
		n.q.Bind(&l.Q.W, l.Q.B), n.k.Bind(&l.K.W, l.K.B), n.v.Bind(&l.V.W, l.V.B), n.o.Bind(&l.O.W, l.O.B),
		n.attnNorm.Bind(l.AttnNorm.Gamma, l.AttnNorm.Beta),
		n.ffnIn.Bind(&l.FFNIn.W, l.FFNIn.B), n.ffnOut.Bind(&l.FFNOut.W, l.FFNOut.B),
		n.outNorm.Bind(l.OutNorm.Gamma, l.OutNorm.Beta),
		n.cache.Bind(kv))
}

// ---- output head ------------------------------------------------------------------------

type headNodes struct {
	x    *G.Node // the last hidden row (1, D)
	head ops.LinearNodes
}

func (n *net) head(w *Weights) (*headNodes, *G.Node) {
	h := &headNodes{x: n.Matrix("last_hidden", 1, n.c.HiddenSize), head: n.LinearWeights("output", &w.Head.W, true)}
	return h, n.Linear(h.x, h.head, "")
}

func (h *headNodes) bind(w *Weights, last []float32) []ops.Binding {
	return concat([]ops.Binding{ops.Bind(h.x, last)}, h.head.Bind(&w.Head.W, w.Head.B))
}

// ---- stacks: runs of layers compiled as one program ------------------------------------

// visionStack runs the vision layers, count at a time: one program whose count layers
// each have their own inputs, bound to consecutive layers' weights before each run.
type visionStack struct {
	prog   Program
	x      *G.Node
	layers []*visionLayerNodes
	shares []VisionLayer // this worker's share of every layer
}

func newVisionStack(c *Config, b Backend, shares []VisionLayer, peers ops.Peers) (*visionStack, error) {
	count := 1
	if b.WholeStacks() {
		count = len(shares)
	}
	n := newNet(c, b, peers)
	s := &visionStack{x: n.Matrix("hidden", c.NumImageTokens(), c.Vision.HiddenSize), shares: shares}
	x := s.x
	for i := 0; i < count; i++ {
		l := n.declareVisionLayer(&shares[0], fmt.Sprintf("layers.%d.", i))
		s.layers = append(s.layers, l)
		x = n.visionLayer(x, l)
	}
	var err error
	s.prog, err = n.compile(b, x)
	return s, err
}

// run runs the program from layer first on hidden, the stack's input.
func (s *visionStack) run(first int, hidden []float32) ([]float32, error) {
	var b []ops.Binding
	for i, l := range s.layers {
		b = append(b, l.bind(&s.shares[first+i], first+i)...)
	}
	return s.prog.Run(b, []ops.Binding{ops.Bind(s.x, hidden)})
}

// decoderStack runs the decoder layers over rows new rows, count at a time.
type decoderStack struct {
	prog   Program
	x      *G.Node
	layers []*decoderLayerNodes
}

// newDecoderStack compiles a run of decoder layers over rows: one a program, or all of
// layers (the first layers of the decoder) where the backend takes whole stacks.
func newDecoderStack(c *Config, b Backend, w *Weights, layers, rows, capacity int, causal bool) (*decoderStack, error) {
	count := 1
	if b.WholeStacks() {
		count = layers
	}
	n := newNet(c, b, nil)
	s := &decoderStack{x: n.Matrix("hidden", rows, c.HiddenSize)}
	x := s.x
	for i := 0; i < min(count, layers); i++ {
		l := n.declareDecoderLayer(&w.Decoder[0], fmt.Sprintf("layer.%d.", i), capacity)
		s.layers = append(s.layers, l)
		x = n.decoderLayer(x, l, causal)
	}
	var err error
	s.prog, err = n.compile(b, x)
	return s, err
}

// run runs the program from layer first on hidden, appending to those layers' caches.
func (s *decoderStack) run(w *Weights, first int, hidden []float32, kv []*ops.KVCache) ([]float32, error) {
	var b []ops.Binding
	for i, l := range s.layers {
		b = append(b, l.bind(&w.Decoder[first+i], kv[first+i])...)
	}
	return s.prog.Run(b, []ops.Binding{ops.Bind(s.x, hidden)})
}

// imageKVPass is the image pass's last decoder layer. The image rows' outputs of that
// layer would go nowhere (the text reads only their keys and values), so it computes
// their keys and values alone, into the cache: a sixth of the image pass's work for
// git-large's 6 layers (its queries, attention, output and MLP) is not done. (Backends
// that take whole stacks run the layer whole instead: see NewSession.)
type imageKVPass struct {
	prog  Program
	x     *G.Node
	k, v  ops.LinearNodes
	cache ops.KVNodes
}

func newImageKVPass(c *Config, b Backend, w *Weights, rows, capacity int) (*imageKVPass, error) {
	n := newNet(c, b, nil)
	l := &w.Decoder[len(w.Decoder)-1]
	p := &imageKVPass{x: n.Matrix("hidden", rows, c.HiddenSize),
		k: n.LinearWeights("key", &l.K.W, true), v: n.LinearWeights("value", &l.V.W, true),
		cache: n.KVCacheInputs("cache", capacity, c.HiddenSize)}
	var err error
	p.prog, err = n.compile(b, n.WriteKV(p.cache, n.Linear(p.x, p.k, ""), n.Linear(p.x, p.v, "")))
	return p, err
}

// run writes the last layer's keys and values of hidden's rows into kv (empty).
func (p *imageKVPass) run(w *Weights, hidden []float32, kv *ops.KVCache) error {
	l := &w.Decoder[len(w.Decoder)-1]
	_, err := p.prog.Run(concat(p.k.Bind(&l.K.W, l.K.B), p.v.Bind(&l.V.W, l.V.B), p.cache.Bind(kv)), []ops.Binding{ops.Bind(p.x, hidden)})
	return err
}
