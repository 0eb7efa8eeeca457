package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

// ---- Linear ----------------------------------------------------------------------

// LinearNodes are a Linear layer's graph inputs: W (out×in, float32 or int8), for int8
// its scales (out × groups), and the bias (nil without).
type LinearNodes struct {
	W, Scales, Bias *G.Node
	Group           int // columns per scale when int8
}

// LinearWeights declares the inputs of a Linear layer shaped like w (and its bias).
func (b *Builder) LinearWeights(name string, w *kernels.Matrix, bias bool) LinearNodes {
	if b.Err != nil {
		return LinearNodes{}
	}
	var l LinearNodes
	if !w.Quantized() {
		l.W = G.NewMatrix(b.G, tensor.Float32, G.WithShape(w.Rows, w.Cols), G.WithName(name+".weight"))
	} else {
		l.W = G.NewMatrix(b.G, tensor.Int8, G.WithShape(w.Rows, w.Cols), G.WithName(name+".weight"))
		l.Scales = G.NewMatrix(b.G, tensor.Float32, G.WithShape(w.Rows, (w.Cols+w.Group-1)/w.Group), G.WithName(name+".scales"))
		l.Group = w.Group
	}
	if bias {
		l.Bias = G.NewVector(b.G, tensor.Float32, G.WithShape(w.Rows), G.WithName(name+".bias"))
	}
	return l
}

// Bind binds a layer's weights (and bias, when the nodes have one).
func (l LinearNodes) Bind(w *kernels.Matrix, bias []float32) []Binding {
	var out []Binding
	if l.Scales == nil {
		out = append(out, Binding{l.W, Dense(w.F32, w.Rows, w.Cols), true})
	} else {
		out = append(out, Binding{l.W, tensor.New(tensor.WithBacking(w.Q8), tensor.WithShape(w.Rows, w.Cols)), true},
			Binding{l.Scales, Dense(w.Scales, w.Rows, (w.Cols+w.Group-1)/w.Group), true})
	}
	if l.Bias != nil {
		out = append(out, Binding{l.Bias, Dense(bias, len(bias)), true})
	}
	return out
}

func (l LinearNodes) matrix(in []G.Value) (w *kernels.Matrix, rest []G.Value) {
	rows, cols := rowsCols(in[0])
	w = &kernels.Matrix{Rows: rows, Cols: cols}
	if l.Scales != nil {
		w.Q8, w.Scales, w.Group = in[0].(*tensor.Dense).Int8s(), f32s(in[1]), l.Group
		return w, in[2:]
	}
	w.F32 = f32s(in[0])
	return w, in[1:]
}

func (l LinearNodes) nodes() []*G.Node {
	out := []*G.Node{l.W}
	if l.Scales != nil {
		out = append(out, l.Scales)
	}
	if l.Bias != nil {
		out = append(out, l.Bias)
	}
	return out
}

func (l LinearNodes) types() []hm.Type {
	ts := []hm.Type{tt(2, tensor.Float32)}
	if l.Scales != nil {
		ts = []hm.Type{tt(2, tensor.Int8), tt(2, tensor.Float32)}
	}
	if l.Bias != nil {
		ts = append(ts, tt(1, tensor.Float32))
	}
	return ts
}

type linearOp struct {
	base
	k   kernels.Kernels
	w   LinearNodes // which inputs there are (not their values)
	act string      // applied after the bias; "" for none
}

func (op *linearOp) Arity() int { return 1 + len(op.w.nodes()) }

func (op *linearOp) Type() hm.Type {
	ts := append([]hm.Type{tt(2, tensor.Float32)}, op.w.types()...)
	return fnType(append(ts, tt(2, tensor.Float32))...)
}

func (op *linearOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	w, err := shapeOf(in[1])
	if err != nil {
		return nil, err
	}
	if len(x) != 2 || len(w) != 2 || x[1] != w[1] {
		return nil, fmt.Errorf("%s: input %v does not fit weight %v", op.name, x, w)
	}
	return tensor.Shape{x[0], w[0]}, nil
}

