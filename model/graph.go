package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernel"
	"gitvqa/model/nn"
)

// The model runs as a handful of small Gorgonia graphs, each compiled once into a tape
// machine and run many times: one graph serves all 24 vision layers (the layer's
// weights are bound to its inputs before each run), another all decoder layers. That
// keeps compilation cheap, lets the session check for cancellation and yield between
// layers, and bounds memory to one layer's activations.

// binding sets one graph input before a run.
type binding struct {
	node  *G.Node
	value *tensor.Dense
}

// program is a compiled graph.
type program struct {
	g   *G.ExprGraph
	vm  G.VM
	out *G.Node
}

func compile(g *G.ExprGraph, out *G.Node) (p *program, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compiling graph: %v", r)
		}
	}()
	return &program{g: g, vm: G.NewTapeMachine(g), out: out}, nil
}

// run binds the inputs, runs the graph and returns the output node's value, which
// stays valid until the next run.
func (p *program) run(bs ...[]binding) (v []float32, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("graph run failed: %v", r)
		}
	}()
	for _, b := range bs {
		for _, x := range b {
			if err := G.Let(x.node, x.value); err != nil {
				return nil, fmt.Errorf("binding %s: %w", x.node.Name(), err)
			}
		}
	}
	defer p.vm.Reset()
	if err := p.vm.RunAll(); err != nil {
		return nil, err
	}
	return p.out.Value().(*tensor.Dense).Float32s(), nil
}

func dense(v []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithBacking(v), tensor.WithShape(shape...))
}

func int64Dense(v []int64) *tensor.Dense {
	return tensor.New(tensor.WithBacking(v), tensor.WithShape(len(v)))
}

// quantGroup is the group size a graph declares for a matrix: 0 for float32.
func quantGroup(m *kernel.Matrix) int {
	if m.Quantized() {
		return m.Group
	}
	return 0
}

func bindMatrix(w nn.Weight, m *kernel.Matrix) []binding {
	if !m.Quantized() {
		return []binding{{w.W, dense(m.F32, m.Rows, m.Cols)}}
	}
	groups := (m.Cols + m.Group - 1) / m.Group
	return []binding{
		{w.W, tensor.New(tensor.WithBacking(m.Q8), tensor.WithShape(m.Rows, m.Cols))},
		{w.Scales, dense(m.Scales, m.Rows, groups)},
	}
}

func bindDense(d nn.Dense, l *Linear) []binding {
	b := bindMatrix(d.Weight, &l.W)
	if d.Bias != nil {
		b = append(b, binding{d.Bias, dense(l.B, len(l.B))})
	}
	return b
}

func bindNorm(n nn.Norm, w *Norm) []binding {
	return []binding{{n.Gamma, dense(w.Gamma, len(w.Gamma))}, {n.Beta, dense(w.Beta, len(w.Beta))}}
}

func denseFor(g *G.ExprGraph, name string, l *Linear) nn.Dense {
	return nn.NewDense(g, name, l.W.Rows, l.W.Cols, quantGroup(&l.W), l.B != nil)
}

// ---- vision ------------------------------------------------------------------------

// visionEmbedGraph: pixels (3, S, S) → patch rows → patch embedding → class token and
// positions → pre_layrnorm.
type visionEmbedGraph struct {
	*program
	pixels *G.Node
	bind   []binding
}

