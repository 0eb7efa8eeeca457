package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/nn"
)

// The vision encoder can be split across workers, tensor-parallel the Megatron way:
// shard s of n holds heads [h0, h1) of every layer's attention with the matching
// columns of its output projection, and a slice of its MLP's hidden units with the
// matching columns of the second layer. Each layer then costs two exchanges: the layer's
// input goes to every shard, and their partial sums come back. One shard of one is the
// whole layer.

// VisionShard computes one shard's partial sums of every vision layer.
type VisionShard struct {
	Index, Count int
	attn, mlp    *program
	attnX, mlpX  *G.Node
	attnLayers   [][]binding // per layer
	mlpLayers    [][]binding
}

// span splits total units, in whole multiples of unit, into count near-equal parts and
// returns part index.
func span(total, unit, index, count int) (int, int) {
	units := total / unit
	return unit * (units * index / count), unit * (units * (index + 1) / count)
}

// ShardBounds returns the heads and MLP units shard index of count holds.
func (c *Config) ShardBounds(index, count int) (h0, h1, i0, i1 int) {
	v := c.Vision
	h0, h1 = span(v.NumAttentionHeads, 1, index, count)
	unit := 64
	if v.IntermediateSize%unit != 0 {
		unit = 1
	}
	i0, i1 = span(v.IntermediateSize, unit, index, count)
	return
}

// NewVisionShard copies shard index of count out of every vision layer and compiles its
// two graphs. The copies are independent of m's weights, so a worker that keeps only
// the shard can let the model go.
func (m *Model) NewVisionShard(index, count int) (*VisionShard, error) {
	c, w := &m.Config, m.Weights
	v := c.Vision
	if count < 1 || index < 0 || index >= count || count > v.NumAttentionHeads {
		return nil, fmt.Errorf("shard %d of %d: out of range (at most %d shards)", index, count, v.NumAttentionHeads)
	}
	if len(w.Vision) == 0 {
		return &VisionShard{Index: index, Count: count}, nil
	}
	dv, dh := v.HiddenSize, v.HiddenSize/v.NumAttentionHeads
	h0, h1, i0, i1 := c.ShardBounds(index, count)
	r0, r1 := h0*dh, h1*dh
	whole := count == 1
	rows := func(l *Linear, a, b int) *Linear {
		if whole {
			return l
		}
		return &Linear{W: *l.W.Slice(a, b, 0, l.W.Cols), B: append([]float32(nil), l.B[a:b]...)}
	}
	cols := func(l *Linear, a, b int) *Linear { // no bias: the coordinator adds it once
		if whole {
			return &Linear{W: l.W}
		}
		return &Linear{W: *l.W.Slice(0, l.W.Rows, a, b)}
	}
	norm := func(n *Norm) *Norm {
		if whole {
			return n
		}
		return &Norm{Gamma: append([]float32(nil), n.Gamma...), Beta: append([]float32(nil), n.Beta...)}
	}
	type parts struct {
		n1, n2              *Norm
		q, k, vv, o, f1, f2 *Linear
	}
	layers := make([]parts, len(w.Vision))
	for i := range w.Vision {
		l := &w.Vision[i]
		layers[i] = parts{
			n1: norm(&l.Norm1), n2: norm(&l.Norm2),
			q: rows(&l.Q, r0, r1), k: rows(&l.K, r0, r1), vv: rows(&l.V, r0, r1), o: cols(&l.O, r0, r1),
			f1: rows(&l.FC1, i0, i1), f2: cols(&l.FC2, i0, i1),
		}
	}
	s := &VisionShard{Index: index, Count: count}
	n := c.NumImageTokens()
	ref := &layers[0]

	// attention block: x → LN1 → q, k, v → attention over this shard's heads → a slice of
	// the output projection, without its bias
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(n, dv), G.WithName("hidden"))
	n1 := nn.NewNorm(g, "layer_norm1", dv)
	q, k, vv, o := denseFor(g, "q_proj", ref.q), denseFor(g, "k_proj", ref.k), denseFor(g, "v_proj", ref.vv), denseFor(g, "out_proj", ref.o)
	var h, qn, kn, vn, a *G.Node
	var err error
	step := func(f func() (*G.Node, error), dst **G.Node) {
		if err == nil {
			*dst, err = f()
		}
	}
	step(func() (*G.Node, error) { return nn.LayerNorm(x, n1, v.LayerNormEps, "layer_norm1") }, &h)
	step(func() (*G.Node, error) { return nn.Linear(h, q, "", "q_proj") }, &qn)
	step(func() (*G.Node, error) { return nn.Linear(h, k, "", "k_proj") }, &kn)
	step(func() (*G.Node, error) { return nn.Linear(h, vv, "", "v_proj") }, &vn)
	step(func() (*G.Node, error) {
		n, _, e := nn.MultiHeadAttention(qn, kn, vn, h1-h0, false, "self_attn")
		return n, e
	}, &a)
	step(func() (*G.Node, error) { return nn.Linear(a, o, "", "out_proj") }, &a)
	if err != nil {
		return nil, err
	}
	if s.attn, err = compile(g, a); err != nil {
		return nil, err
	}
	s.attnX = x

	// MLP block: y → LN2 → fc1 (this shard's units) + activation → a slice of fc2, no bias
	g = G.NewGraph()
	y := G.NewMatrix(g, tensor.Float32, G.WithShape(n, dv), G.WithName("hidden"))
	n2 := nn.NewNorm(g, "layer_norm2", dv)
	f1, f2 := denseFor(g, "fc1", ref.f1), denseFor(g, "fc2", ref.f2)
	var f *G.Node
	step(func() (*G.Node, error) { return nn.LayerNorm(y, n2, v.LayerNormEps, "layer_norm2") }, &f)
	step(func() (*G.Node, error) { return nn.Linear(f, f1, v.HiddenAct, "fc1") }, &f)
	step(func() (*G.Node, error) { return nn.Linear(f, f2, "", "fc2") }, &f)
	if err != nil {
		return nil, err
	}
	if s.mlp, err = compile(g, f); err != nil {
		return nil, err
	}
	s.mlpX = y

	for i := range layers {
		p := &layers[i]
		var ab, mb []binding
		ab = append(ab, bindNorm(n1, p.n1)...)
		ab = append(ab, bindDense(q, p.q)...)
		ab = append(ab, bindDense(k, p.k)...)
		ab = append(ab, bindDense(vv, p.vv)...)
		ab = append(ab, bindDense(o, p.o)...)
		mb = append(mb, bindNorm(n2, p.n2)...)
		mb = append(mb, bindDense(f1, p.f1)...)
		mb = append(mb, bindDense(f2, p.f2)...)
		s.attnLayers = append(s.attnLayers, ab)
		s.mlpLayers = append(s.mlpLayers, mb)
	}
	return s, nil
}

