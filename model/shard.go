package model

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"

	"gitvqa/model/kernels"
	"gitvqa/model/ops"
)

// The vision encoder can be split across workers, tensor-parallel the Megatron way:
// shard s of n holds heads [h0, h1) of every layer's attention with the matching
// columns of its output projection, and a slice of its MLP's hidden units with the
// matching columns of the second layer. Each block of a layer then costs one exchange:
// the block's input goes to every shard, and their partial sums come back
// (ops.Builder.TensorParallel). One shard of one is the whole layer.

// Peers compute the other shards' partial sums: the browser's other workers.
type Peers = ops.Peers

// span splits total units, in whole multiples of unit, into count near-equal parts and
// returns part index.
func span(total, unit, index, count int) (int, int) {
	units := total / unit
	return unit * (units * index / count), unit * (units * (index + 1) / count)
}

// ShardBounds returns the heads and MLP units shard index of count holds, for weights
// in one int8 scale a row (or float32).
func (c *Config) ShardBounds(index, count int) (h0, h1, i0, i1 int) {
	return shardBounds(c.Vision.NumAttentionHeads, c.Vision.IntermediateSize, index, count, 0)
}

// shardBounds splits heads one by one and MLP units 64 at a time (where they divide).
// With three or more shards, worker 0 (the main worker) takes mainExtraUnits more MLP
// units than an even split where the second MLP layer's int8 groups (group columns; 0:
// one scale a row) allow the cut: there a shard's partial arrives only after the
// block's input has been copied into it and its answer out (≈2.4 ms a block in
// Chromium on an Intel Xeon, 2 vCPUs, traced), time the main worker fills with work of
// its own instead of waiting (64 units of a full-size MLP block are ≈2 ms there). Two
// shards chain their blocks (VisionShard.Next): each waits on the other alike, so they
// split evenly. Heads stay even: one is ≈6 ms.
func shardBounds(heads, units, index, count, group int) (h0, h1, i0, i1 int) {
	h0, h1 = span(heads, 1, index, count)
	unit := 64
	if units%unit != 0 {
		unit = 1
	}
	extra := mainExtraUnits
	if count == 2 || group > 0 && unit%group != 0 {
		extra = 0 // the even cut, where the groups allowed it before
	}
	i0, i1 = unevenSpan(units, unit, index, count, extra)
	return
}

// cutGroup is what shardBounds needs of a layer cut at its columns: its int8 scale
// group where a row holds several, else 0.
func cutGroup(l *Linear) int {
	if g := l.W.Group; l.W.Quantized() && g < l.W.Cols {
		return g
	}
	return 0
}

// mainExtraUnits is how many units the main worker takes beyond its even share.
const mainExtraUnits = 1

// unevenSpan is span with part 0 extra units larger (where every part keeps one).
func unevenSpan(total, unit, index, count, extra int) (int, int) {
	units := total / unit
	if count == 1 || units/count <= extra {
		return span(total, unit, index, count)
	}
	first := units/count + extra
	if index == 0 {
		return 0, unit * first
	}
	a, b := span(units-first, 1, index-1, count-1)
	return unit * (first + a), unit * (first + b)
}

// shardLayers cuts shard index of count out of every vision layer (one shard of one is
// the layers themselves): row slices are views of the layers' weights, column slices
// copies. The output projection's and second MLP layer's biases go to shard 0 only: the
// shards' partial sums add up to the block.
func (m *Model) shardLayers(index, count int) ([]VisionLayer, error) {
	if count == 1 {
		return m.Weights.Vision, m.checkShard(index, count)
	}
	out := make([]VisionLayer, len(m.Weights.Vision))
	for i := range out {
		l, err := m.ShardLayer(index, count, i)
		if err != nil {
			return nil, err
		}
		out[i] = l
	}
	return out, nil
}

func (m *Model) checkShard(index, count int) error {
	return checkShard("shard", index, count, m.Config.Vision.NumAttentionHeads)
}

// checkShard says why shard index of count cannot exist for a layer of heads heads.
func checkShard(what string, index, count, heads int) error {
	if count < 1 || index < 0 || index >= count || count > heads {
		return fmt.Errorf("%s %d of %d: out of range (at most %d shards)", what, index, count, heads)
	}
	return nil
}

