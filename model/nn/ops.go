package nn

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernel"
)

// ---- Linear ----------------------------------------------------------------------

// Weight is a Linear weight's graph inputs: W (out×in, float32 or int8) and, for int8,
// its scales (out × groups).
type Weight struct {
	W, Scales *G.Node
	Group     int // columns per scale when int8
}

// Dense is a Linear layer's graph inputs.
type Dense struct {
	Weight
	Bias *G.Node // nil: no bias
}

// NewDense declares a Linear layer's inputs in g. group == 0 means float32 weights,
// otherwise int8 weights with a scale per row and group of columns.
func NewDense(g *G.ExprGraph, name string, out, in, group int, bias bool) Dense {
	var d Dense
	if group == 0 {
		d.W = G.NewMatrix(g, tensor.Float32, G.WithShape(out, in), G.WithName(name+".weight"))
	} else {
		d.W = G.NewMatrix(g, tensor.Int8, G.WithShape(out, in), G.WithName(name+".weight"))
		d.Scales = G.NewMatrix(g, tensor.Float32, G.WithShape(out, (in+group-1)/group), G.WithName(name+".scales"))
		d.Group = group
	}
	if bias {
		d.Bias = G.NewVector(g, tensor.Float32, G.WithShape(out), G.WithName(name+".bias"))
	}
	return d
}

type linearOp struct {
	base
	quantized, bias bool
	group           int
	act             string // applied after the bias; "" for none
}

func (op *linearOp) Arity() int {
	n := 2
	if op.quantized {
		n++
	}
	if op.bias {
		n++
	}
	return n
}

func (op *linearOp) Type() hm.Type {
	ts := []hm.Type{tt(2, tensor.Float32)}
	if op.quantized {
		ts = append(ts, tt(2, tensor.Int8), tt(2, tensor.Float32))
	} else {
		ts = append(ts, tt(2, tensor.Float32))
	}
	if op.bias {
		ts = append(ts, tt(1, tensor.Float32))
	}
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
	rows, cols := rowsCols(in[1])
	w := &kernel.Matrix{Rows: rows, Cols: cols}
	i := 2
	if op.quantized {
		w.Q8 = in[1].(*tensor.Dense).Int8s()
		w.Scales = f32s(in[2])
		w.Group = op.group
		i++
	} else {
		w.F32 = f32s(in[1])
	}
	var bias []float32
	if op.bias {
		bias = f32s(in[i])
	}
	out := op.output(m, rows)
	y := out.Float32s()
	kernel.Linear(y, f32s(in[0]), m, w, bias)
	if op.act != "" {
		kernel.Activate(y, op.act)
	}
	return out, nil
}

// Linear applies x·Wᵀ + b, then act (an activation name, or "" for none).
func Linear(x *G.Node, d Dense, act, name string) (*G.Node, error) {
	op := &linearOp{base: base{name: "Linear(" + name + ")"}, quantized: d.Scales != nil, bias: d.Bias != nil, group: d.Group, act: act}
	ch := []*G.Node{x, d.W}
	if d.Scales != nil {
		ch = append(ch, d.Scales)
	}
	if d.Bias != nil {
		ch = append(ch, d.Bias)
	}
	return apply(op, ch...)
}

// ---- LayerNorm ---------------------------------------------------------------------

// Norm is a LayerNorm's graph inputs.
type Norm struct{ Gamma, Beta *G.Node }

// NewNorm declares a LayerNorm's inputs in g.
func NewNorm(g *G.ExprGraph, name string, d int) Norm {
	return Norm{
		Gamma: G.NewVector(g, tensor.Float32, G.WithShape(d), G.WithName(name+".weight")),
		Beta:  G.NewVector(g, tensor.Float32, G.WithShape(d), G.WithName(name+".bias")),
	}
}

type layerNormOp struct {
	base
	eps float64
}

func (op *layerNormOp) Arity() int { return 3 }
func (op *layerNormOp) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tt(1, tensor.Float32), tt(1, tensor.Float32), tt(2, tensor.Float32))
}
func (op *layerNormOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	x, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	return x.Clone(), nil
}
func (op *layerNormOp) Do(in ...G.Value) (G.Value, error) {
	m, d := rowsCols(in[0])
	out := op.output(m, d)
	kernel.LayerNorm(out.Float32s(), f32s(in[0]), d, f32s(in[1]), f32s(in[2]), op.eps)
	return out, nil
}

// LayerNorm normalises each row of x.
func LayerNorm(x *G.Node, n Norm, eps float64, name string) (*G.Node, error) {
	return apply(&layerNormOp{base: base{name: "LayerNorm(" + name + ")"}, eps: eps}, x, n.Gamma, n.Beta)
}

// ---- Add ---------------------------------------------------------------------------

type addOp struct{ base }

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
	kernel.Add(out.Float32s(), f32s(in[0]), f32s(in[1]))
	return out, nil
}

// Add is the residual connection a + b.
func Add(a, b *G.Node, name string) (*G.Node, error) {
	return apply(&addOp{base{name: "Add(" + name + ")"}}, a, b)
}