// Block kinds.
const (
	BlockAttention = "attention"
	BlockMLP       = "mlp"
)

// Block returns this shard's partial sum of a layer's attention (or MLP) block for the
// input x (N×Dv). The result is valid until the next call.
func (s *VisionShard) Block(kind string, layer int, x []float32) ([]float32, error) {
	if layer < 0 || layer >= len(s.attnLayers) {
		return nil, fmt.Errorf("vision shard: no layer %d", layer)
	}
	var p *program
	var in *G.Node
	var b []binding
	switch kind {
	case BlockAttention:
		p, in, b = s.attn, s.attnX, s.attnLayers[layer]
	case BlockMLP:
		p, in, b = s.mlp, s.mlpX, s.mlpLayers[layer]
	default:
		return nil, fmt.Errorf("vision shard: no block %q", kind)
	}
	shape := in.Shape()
	if len(x) != shape[0]*shape[1] {
		return nil, fmt.Errorf("vision shard: input of %d values, the block takes %d×%d", len(x), shape[0], shape[1])
	}
	return p.run(b, []binding{{in, dense(x, shape[0], shape[1])}})
}

// Peers computes the other shards' partial sums: the browser's other workers.
type Peers interface {
	// Count is how many other shards there are.
	Count() int
	// Start sends a block's input to every peer and returns a function that adds their
	// partial sums into dst once they arrive.
	Start(kind string, layer int, x []float32) (wait func(dst []float32) error)
}
