// Package nn holds the transformer building blocks as custom Gorgonia ops (linear with
// float32 or int8 weights, layer norm, activations, residual add, multi-head attention
// with a KV cache, patch and token embeddings), each a thin shell around package
// kernel.
//
// Every op owns its output tensor and reuses it on each run of the graph, so a graph
// built once for a layer and run for every layer allocates nothing after its first
// run. The price: a value read out of a graph is valid only until the graph runs
// again; callers copy what they keep.
package nn

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

// base carries what every op here shares: a name, the owned output buffer and the
// boilerplate methods of G.Op.
type base struct {
	name string
	out  *tensor.Dense
}

func (b *base) ReturnsPtr() bool      { return false }
func (b *base) CallsExtern() bool     { return false }
func (b *base) OverwritesInput() int  { return -1 }
func (b *base) String() string        { return b.name }
func (b *base) WriteHash(h hash.Hash) { fmt.Fprintf(h, "%s@%p", b.name, b) }
func (b *base) Hashcode() uint32 {
	h := fnv.New32a()
	b.WriteHash(h)
	return h.Sum32()
}

// output returns the op's float32 buffer of the given shape, reallocating only when
// the shape changes.
func (b *base) output(shape ...int) *tensor.Dense {
	if b.out == nil || !b.out.Shape().Eq(tensor.Shape(shape)) {
		b.out = tensor.New(tensor.Of(tensor.Float32), tensor.WithShape(shape...))
	}
	return b.out
}

func tt(dims int, dt tensor.Dtype) G.TensorType { return G.TensorType{Dims: dims, Of: dt} }

// fnType builds a fresh function type each call: Gorgonia returns it to a pool.
func fnType(ts ...hm.Type) hm.Type { return hm.NewFnType(ts...) }

func shapeOf(d G.DimSizer) (tensor.Shape, error) {
	s, ok := d.(tensor.Shape)
	if !ok {
		return nil, fmt.Errorf("expected a tensor.Shape, got %T", d)
	}
	return s, nil
}

func f32s(v G.Value) []float32 { return v.(*tensor.Dense).Float32s() }

func rowsCols(v G.Value) (int, int) {
	s := v.Shape()
	if len(s) == 1 {
		return 1, s[0]
	}
	return s[0], s[1]
}

func apply(op G.Op, children ...*G.Node) (*G.Node, error) {
	n, err := G.ApplyOp(op, children...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	return n, nil
}
