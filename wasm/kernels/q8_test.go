//go:build !js

package kernels_test

import (
	"gitvqa/wasm/kernels"
	"math"
	"math/rand"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/kernel"
)

// int8Ref is the SIMD accelerator with the int8-activation path done by its Go
// reference: natively there is no relaxed SIMD to run it on, and the reference is
// what the browser's kernel is held to (web/simd's self-test).
type int8Ref struct{ kernels.Accel }

func (r int8Ref) LinearQ8(y, x []float32, m int, w *kernel.Matrix) bool {
	if m >= 4 && w.Group >= w.Cols {
		kernels.RefLinearQ8Q7(y, x, m, w)
		return true
	}
	return r.Accel.LinearQ8(y, x, m, w)
}

func TestQuantizeRow(t *testing.T) {
	q := make([]uint8, 5)
	s, z := kernels.QuantizeRow([]float32{-1, 0, 1, 0.5, 1}, q)
	if z != -1 || s != float32(2.0/127) || q[0] != 0 || q[2] != 127 || q[1] != 64 {
		t.Fatalf("s=%g z=%g q=%v", s, z, q)
	}
	s, _ = kernels.QuantizeRow([]float32{3, 3}, q)
	if s != 1 || q[0] != 0 {
		t.Fatalf("constant row: s=%g q=%v", s, q)
	}
	r := rand.New(rand.NewSource(9))
	x := randSlice(r, 300, 2)
	q = make([]uint8, 300)
	s, z = kernels.QuantizeRow(x, q)
	for i, v := range x {
		if d := math.Abs(float64(float32(q[i])*s + z - v)); d > float64(s)/2*1.001 {
			t.Fatalf("value %d off by %g (step %g)", i, d, s)
		}
	}
}

// Quantizing activations to 7 bits on top of int8 weights, on the fixtures: the same
// report as int8 against float32 (model/convert), with bounds from the measured figures
// with margin. The fixture's logits are nearly flat (ties within 1.5e-3), so a few
// greedy choices flip; a real checkpoint's answers are far from ties.
func TestInt8ActivationsOnFixtures(t *testing.T) {
	cases, f32, q8 := fixtureModels(t)
	want := answerAll(t, f32, cases, nil)
	kernel.SetAccel(int8Ref{kernels.Accel{M: newWZ(t)}})
	defer kernel.SetAccel(nil)
	var agree, steps int
	worstCos := 1.0
	for i, c := range cases {
		got := answerAll(t, q8, cases[i:i+1], [][]int{want[i].ids})[0]
		cos := fixture.Cosine(got.logits, want[i].logits)
		worstCos = math.Min(worstCos, cos)
		a := 0
		for s := range want[i].steps {
			if fixture.Argmax(got.steps[s]) == fixture.Argmax(want[i].steps[s]) {
				a++
			}
		}
		agree += a
		steps += len(want[i].steps)
		t.Logf("%-22s cosine %.6f  top-1 agree %d/%d", c.Name, cos, a, len(want[i].steps))
	}
	t.Logf("int8 weights + 7-bit activations: worst cosine %.6f, top-1 agreement %d/%d", worstCos, agree, steps)
	if worstCos < 0.998 || float64(agree) < 0.8*float64(steps) {
		t.Errorf("int8 activations drift more than expected")
	}
}

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(scale * r.NormFloat64())
	}
	return s
}
