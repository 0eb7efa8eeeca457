package kernels

import (
	"math"
	"math/rand"
	"testing"
)

func TestAttentionMatchesReference(t *testing.T) {
	r := rand.New(rand.NewSource(2))
	var s AttentionScratch
	for _, c := range []struct{ m, nk, heads, dh, causal int }{
		{17, 17, 4, 12, -1}, // vision: all see all
		{1, 30, 2, 16, 29},  // one text token after 29 cached rows
		{5, 22, 3, 8, 17},   // a prompt of 5 after 17 image rows
		{3, 3, 1, 5, 0},     // causal from the start
	} {
		d := c.heads * c.dh
		q, k, v := randSlice(r, c.m*d), randSlice(r, c.nk*d), randSlice(r, c.nk*d)
		got, want := make([]float32, c.m*d), make([]float32, c.m*d)
		scale := float32(1 / math.Sqrt(float64(c.dh)))
		Attention(got, q, k, v, c.m, c.nk, c.heads, c.dh, scale, c.causal, &s)
		RefAttention(want, q, k, v, c.m, c.nk, c.heads, c.dh, scale, c.causal)
		if e := maxRelErr(got, want); e > 1e-5 {
			t.Errorf("%+v: max rel error %g", c, e)
		}
	}
}

func TestLayerNormAndActivations(t *testing.T) {
	x := []float32{1, 2, 3, 4, -1, -1, -1, -1}
	y := make([]float32, 8)
	LayerNorm(y, x, 4, []float32{1, 1, 1, 2}, []float32{0, 0, 0, 1}, 1e-5)
	want := []float32{-1.3416355, -0.44721183, 0.44721183, 2*1.3416355 + 1, 0, 0, 0, 1}
	for i := range y {
		if math.Abs(float64(y[i]-want[i])) > 1e-5 {
			t.Fatalf("LayerNorm %v, want %v", y, want)
		}
	}
	for act, pairs := range map[string][][2]float64{
		ActGELU:      {{1, 0.8413447460685429}, {-2, -0.04550026389635842}, {0, 0}},
		ActQuickGELU: {{1, 1 / (1 + math.Exp(-1.702))}, {-3, -3 / (1 + math.Exp(3*1.702))}},
		ActGELUTanh:  {{1, 0.8411919906082768}},
		ActReLU:      {{-1, 0}, {2, 2}},
	} {
		for _, p := range pairs {
			v := []float32{float32(p[0])}
			Activate(v, act)
			if math.Abs(float64(v[0])-p[1]) > 1e-6 {
				t.Errorf("%s(%g) = %g, want %g", act, p[0], v[0], p[1])
			}
		}
	}
}

func TestLinearQ8MatchesDequantized(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	for _, c := range []struct{ m, rows, cols, group int }{{3, 70, 33, 33}, {1, 130, 64, 16}, {5, 7, 100, 30}, {7, 129, 600, 64}, {2, 65, 513, 513}} {
		groups := (c.cols + c.group - 1) / c.group
		w := &Matrix{Rows: c.rows, Cols: c.cols, Q8: make([]int8, c.rows*c.cols), Scales: randSlice(r, c.rows*groups), Group: c.group}
		deq := make([]float32, c.rows*c.cols)
		for i := range w.Q8 {
			w.Q8[i] = int8(r.Intn(255) - 127)
			deq[i] = float32(w.Q8[i]) * w.Scales[(i/c.cols)*groups+(i%c.cols)/c.group]
		}
		x := randSlice(r, c.m*c.cols)
		want := make([]float32, c.m*c.rows)
		RefGemmNT(c.m, c.rows, c.cols, x, c.cols, deq, c.cols, want, c.rows)
		for name, f := range map[string]func(y, x []float32, m int, w *Matrix){"LinearQ8": LinearQ8, "GoLinearQ8": GoLinearQ8} {
			got := randSlice(r, c.m*c.rows)
			f(got, x, c.m, w)
			if e := maxRelErr(got, want); e > 1e-4 {
				t.Errorf("%s %+v: max rel error %g", name, c, e)
			}
		}
	}
}