// ShardLayer is shard index of count of vision layer i: what another worker holds of
// it (EncodeShardLayer). Row slices are views of the layer's weights, column slices
// copies.
func (m *Model) ShardLayer(index, count, i int) (VisionLayer, error) {
	if err := m.checkShard(index, count); err != nil {
		return VisionLayer{}, err
	}
	if i < 0 || i >= len(m.Weights.Vision) {
		return VisionLayer{}, fmt.Errorf("no vision layer %d", i)
	}
	c := &m.Config
	l := &m.Weights.Vision[i]
	h0, h1, i0, i1 := shardBounds(c.Vision.NumAttentionHeads, c.Vision.IntermediateSize, index, count, cutGroup(&l.FC2))
	p, err := cutLayer(index, c.Vision.HiddenSize/c.Vision.NumAttentionHeads, h0, h1, i0, i1, &l.Q, &l.K, &l.V, &l.O, &l.FC1, &l.FC2)
	if err != nil {
		return VisionLayer{}, fmt.Errorf("vision layer %d: %w", i, err)
	}
	return VisionLayer{Norm1: l.Norm1, Norm2: l.Norm2, Q: p[0], K: p[1], V: p[2], O: p[3], FC1: p[4], FC2: p[5]}, nil
}

// cutLayer is shard index's part of one layer's six Linears: heads [h0, h1), dh wide,
// of the query, key and value rows and of the output projection's columns; MLP units
// [u0, u1) of the first MLP layer's rows and of the second's columns. The column cuts
// keep their biases on shard 0 only: the shards' partial sums add up to the block.
func cutLayer(index, dh, h0, h1, u0, u1 int, q, k, v, o, in, out *Linear) ([6]Linear, error) {
	r0, r1 := h0*dh, h1*dh
	if err := errors.Join(colsFit(o, r0, r1), colsFit(out, u0, u1)); err != nil {
		return [6]Linear{}, err
	}
	return [6]Linear{rowSlice(q, r0, r1), rowSlice(k, r0, r1), rowSlice(v, r0, r1), colSlice(o, r0, r1, index == 0),
		rowSlice(in, u0, u1), colSlice(out, u0, u1, index == 0)}, nil
}

// rowSlice is output rows [a, b) of l: a view.
func rowSlice(l *Linear, a, b int) Linear {
	return Linear{W: *l.W.Slice(a, b, 0, l.W.Cols), B: l.B[a:b:b]}
}

// colsFit says why int8 weights grouped along their rows cannot be cut at columns a
// and b (Matrix.Slice needs group boundaries), or nil.
func colsFit(l *Linear, a, b int) error {
	g := l.W.Group
	if l.W.Quantized() && g < l.W.Cols && (a%g != 0 || b%g != 0) {
		return fmt.Errorf("a %d×%d layer in groups of %d cannot be cut at columns %d and %d: fewer workers, or another -group", l.W.Rows, l.W.Cols, g, a, b)
	}
	return nil
}

// colSlice is input columns [a, b) of l (a copy), with its bias if bias: one shard's
// term of a sum that the shards' partial sums make up. See colsFit.
func colSlice(l *Linear, a, b int, bias bool) Linear {
	out := Linear{W: *l.W.Slice(0, l.W.Rows, a, b)}
	if bias {
		out.B = l.B
	}
	return out
}

// VisionShard computes one shard's partial sums of every vision layer's blocks, and of
// the decoder's blocks over the image rows once it has their share (AddDecoder): what a
// worker that shares the encoder runs for the worker that asks.
type VisionShard struct {
	Index, Count    int
	shares          []VisionLayer
	attn, mlp       *shardBlock[*visionLayerNodes]
	decoder         []DecoderLayer
	decAttn, decMLP *shardBlock[*decoderShareNodes]
	kernels         kernels.Kernels

	// The chain (Keep, Next): the last vision block this shard computed (kind "": none
	// to build on), its input (a copy: the shard's own) and its partial sum.
	kind        string
	layer       int
	input, part []float32
	spare       []float32 // the input before last, for the next sum
}

