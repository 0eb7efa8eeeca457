package ops

import (
	"errors"
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

// Peers compute the other shards of a tensor-parallel block: the browser's other
// workers, each holding its share of the block's weights.
type Peers interface {
	// Count is how many other shards there are.
	Count() int
	// Start sends a block's input to every peer and returns a function that waits for
	// their partial sums, in peer order, given this worker's own (which the peers may
	// use: a chain of blocks, where a peer builds the next block's input itself). They
	// stay valid until the next Start.
	Start(kind string, layer int, x []float32) (wait func(local []float32) ([][]float32, error))
}

// ErrPeers is wrapped by the error of a run whose peers failed.
var ErrPeers = errors.New("a worker sharing the image encoder failed")

// TensorParallel is x plus a block split across workers (Megatron style): x goes to
// the peers before this worker computes its share, local(x), and their partial sums
// and x are added to it after, in one pass, so the peers compute while this worker
// does. layer (a scalar input) tells the peers whose weights to use. Without peers it
// is x + local(x).
func (b *Builder) TensorParallel(x, layer *G.Node, kind string, peers Peers, local func(x *G.Node) *G.Node) *G.Node {
	if peers == nil {
		return b.Add(x, local(x))
	}
	ex := &exchange{peers: peers, kind: kind, b: b}
	sent := b.Apply(&shareOp{base{name: "Share(" + kind + ")"}, ex}, x, layer)
	return b.Apply(&reduceOp{base: base{name: "Reduce(" + kind + ")"}, ex: ex}, local(sent), sent)
}

// TensorParallelKV is TensorParallel for the decoder's pass over the image rows, whose
// keys and values the KV cache must hold for every head: each peer's partial sum (m×d)
// comes followed by its heads' keys then values (m×w each, PeerKV), which go into the
// cache's columns after this worker's own (local writes those), in peer order. widths
// are the columns each worker's heads fill, this worker's first.
func (b *Builder) TensorParallelKV(x, layer *G.Node, kind string, peers Peers, cache KVNodes, widths []int, local func(x *G.Node) *G.Node) *G.Node {
	if peers == nil || len(widths) != peers.Count()+1 {
		b.Failf("%s: keys and values for %d workers need that many peers", kind, len(widths))
		return nil
	}
	ex := &exchange{peers: peers, kind: kind, b: b}
	sent := b.Apply(&shareOp{base{name: "Share(" + kind + ")"}, ex}, x, layer)
	return b.Apply(&reduceOp{base: base{name: "Reduce(" + kind + ")"}, ex: ex, widths: widths}, local(sent), sent, cache.K, cache.V)
}

// PeerKV is what a peer answers a TensorParallelKV block with: its partial sum, then its
// heads' keys and values, one after the other.
func (b *Builder) PeerKV(partial, k, v *G.Node) *G.Node {
	return b.Apply(&joinOp{base{name: "PeerKV"}}, partial, k, v)
}

// exchange is one tensor-parallel block in flight: shareOp starts it, reduceOp ends it.
type exchange struct {
	peers Peers
	kind  string
	b     *Builder
	wait  func(local []float32) ([][]float32, error)
}

// shareOp sends x to the peers and passes it on unchanged.
type shareOp struct {
	base
	ex *exchange
}

func (op *shareOp) Arity() int { return 2 }
func (op *shareOp) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tensor.Int, tt(2, tensor.Float32))
}
func (op *shareOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return sameShape(in, 0) }
func (op *shareOp) Do(in ...G.Value) (G.Value, error) {
	op.ex.wait = op.ex.peers.Start(op.ex.kind, intOf(in[1]), f32s(in[0]))
	return in[0], nil
}

// reduceOp adds the peers' partial sums and the block's input (its input 1) to the
// local sum, on the kernels (the sum counts as linear: it ends the block's last
// product); with widths (TensorParallelKV), it also writes the keys and values after
// each peer's sum into the cache (its inputs 2 and 3).
type reduceOp struct {
	base
	ex     *exchange
	widths []int
}