func newVisionEmbedGraph(c *Config, w *Weights) (*visionEmbedGraph, error) {
	v := c.Vision
	g := G.NewGraph()
	pixels := G.NewTensor(g, tensor.Float32, 3, G.WithShape(3, v.ImageSize, v.ImageSize), G.WithName("pixel_values"))
	patch := nn.NewDense(g, "patch_embedding", w.PatchEmbed.Rows, w.PatchEmbed.Cols, quantGroup(&w.PatchEmbed), false)
	class := G.NewVector(g, tensor.Float32, G.WithShape(v.HiddenSize), G.WithName("class_embedding"))
	pos := G.NewMatrix(g, tensor.Float32, G.WithShape(c.NumImageTokens(), v.HiddenSize), G.WithName("position_embedding"))
	pre := nn.NewNorm(g, "pre_layrnorm", v.HiddenSize)
	x, err := nn.Patchify(pixels, v.PatchSize)
	if err == nil {
		x, err = nn.Linear(x, patch, "", "patch_embedding")
	}
	if err == nil {
		x, err = nn.ClassAndPosition(x, class, pos)
	}
	if err == nil {
		x, err = nn.LayerNorm(x, pre, v.LayerNormEps, "pre_layrnorm")
	}
	if err != nil {
		return nil, err
	}
	p, err := compile(g, x)
	if err != nil {
		return nil, err
	}
	bind := bindMatrix(patch.Weight, &w.PatchEmbed)
	bind = append(bind, binding{class, dense(w.ClassEmbed, v.HiddenSize)},
		binding{pos, dense(w.VisionPos, c.NumImageTokens(), v.HiddenSize)})
	bind = append(bind, bindNorm(pre, &w.PreNorm)...)
	return &visionEmbedGraph{program: p, pixels: pixels, bind: bind}, nil
}

// projectionGraph: post_layernorm, then GitProjection (Linear + LayerNorm).
type projectionGraph struct {
	*program
	x      *G.Node
	vision *G.Node // post_layernorm output: the vision model's last_hidden_state
	bind   []binding
}

func newProjectionGraph(c *Config, w *Weights) (*projectionGraph, error) {
	v := c.Vision
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(c.NumImageTokens(), v.HiddenSize), G.WithName("hidden"))
	post := nn.NewNorm(g, "post_layernorm", v.HiddenSize)
	proj := denseFor(g, "visual_projection.0", &w.Proj)
	pn := nn.NewNorm(g, "visual_projection.1", c.HiddenSize)
	vis, err := nn.LayerNorm(x, post, v.LayerNormEps, "post_layernorm")
	var y *G.Node
	if err == nil {
		y, err = nn.Linear(vis, proj, "", "visual_projection.0")
	}
	if err == nil {
		y, err = nn.LayerNorm(y, pn, v.LayerNormEps, "visual_projection.1")
	}
	if err != nil {
		return nil, err
	}
	p, err := compile(g, y)
	if err != nil {
		return nil, err
	}
	b := bindNorm(post, &w.PostNorm)
	b = append(b, bindDense(proj, &w.Proj)...)
	b = append(b, bindNorm(pn, &w.ProjNorm)...)
	return &projectionGraph{program: p, x: x, vision: vis, bind: b}, nil
}

// ---- text decoder ------------------------------------------------------------------

// textEmbedGraph: token ids and positions → word + position embeddings → LayerNorm.
type textEmbedGraph struct {
	*program
	ids, pos *G.Node
	bind     []binding
}

func newTextEmbedGraph(c *Config, w *Weights, n int) (*textEmbedGraph, error) {
	g := G.NewGraph()
	ids := G.NewVector(g, tensor.Int64, G.WithShape(n), G.WithName("input_ids"))
	pos := G.NewVector(g, tensor.Int64, G.WithShape(n), G.WithName("position_ids"))
	word := nn.NewDense(g, "word_embeddings", w.WordEmbed.Rows, w.WordEmbed.Cols, quantGroup(&w.WordEmbed), false)
	pe := G.NewMatrix(g, tensor.Float32, G.WithShape(c.MaxPositionEmbeddings, c.HiddenSize), G.WithName("position_embeddings"))
	ln := nn.NewNorm(g, "embeddings.LayerNorm", c.HiddenSize)
	x, err := nn.TokenEmbedding(ids, pos, word.Weight, pe, "embeddings")
	if err == nil {
		x, err = nn.LayerNorm(x, ln, c.LayerNormEps, "embeddings.LayerNorm")
	}
	if err != nil {
		return nil, err
	}
	p, err := compile(g, x)
	if err != nil {
		return nil, err
	}
	b := bindMatrix(word.Weight, &w.WordEmbed)
	b = append(b, binding{pe, dense(w.TextPos, c.MaxPositionEmbeddings, c.HiddenSize)})
	b = append(b, bindNorm(ln, &w.EmbedNorm)...)
	return &textEmbedGraph{program: p, ids: ids, pos: pos, bind: b}, nil
}