// shardBlock is one block kind compiled for the shard's weights: its input (the image
// rows, d wide) and its weight inputs, N.
type shardBlock[N any] struct {
	prog  Program
	x     *G.Node
	nodes N
}

func newShardBlock[N any](c *Config, b Backend, d int, declare func(*net) N, f func(*net, *G.Node, N) *G.Node) (*shardBlock[N], error) {
	n := newNet(c, b, nil)
	sb := &shardBlock[N]{x: n.Matrix("hidden", c.NumImageTokens(), d), nodes: declare(n)}
	var err error
	sb.prog, err = n.compile(b, f(n, sb.x, sb.nodes))
	return sb, err
}

// run computes the block for the input x with a layer's weights bound.
func (sb *shardBlock[N]) run(what string, weights []ops.Binding, x []float32) ([]float32, error) {
	shape := sb.x.Shape()
	if len(x) != shape[0]*shape[1] {
		return nil, fmt.Errorf("%s: input of %d values, the block takes %d×%d", what, len(x), shape[0], shape[1])
	}
	return sb.prog.Run(weights, []ops.Binding{ops.Bind(sb.x, x)})
}

// NewVisionShard makes shard index of count, its blocks running on b (nil: GoBackend()).
func (m *Model) NewVisionShard(index, count int, b Backend) (*VisionShard, error) {
	shares, err := m.shardLayers(index, count)
	if err != nil {
		return nil, err
	}
	s, err := NewVisionShardOf(&m.Config, index, count, shares, b)
	if err != nil {
		return nil, err
	}
	dec := make([]DecoderLayer, len(m.Weights.Decoder))
	for i := range dec {
		if dec[i], err = m.ShardDecoderLayer(index, count, i); err != nil {
			return nil, err
		}
	}
	return s, s.AddDecoder(&m.Config, dec, b)
}

// AddDecoder gives the shard its share of the decoder layers (ShardDecoderLayer), its
// blocks running on b (nil: GoBackend()).
func (s *VisionShard) AddDecoder(c *Config, layers []DecoderLayer, b Backend) error {
	if b == nil {
		b = GoBackend()
	}
	if len(layers) != c.NumHiddenLayers {
		return fmt.Errorf("decoder shard: %d layers, the config has %d", len(layers), c.NumHiddenLayers)
	}
	declare := func(n *net) *decoderShareNodes { return n.declareDecoderShare(&layers[0]) }
	attn, err := newShardBlock(c, b, c.HiddenSize, declare, (*net).decoderAttentionShare)
	if err != nil {
		return err
	}
	mlp, err := newShardBlock(c, b, c.HiddenSize, declare, (*net).decoderMLPShare)
	if err != nil {
		return err
	}
	s.decoder, s.decAttn, s.decMLP = layers, attn, mlp
	return nil
}

// ShardLayers is shard index of count of every vision layer, for another worker
// (EncodeShardLayer).
func (m *Model) ShardLayers(index, count int) ([]VisionLayer, error) {
	return m.shardLayers(index, count)
}

// NewVisionShardOf makes shard index of count of a model of config c from its share of
// the layers (as another worker sent them), its blocks running on b (nil: GoBackend()).
func NewVisionShardOf(c *Config, index, count int, shares []VisionLayer, b Backend) (*VisionShard, error) {
	if b == nil {
		b = GoBackend()
	}
	if len(shares) != c.Vision.NumHiddenLayers {
		return nil, fmt.Errorf("vision shard: %d layers, the config has %d", len(shares), c.Vision.NumHiddenLayers)
	}
	s := &VisionShard{Index: index, Count: count, shares: shares, kernels: b.Kernels()}
	var err error
	declare := func(n *net) *visionLayerNodes { return n.declareVisionLayer(&shares[0], "") }
	if s.attn, err = newShardBlock(c, b, c.Vision.HiddenSize, declare, (*net).visionAttention); err != nil {
		return nil, err
	}
	if s.mlp, err = newShardBlock(c, b, c.Vision.HiddenSize, declare, (*net).visionMLP); err != nil {
		return nil, err
	}
	return s, nil
}

