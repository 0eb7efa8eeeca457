package ops

import (
	"errors"
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// Peers compute the other shards of a tensor-parallel block: the browser's other
// workers, each holding its share of the block's weights.
type Peers interface {
	// Count is how many other shards there are.
	Count() int
	// Start sends a block's input to every peer and returns a function that waits for
	// their partial sums, in peer order. They stay valid until the next Start.
	Start(kind string, layer int, x []float32) (wait func() ([][]float32, error))
}

// ErrPeers is wrapped by the error of a run whose peers failed.
var ErrPeers = errors.New("a worker sharing the image encoder failed")

// TensorParallel is a block split across workers (Megatron style): x goes to the peers
// before this worker computes its share, local(x), and their partial sums are added to
// it after, so the peers compute while this worker does. layer (a scalar input) tells
// the peers whose weights to use. Without peers it is local(x).
func (b *Builder) TensorParallel(x, layer *G.Node, kind string, peers Peers, local func(x *G.Node) *G.Node) *G.Node {
	if peers == nil {
		return local(x)
	}
	ex := &exchange{peers: peers, kind: kind, b: b}
	sent := b.Apply(&shareOp{base{name: "Share(" + kind + ")"}, ex}, x, layer)
	return b.Apply(&reduceOp{base{name: "Reduce(" + kind + ")"}, ex}, local(sent))
}

// exchange is one tensor-parallel block in flight: shareOp starts it, reduceOp ends it.
type exchange struct {
	peers Peers
	kind  string
	b     *Builder
	wait  func() ([][]float32, error)
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
func (op *shareOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return x.Clone(), nil
}
func (op *shareOp) Do(in ...G.Value) (G.Value, error) {
	op.ex.wait = op.ex.peers.Start(op.ex.kind, intOf(in[1]), f32s(in[0]))
	return in[0], nil
}

// reduceOp adds the peers' partial sums to the local one, on the kernels (the sum
// counts as linear: it ends the block's last product).
type reduceOp struct {
	base
	ex *exchange
}

func (op *reduceOp) Arity() int { return 1 }
func (op *reduceOp) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tt(2, tensor.Float32))
}
func (op *reduceOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return x.Clone(), nil
}
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
	parts, err := wait()
	done()
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrPeers, err)
	}
	for _, p := range parts {
		if len(p) != len(y) {
			return nil, fmt.Errorf("%w: a peer sent %d values, not %d", ErrPeers, len(p), len(y))
		}
		op.ex.b.K.AddBias(y, 1, len(y), p)
	}
	return out, nil
}