// decoderLayerGraph is one post-LN decoder layer over n new rows, run once per layer
// with that layer's weights bound and its attention pointed at that layer's KV cache.
// causal: the rows are text (GIT's causal mask over the cache); otherwise they are the
// image rows, which see each other and nothing else.
type decoderLayerGraph struct {
	*program
	x      *G.Node
	attn   *nn.Attention
	layers [][]binding
}

func newDecoderLayerGraph(c *Config, w *Weights, n int, causal bool) (*decoderLayerGraph, error) {
	if len(w.Decoder) == 0 {
		return &decoderLayerGraph{}, nil
	}
	g := G.NewGraph()
	ref := &w.Decoder[0]
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(n, c.HiddenSize), G.WithName("hidden"))
	q, k, v, o := denseFor(g, "query", &ref.Q), denseFor(g, "key", &ref.K), denseFor(g, "value", &ref.V), denseFor(g, "attention.output.dense", &ref.O)
	an, on := nn.NewNorm(g, "attention.output.LayerNorm", c.HiddenSize), nn.NewNorm(g, "output.LayerNorm", c.HiddenSize)
	fi, fo := denseFor(g, "intermediate.dense", &ref.FFNIn), denseFor(g, "output.dense", &ref.FFNOut)
	var (
		qn, kn, vn, a, h, f *G.Node
		attn                *nn.Attention
		err                 error
	)
	step := func(fn func() (*G.Node, error), dst **G.Node) {
		if err == nil {
			*dst, err = fn()
		}
	}
	step(func() (*G.Node, error) { return nn.Linear(x, q, "", "query") }, &qn)
	step(func() (*G.Node, error) { return nn.Linear(x, k, "", "key") }, &kn)
	step(func() (*G.Node, error) { return nn.Linear(x, v, "", "value") }, &vn)
	step(func() (*G.Node, error) {
		n, op, e := nn.MultiHeadAttention(qn, kn, vn, c.NumAttentionHeads, causal, "self")
		attn = op
		return n, e
	}, &a)
	step(func() (*G.Node, error) { return nn.Linear(a, o, "", "attention.output.dense") }, &a)
	step(func() (*G.Node, error) { return nn.Add(a, x, "attention.residual") }, &h)
	step(func() (*G.Node, error) { return nn.LayerNorm(h, an, c.LayerNormEps, "attention.output.LayerNorm") }, &h)
	step(func() (*G.Node, error) { return nn.Linear(h, fi, c.HiddenAct, "intermediate.dense") }, &f)
	step(func() (*G.Node, error) { return nn.Linear(f, fo, "", "output.dense") }, &f)
	step(func() (*G.Node, error) { return nn.Add(f, h, "output.residual") }, &f)
	step(func() (*G.Node, error) { return nn.LayerNorm(f, on, c.LayerNormEps, "output.LayerNorm") }, &f)
	if err != nil {
		return nil, err
	}
	p, err := compile(g, f)
	if err != nil {
		return nil, err
	}
	dg := &decoderLayerGraph{program: p, x: x, attn: attn}
	for i := range w.Decoder {
		l := &w.Decoder[i]
		var b []binding
		b = append(b, bindDense(q, &l.Q)...)
		b = append(b, bindDense(k, &l.K)...)
		b = append(b, bindDense(v, &l.V)...)
		b = append(b, bindDense(o, &l.O)...)
		b = append(b, bindNorm(an, &l.AttnNorm)...)
		b = append(b, bindDense(fi, &l.FFNIn)...)
		b = append(b, bindDense(fo, &l.FFNOut)...)
		b = append(b, bindNorm(on, &l.OutNorm)...)
		dg.layers = append(dg.layers, b)
	}
	return dg, nil
}

// headGraph: the last hidden row → vocabulary logits.
type headGraph struct {
	*program
	x    *G.Node
	bind []binding
}

func newHeadGraph(c *Config, w *Weights) (*headGraph, error) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(1, c.HiddenSize), G.WithName("last_hidden"))
	head := denseFor(g, "output", &w.Head)
	y, err := nn.Linear(x, head, "", "output")
	if err != nil {
		return nil, err
	}
	p, err := compile(g, y)
	if err != nil {
		return nil, err
	}
	return &headGraph{program: p, x: x, bind: bindDense(head, &w.Head)}, nil
}
