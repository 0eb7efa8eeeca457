package ops

import (
	"errors"
	"testing"

	"gitvqa/model/kernels"
)

// A vision layer lowers into its steps, each after its inputs, with the attributes a
// device needs; a graph with an op no device step exists for is refused, so that it
// runs op by op.
func TestLower(t *testing.T) {
	b := NewBuilder(&kernels.Go{}, nil)
	x := b.Matrix("x", 5, 8)
	q8 := &kernels.Matrix{Rows: 8, Cols: 8, Q8: make([]int8, 64), Scales: make([]float32, 8), Group: 8}
	f32 := &kernels.Matrix{Rows: 8, Cols: 8, F32: make([]float32, 64)}
	norm := b.NormWeights("norm", 8)
	h := b.LayerNorm(x, norm, 1e-5)
	a := b.Attention(b.Linear(h, b.LinearWeights("q", q8, true), ""), b.Linear(h, b.LinearWeights("k", f32, false), ""), h, 2)
	out := b.Add(x, b.Linear(a, b.LinearWeights("o", q8, true), "gelu"))
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	steps, err := Lower(b.G)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	done := map[any]bool{}
	for _, s := range steps {
		kinds[s.Kind]++
		for _, n := range s.In {
			if n.Op() != nil && !done[n] {
				t.Fatalf("%s runs before its input %s", s.Kind, n.Name())
			}
		}
		done[s.Out] = true
		switch {
		case s.Kind == StepLinear && s.Act == "gelu" && (s.Group != 8 || !s.Bias || len(s.In) != 4):
			t.Errorf("the int8 Linear with bias: %+v", s)
		case s.Kind == StepLinear && s.Group == 0 && (s.Bias || len(s.In) != 2):
			t.Errorf("the float32 Linear: %+v", s)
		case s.Kind == StepAttention && (s.Heads != 2 || s.Scale != 0.5):
			t.Errorf("attention: %+v", s)
		case s.Kind == StepLayerNorm && s.Eps != 1e-5:
			t.Errorf("layer norm: %+v", s)
		}
	}
	if kinds[StepLinear] != 3 || kinds[StepLayerNorm] != 1 || kinds[StepAttention] != 1 || kinds[StepAdd] != 1 || steps[len(steps)-1].Out != out {
		t.Fatalf("steps %v, the last %s", kinds, steps[len(steps)-1].Kind)
	}

	e := NewBuilder(&kernels.Go{}, nil)
	e.Patchify(e.Tensor3("pixels", 3, 32, 32), 16)
	if _, err := Lower(e.G); !errors.Is(err, ErrNotLowered) {
		t.Fatalf("an embedding graph lowered: %v", err)
	}
}