func (op *reduceOp) Arity() int {
	if op.widths != nil {
		return 4
	}
	return 2
}
func (op *reduceOp) Type() hm.Type {
	m := tt(2, tensor.Float32)
	if op.widths != nil {
		return fnType(m, m, m, m, m)
	}
	return fnType(m, m, m)
}
func (op *reduceOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return sameShape(in, 0) }
func (op *reduceOp) Do(in ...G.Value) (G.Value, error) {
	m, d := rowsCols(in[0])
	out := op.output(m, d)
	y := out.Float32s()
	copy(y, f32s(in[0]))
	wait := op.ex.wait
	op.ex.wait = nil
	if wait == nil {
		return nil, fmt.Errorf("%s: the block's input was never sent", op.name)
	}
	done := op.ex.b.Profile.Time("peers.wait")
	parts, err := wait(f32s(in[0]))
	done()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPeers, err)
	}
	for _, p := range parts {
		if len(p) < len(y) || op.widths == nil && len(p) != len(y) {
			return nil, fmt.Errorf("%w: a peer sent %d values, not %d", ErrPeers, len(p), len(y))
		}
	}
	x := f32s(in[1])
	if len(x) != len(y) {
		return nil, fmt.Errorf("%s: a block input of %d values for a sum of %d", op.name, len(x), len(y))
	}
	AddPartials(op.ex.b.K, y, parts, x)
	if op.widths != nil {
		if err := op.writeKV(f32s(in[2]), f32s(in[3]), in[2], m, len(y), parts); err != nil {
			return nil, fmt.Errorf("%w: %v", ErrPeers, err)
		}
	}
	return out, nil
}

// AddPartials adds to y, which holds this worker's own partial sum of a block, the
// peers' partial sums in peer order (their first len(y) values), then the block's input
// x (the residual: the sum as Add(x, block) has it). Whoever else sums a block calls it
// too (model.VisionShard.Next), so every worker holds the same floats.
func AddPartials(k kernels.Kernels, y []float32, parts [][]float32, x []float32) {
	for _, p := range parts {
		k.AddBias(y, 1, len(y), p[:len(y)])
	}
	k.AddBias(y, 1, len(y), x)
}

// writeKV puts each peer's keys and values (what follows its sum's n values) into the
// caches' columns, after this worker's own.
func (op *reduceOp) writeKV(keys, values []float32, cache G.Value, m, n int, parts [][]float32) error {
	capacity, d := rowsCols(cache)
	total := 0
	for _, w := range op.widths {
		total += w
	}
	if m > capacity || total != d || len(parts) != len(op.widths)-1 {
		return fmt.Errorf("%d rows and %d workers' %v columns for a cache of %d×%d", m, len(parts)+1, op.widths, capacity, d)
	}
	col := op.widths[0]
	for i, p := range parts {
		w := op.widths[i+1]
		if kv := p[n:]; len(kv) == 2*m*w {
			putColumns(keys, d, kv[:m*w], m, col, w)
			putColumns(values, d, kv[m*w:], m, col, w)
		} else {
			return fmt.Errorf("peer %d sent %d values of keys and values, not 2×%d×%d", i+1, len(kv), m, w)
		}
		col += w
	}
	return nil
}

// joinOp lays its inputs' values one after the other in a 1×n matrix.
type joinOp struct{ base }

func (op *joinOp) Arity() int { return 3 }
func (op *joinOp) Type() hm.Type {
	m := tt(2, tensor.Float32)
	return fnType(m, m, m, m)
}
func (op *joinOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	n := 0
	for _, d := range in {
		s, err := shapeOf(d)
		if err != nil {
			return nil, err
		}
		n += s.TotalSize()
	}
	return tensor.Shape{1, n}, nil
}
func (op *joinOp) Do(in ...G.Value) (G.Value, error) {
	n := 0
	for _, v := range in {
		n += len(f32s(v))
	}
	out := op.output(1, n)
	y := out.Float32s()[:0]
	for _, v := range in {
		y = append(y, f32s(v)...)
	}
	return out, nil
}
