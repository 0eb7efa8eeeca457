package ops

import (
	"fmt"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

// ---- token embeddings (text) -------------------------------------------------------

type tokenEmbedOp struct {
	base
	word LinearNodes // the word embeddings: a matrix without bias
}

func (op *tokenEmbedOp) Arity() int { return 3 + len(op.word.nodes()) }
func (op *tokenEmbedOp) Type() hm.Type {
	ts := append([]hm.Type{tt(1, tensor.Int64), tt(1, tensor.Int64)}, op.word.types()...)
	return fnType(append(ts, tt(2, tensor.Float32), tt(2, tensor.Float32))...)
}
func (op *tokenEmbedOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	ids, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	w, err := shapeOf(in[2])
	if err != nil {
		return nil, err
	}
	return tensor.Shape{ids[0], w[1]}, nil
}
func (op *tokenEmbedOp) Do(in ...G.Value) (G.Value, error) {
	ids := in[0].(*tensor.Dense).Int64s()
	pos := in[1].(*tensor.Dense).Int64s()
	w, rest := op.word.matrix(in[2:])
	rows, cols := w.Rows, w.Cols
	pe := rest[0]
	prow, pcols := rowsCols(pe)
	if pcols != cols {
		return nil, fmt.Errorf("%s: word embeddings of width %d, position embeddings of %d", op.name, cols, pcols)
	}
	out := op.output(len(ids), cols)
	y := out.Float32s()
	pf := f32s(pe)
	for i, id := range ids {
		if id < 0 || id >= int64(rows) {
			return nil, fmt.Errorf("%s: token id %d is outside the vocabulary of %d", op.name, id, rows)
		}
		if pos[i] < 0 || pos[i] >= int64(prow) {
			return nil, fmt.Errorf("%s: position %d is beyond the model's %d positions", op.name, pos[i], prow)
		}
		row := y[i*cols : (i+1)*cols]
		kernels.Row(row, w, int(id))
		kernels.Add(row, row, pf[int(pos[i])*cols:(int(pos[i])+1)*cols])
	}
	return out, nil
}

// TokenEmbedding looks up word embeddings for ids (an int64 vector) and adds the
// absolute position embeddings at pos (an int64 vector of the same length).
func (b *Builder) TokenEmbedding(ids, pos *G.Node, word LinearNodes, position *G.Node) *G.Node {
	if b.Err != nil {
		return nil
	}
	in := append([]*G.Node{ids, pos}, word.nodes()...)
	return b.Apply(&tokenEmbedOp{base: base{name: "TokenEmbedding"}, word: word}, append(in, position)...)
}

// ---- patches (vision) ---------------------------------------------------------------

type patchifyOp struct {
	base
	patch int
}

func (op *patchifyOp) Arity() int    { return 1 }
func (op *patchifyOp) Type() hm.Type { return fnType(tt(3, tensor.Float32), tt(2, tensor.Float32)) }
func (op *patchifyOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	s, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	if len(s) != 3 || s[1]%op.patch != 0 || s[2]%op.patch != 0 {
		return nil, fmt.Errorf("%s: image %v does not split into %d×%d patches", op.name, s, op.patch, op.patch)
	}
	return tensor.Shape{(s[1] / op.patch) * (s[2] / op.patch), s[0] * op.patch * op.patch}, nil
}
func (op *patchifyOp) Do(in ...G.Value) (G.Value, error) {
	s := in[0].Shape()
	c, h, w, p := s[0], s[1], s[2], op.patch
	ph, pw := h/p, w/p
	out := op.output(ph*pw, c*p*p)
	x, y := f32s(in[0]), out.Float32s()
	// Row (py, px) of the output is the patch's pixels in (channel, row, column) order,
	// the order of a Conv2d weight [out, c, p, p] flattened.
	i := 0
	for py := 0; py < ph; py++ {
		for px := 0; px < pw; px++ {
			for ch := 0; ch < c; ch++ {
				for r := 0; r < p; r++ {
					src := x[ch*h*w+(py*p+r)*w+px*p:]
					i += copy(y[i:i+p], src[:p])
				}
			}
		}
	}
	return out, nil
}

// Patchify turns a CHW image into one row per patch, so that the patch-embedding
// convolution (kernel = stride = patch) becomes a Linear layer.
func (b *Builder) Patchify(pixels *G.Node, patch int) *G.Node {
	return b.Apply(&patchifyOp{base: base{name: "Patchify"}, patch: patch}, pixels)
}

type classPosOp struct{ base }

func (op *classPosOp) Arity() int { return 3 }
func (op *classPosOp) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tt(1, tensor.Float32), tt(2, tensor.Float32), tt(2, tensor.Float32))
}
func (op *classPosOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	p, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	pos, err := shapeOf(in[2])
	if err != nil {
		return nil, err
	}
	if pos[0] != p[0]+1 || pos[1] != p[1] {
		return nil, fmt.Errorf("%s: %d patches of %d need position embeddings [%d %d], have %v", op.name, p[0], p[1], p[0]+1, p[1], pos)
	}
	return tensor.Shape{p[0] + 1, p[1]}, nil
}
func (op *classPosOp) Do(in ...G.Value) (G.Value, error) {
	n, d := rowsCols(in[0])
	out := op.output(n+1, d)
	y := out.Float32s()
	copy(y[:d], f32s(in[1]))
	copy(y[d:], f32s(in[0]))
	kernels.Add(y, y, f32s(in[2]))
	return out, nil
}

// ClassAndPosition prepends the class embedding to the patch rows and adds the
// position embeddings: CLIP's embedding layer after the patch convolution.
func (b *Builder) ClassAndPosition(patches, class, position *G.Node) *G.Node {
	return b.Apply(&classPosOp{base{name: "ClassAndPosition"}}, patches, class, position)
}