// Block returns this shard's partial sum of a layer's attention (or MLP) block for the
// input x (N×Dv). The result is valid until the next call.
func (s *VisionShard) Block(kind string, layer int, x []float32) ([]float32, error) {
	if kind == BlockDecoderAttention || kind == BlockDecoderMLP {
		return s.decoderBlock(kind, layer, x)
	}
	if layer < 0 || layer >= len(s.shares) {
		return nil, fmt.Errorf("vision shard: no layer %d", layer)
	}
	var b *shardBlock[*visionLayerNodes]
	switch kind {
	case BlockAttention:
		b = s.attn
	case BlockMLP:
		b = s.mlp
	default:
		return nil, fmt.Errorf("vision shard: no block %q", kind)
	}
	return b.run("vision shard", b.nodes.bind(&s.shares[layer], layer), x)
}

// NextVisionBlock is the block that follows (kind, layer) in an encoder of layers
// layers: a layer's MLP after its attention, the next layer's attention after that;
// false after the last.
func NextVisionBlock(kind string, layer, layers int) (string, int, bool) {
	if kind == BlockAttention {
		return BlockMLP, layer, layer < layers
	}
	return BlockAttention, layer + 1, kind == BlockMLP && layer+1 < layers
}

// Keep is Block for a vision block that starts a chain: the shard keeps x and its
// partial sum, so that Next can build the following block's input from the other
// shard's partial alone.
func (s *VisionShard) Keep(kind string, layer int, x []float32) ([]float32, error) {
	s.kind = ""
	if kind != BlockAttention && kind != BlockMLP {
		return nil, fmt.Errorf("vision shard: block %q does not chain", kind)
	}
	// The copy first: x may be a port's decoding buffer, which its next message reuses.
	s.input = append(s.input[:0], x...)
	part, err := s.Block(kind, layer, s.input)
	if err != nil {
		return nil, err
	}
	s.kind, s.layer, s.part = kind, layer, part
	return part, nil
}

// Next takes other, the one other shard's partial sum of the block this shard computed
// last (Keep or Next), and computes this shard's partial of the block that follows it in
// the encoder: its input is the block's output, (other + this shard's partial) + the
// block's input, added in the order the other shard adds them (its own partial first:
// float addition commutes), so both shards hold the same floats. It returns the
// following block and its partial sum ("" and nil after the last layer's MLP). Two
// shards only: a third's partial would be missing.
func (s *VisionShard) Next(kind string, layer int, other []float32) (string, int, []float32, error) {
	if s.kind == "" || kind != s.kind || layer != s.layer {
		s.kind = ""
		return "", 0, nil, fmt.Errorf("vision shard: a sum for %s %d, but the last block kept was not that one", kind, layer)
	}
	s.kind = ""
	if s.Count != 2 || len(other) != len(s.input) || len(s.part) != len(s.input) {
		return "", 0, nil, fmt.Errorf("vision shard: a chain needs two shards and whole sums (%d shards, %d values of %d)", s.Count, len(other), len(s.input))
	}
	next, nextLayer, ok := NextVisionBlock(kind, layer, len(s.shares))
	if !ok {
		return "", 0, nil, nil
	}
	// s.input becomes the next block's input, summed as the other shard sums it.
	sum := append(s.spare[:0], other...)
	ops.AddPartials(s.kernels, sum, [][]float32{s.part}, s.input)
	s.input, s.spare = sum, s.input
	part, err := s.Block(next, nextLayer, s.input)
	if err != nil {
		return "", 0, nil, err
	}
	s.kind, s.layer, s.part = next, nextLayer, part
	return next, nextLayer, part, nil
}

func (s *VisionShard) decoderBlock(kind string, layer int, x []float32) ([]float32, error) {
	if s.decAttn == nil {
		return nil, fmt.Errorf("decoder shard: no share of the decoder")
	}
	if layer < 0 || layer >= len(s.decoder) {
		return nil, fmt.Errorf("decoder shard: no layer %d", layer)
	}
	b := s.decAttn
	if kind == BlockDecoderMLP {
		b = s.decMLP
	}
	return b.run("decoder shard", b.nodes.bind(&s.decoder[layer], layer), x)
}
