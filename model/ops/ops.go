// Package ops holds the model's Gorgonia ops (Linear with float32 or int8 weights,
// LayerNorm, residual Add, multi-head attention with or without a KV cache, patch and
// token embeddings) and a Builder that declares a graph's inputs and applies the ops.
// Each op is a thin shell around a kernels.Kernels set, chosen when the graph is built.
//
// Every op owns its output tensor and reuses it on each run of the graph, so a graph
// built once for a layer and run for every layer allocates nothing after its first
// run. The price: a value read out of a graph is valid only until the graph runs
// again; callers copy what they keep.
package ops

import (
	"fmt"
	"hash"
	"hash/fnv"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

// Builder declares a graph's inputs and applies ops to them, keeping the first error:
// build the whole graph, then check Err once. After an error every method returns nil.
type Builder struct {
	G       *G.ExprGraph
	K       kernels.Kernels  // what the ops run on
	Profile *kernels.Profile // where the ops time what is not a kernel (waiting for peers); may be nil
	Err     error
}

// NewBuilder starts a graph whose ops run on k.
func NewBuilder(k kernels.Kernels, p *kernels.Profile) *Builder {
	return &Builder{G: G.NewGraph(), K: k, Profile: p}
}

// Failf records an error (the first one wins).
func (b *Builder) Failf(format string, args ...any) {
	if b.Err == nil {
		b.Err = fmt.Errorf(format, args...)
	}
}

// Apply applies op to the inputs.
func (b *Builder) Apply(op G.Op, in ...*G.Node) *G.Node {
	if b.Err != nil {
		return nil
	}
	for _, n := range in {
		if n == nil {
			b.Failf("%s: a missing input", op)
			return nil
		}
	}
	n, err := G.ApplyOp(op, in...)
	if err != nil {
		b.Failf("%s: %w", op, err)
		return nil
	}
	return n
}

// ---- inputs ------------------------------------------------------------------------

func (b *Builder) input(f func() *G.Node) *G.Node {
	if b.Err != nil {
		return nil
	}
	return f()
}

// Matrix declares a rows×cols float32 input.
func (b *Builder) Matrix(name string, rows, cols int) *G.Node {
	return b.input(func() *G.Node {
		return G.NewMatrix(b.G, tensor.Float32, G.WithShape(rows, cols), G.WithName(name))
	})
}

// Vector declares a float32 vector input.
func (b *Builder) Vector(name string, n int) *G.Node {
	return b.input(func() *G.Node { return G.NewVector(b.G, tensor.Float32, G.WithShape(n), G.WithName(name)) })
}

// Tensor3 declares a 3-D float32 input (an image, channels first).
func (b *Builder) Tensor3(name string, d0, d1, d2 int) *G.Node {
	return b.input(func() *G.Node {
		return G.NewTensor(b.G, tensor.Float32, 3, G.WithShape(d0, d1, d2), G.WithName(name))
	})
}

// Int64s declares an int64 vector input (token ids, positions).
func (b *Builder) Int64s(name string, n int) *G.Node {
	return b.input(func() *G.Node { return G.NewVector(b.G, tensor.Int64, G.WithShape(n), G.WithName(name)) })
}

// Int declares a scalar int input (a layer's index, a cache's length).
func (b *Builder) Int(name string) *G.Node {
	return b.input(func() *G.Node { return G.NewScalar(b.G, tensor.Int, G.WithName(name)) })
}

// Binding is a value for one input of a graph, set before a run.
type Binding struct {
	Node  *G.Node
	Value G.Value
	// Weight marks a model weight: the same values every time this backing is bound, so
	// a device may keep its own copy (activations are bound afresh each run).
	Weight bool
}

// Dense wraps float32 values in a tensor of the given shape.
func Dense(v []float32, shape ...int) *tensor.Dense {
	return tensor.New(tensor.WithBacking(v), tensor.WithShape(shape...))
}

// BindInt binds a scalar int input.
func BindInt(n *G.Node, v int) Binding { return Binding{Node: n, Value: G.NewI(v)} }

// BindInt64s binds an int64 vector input.
func BindInt64s(n *G.Node, v []int64) Binding {
	return Binding{Node: n, Value: tensor.New(tensor.WithBacking(v), tensor.WithShape(len(v)))}
}

// Bind binds a float32 input, in the node's shape.
func Bind(n *G.Node, v []float32) Binding { return Binding{Node: n, Value: Dense(v, n.Shape()...)} }

// ---- what every op shares ------------------------------------------------------------

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

// sameShape is the shape of input i: an op whose output is shaped as that input.
func sameShape(in []G.DimSizer, i int) (tensor.Shape, error) {
	s, err := shapeOf(in[i])
	if err != nil {
		return nil, err
	}
	return s.Clone(), nil
}

func f32s(v G.Value) []float32 { return v.(*tensor.Dense).Float32s() }

func intOf(v G.Value) int {
	switch x := v.(type) {
	case *G.I:
		return int(*x)
	default:
		return v.Data().(int)
	}
}

func rowsCols(v G.Value) (int, int) {
	s := v.Shape()
	if len(s) == 1 {
		return 1, s[0]
	}
	return s[0], s[1]
}