func (op *linearOp) Do(in ...G.Value) (G.Value, error) {
	m, _ := rowsCols(in[0])
	w, rest := op.w.matrix(in[1:])
	var bias []float32
	if op.w.Bias != nil {
		bias = f32s(rest[0])
	}
	out := op.output(m, w.Rows)
	y := out.Float32s()
	kernels.Linear(op.k, y, f32s(in[0]), m, w, bias)
	if op.act != "" {
		op.k.Activate(y, op.act)
	}
	return out, nil
}

// Linear applies x·Wᵀ + b, then act (an activation name, or "" for none).
func (b *Builder) Linear(x *G.Node, l LinearNodes, act string) *G.Node {
	if b.Err != nil {
		return nil
	}
	name := "Linear(" + l.W.Name() + ")"
	return b.Apply(&linearOp{base: base{name: name}, k: b.K, w: l, act: act}, append([]*G.Node{x}, l.nodes()...)...)
}

// ---- LayerNorm ---------------------------------------------------------------------

// NormNodes are a LayerNorm's graph inputs.
type NormNodes struct{ Gamma, Beta *G.Node }

// NormWeights declares a LayerNorm's inputs.
func (b *Builder) NormWeights(name string, d int) NormNodes {
	return NormNodes{Gamma: b.Vector(name+".weight", d), Beta: b.Vector(name+".bias", d)}
}

// Bind binds a LayerNorm's scale and shift.
func (n NormNodes) Bind(gamma, beta []float32) []Binding {
	return []Binding{{n.Gamma, Dense(gamma, len(gamma)), true}, {n.Beta, Dense(beta, len(beta)), true}}
}

type layerNormOp struct {
	base
	k   kernels.Kernels
	eps float64
}

func (op *layerNormOp) Arity() int { return 3 }
func (op *layerNormOp) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tt(1, tensor.Float32), tt(1, tensor.Float32), tt(2, tensor.Float32))
}
func (op *layerNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return sameShape(in, 0) }
func (op *layerNormOp) Do(in ...G.Value) (G.Value, error) {
	m, d := rowsCols(in[0])
	out := op.output(m, d)
	op.k.LayerNorm(out.Float32s(), f32s(in[0]), d, f32s(in[1]), f32s(in[2]), op.eps)
	return out, nil
}

// LayerNorm normalises each row of x.
func (b *Builder) LayerNorm(x *G.Node, n NormNodes, eps float64) *G.Node {
	if b.Err != nil {
		return nil
	}
	return b.Apply(&layerNormOp{base: base{name: "LayerNorm(" + n.Gamma.Name() + ")"}, k: b.K, eps: eps}, x, n.Gamma, n.Beta)
}

// ---- Add ---------------------------------------------------------------------------

type addOp struct {
	base
	k kernels.Kernels
}

func (op *addOp) Arity() int { return 2 }
func (op *addOp) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tt(2, tensor.Float32), tt(2, tensor.Float32))
}
func (op *addOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	a, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	b, err := shapeOf(in[1])
	if err != nil {
		return nil, err
	}
	if !a.Eq(b) {
		return nil, fmt.Errorf("%s: shapes %v and %v differ", op.name, a, b)
	}
	return a.Clone(), nil
}
func (op *addOp) Do(in ...G.Value) (G.Value, error) {
	m, d := rowsCols(in[0])
	out := op.output(m, d)
	// On the kernels (the module's add_bias, one row of all the values): Go's loop took
	// 1.5–1.8 ms a 901×1024 add in Chromium, ≈0.1 s a picture on the main worker.
	y := out.Float32s()
	copy(y, f32s(in[0]))
	op.k.AddBias(y, 1, len(y), f32s(in[1]))
	return out, nil
}

// Add is the residual connection a + b.
func (b *Builder) Add(a, c *G.Node) *G.Node {
	return b.Apply(&addOp{base: base{name: "Add"}, k: b.K}, a, c)
}
