// Package ktest checks a kernels.Accel against the Go reference kernels on odd shapes:
// the wazero-run module natively (wasm/kernels) and the browser's in Chromium
// (web/simd) run the same checks.
package ktest

import (
	"math"
	"math/rand"
	"testing"

	"gitvqa/model/kernel"
	"gitvqa/wasm/kernels"
)

// Run runs every check on x. With x.Int8 set, the int8-activation path is held to
// kernels.RefLinearQ8Q7 (float LinearQ8 checks then run with it off).
func Run(t *testing.T, x kernels.Accel) {
	f := x
	f.Int8 = false
	t.Run("GemmNT", func(t *testing.T) { gemmNT(t, f) })
	t.Run("Attention", func(t *testing.T) { attention(t, f) })
	t.Run("LinearQ8", func(t *testing.T) { linearQ8(t, f) })
	t.Run("Elementwise", func(t *testing.T) { elementwise(t, f) })
	if x.Int8 {
		t.Run("LinearQ8Q7", func(t *testing.T) { linearQ8Q7(t, x) })
	}
}

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(scale * r.NormFloat64())
	}
	return s
}

func check(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var worst float64
	for i := range want {
		d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
		worst = math.Max(worst, d)
	}
	if worst > tol {
		t.Errorf("%s: max relative error %g > %g", what, worst, tol)
	}
}

func linearQ8Q7(t *testing.T, x kernels.Accel) {
	r := rand.New(rand.NewSource(11))
	for _, s := range [][3]int{{5, 70, 100}, {9, 37, 48}, {4, 64, 1024}, {33, 130, 600}, {901, 64, 588}} {
		m, rows, cols := s[0], s[1], s[2]
		w := quantized(r, rows, cols, cols)
		xs := randSlice(r, m*cols, 1)
		got, want := make([]float32, m*rows), make([]float32, m*rows)
		if !x.LinearQ8(got, xs, m, w) {
			t.Fatalf("%v: declined", s)
		}
		kernels.RefLinearQ8Q7(want, xs, m, w)
		check(t, "gemm_q8q7", got, want, 1e-5)
	}
}

var gemmShapes = [][3]int{{1, 1, 1}, {2, 4, 4}, {3, 5, 7}, {5, 9, 33}, {17, 17, 12}, {2, 64, 513}, {7, 130, 301}, {1, 6, 64}, {9, 65, 3}}

func gemmNT(t *testing.T, x kernels.Accel) {
	r := rand.New(rand.NewSource(1))
	for _, s := range gemmShapes {
		m, n, k := s[0], s[1], s[2]
		lda, ldb, ldc := k+5, k+3, n+2
		a, b := randSlice(r, m*lda, 1), randSlice(r, n*ldb, 1)
		c := randSlice(r, m*ldc, 1)
		want := append([]float32(nil), c...)
		kernel.RefGemmNT(m, n, k, a, lda, b, ldb, want, ldc) // writes the m×n block, keeps the gaps
		x.GemmNT(m, n, k, a, lda, b, ldb, c, ldc)
		check(t, "GemmNT", c, want, 2e-5*math.Sqrt(float64(k)))
	}
}

func attention(t *testing.T, x kernels.Accel) {
	r := rand.New(rand.NewSource(5))
	for _, c := range []struct{ m, nk, heads, dh, causal int }{
		{17, 17, 4, 12, -1}, // vision: all see all
		{1, 30, 2, 16, 29},  // one text token after 29 cached rows
		{5, 22, 3, 8, 17},   // a prompt of 5 after 17 image rows
		{3, 3, 1, 5, 0},     // causal from the start
		{9, 61, 2, 64, -1},
		{7, 8, 2, 4, -1},  // keys a multiple of 4: no padding
		{40, 44, 2, 8, 4}, // more rows than one block of 32
	} {
		d := c.heads * c.dh
		q, k, v := randSlice(r, c.m*d, 1), randSlice(r, c.nk*d, 1), randSlice(r, c.nk*d, 1)
		got, want := make([]float32, c.m*d), make([]float32, c.m*d)
		scale := float32(1 / math.Sqrt(float64(c.dh)))
		x.Attention(got, q, k, v, c.m, c.nk, c.heads, c.dh, scale, c.causal)
		kernel.RefAttention(want, q, k, v, c.m, c.nk, c.heads, c.dh, scale, c.causal)
		check(t, "Attention", got, want, 2e-5)
	}
}

func quantized(r *rand.Rand, rows, cols, group int) *kernel.Matrix {
	groups := (cols + group - 1) / group
	m := &kernel.Matrix{Rows: rows, Cols: cols, Q8: make([]int8, rows*cols), Scales: randSlice(r, rows*groups, 0.01), Group: group}
	for i := range m.Q8 {
		m.Q8[i] = int8(r.Intn(255) - 127)
	}
	return m
}

func deq(m *kernel.Matrix) []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		kernel.Row(out[r*m.Cols:(r+1)*m.Cols], m, r)
	}
	return out
}

func linearQ8(t *testing.T, x kernels.Accel) {
	r := rand.New(rand.NewSource(2))
	for _, s := range [][3]int{{5, 48, 48}, {70, 100, 100}, {9, 64, 16}, {3, 1024, 64}, {130, 600, 32}, {7, 37, 37}} {
		rows, cols, group := s[0], s[1], s[2]
		w := quantized(r, rows, cols, group)
		full := deq(w)
		for _, m := range []int{1, 2, 3, 4, 7} {
			xs := randSlice(r, m*cols, 1)
			got, want := randSlice(r, m*rows, 1), make([]float32, m*rows)
			if !x.LinearQ8(got, xs, m, w) {
				t.Fatalf("%v m=%d: declined", s, m)
			}
			kernel.RefGemmNT(m, rows, cols, xs, cols, full, cols, want, rows)
			check(t, "LinearQ8", got, want, 1e-4)
		}
	}
	if x.LinearQ8(make([]float32, 20), make([]float32, 100), 2, quantized(r, 10, 50, 10)) {
		t.Fatal("a group that is not a multiple of 16 was taken")
	}
}

func elementwise(t *testing.T, x kernels.Accel) {
	r := rand.New(rand.NewSource(3))
	v := append(randSlice(r, 1003, 4), -100, 100, 0, -60, 60, -8, 8)
	wantQ, wantG := append([]float32(nil), v...), append([]float32(nil), v...)
	for ii, e := range v {
		f := float64(e)
		wantQ[ii] = float32(f / (1 + math.Exp(-1.702*f)))
		wantG[ii] = float32(0.5 * f * (1 + math.Erf(f/math.Sqrt2)))
	}
	q, g := append([]float32(nil), v...), append([]float32(nil), v...)
	if !x.Activate(q, kernel.ActQuickGELU) || !x.Activate(g, kernel.ActGELU) || x.Activate(g[:1], kernel.ActReLU) {
		t.Fatal("activations taken or declined wrongly")
	}
	check(t, "quick_gelu", q, wantQ, 1e-6)
	check(t, "gelu", g, wantG, 5e-7)

	for _, d := range []int{48, 64, 1024} {
		v := randSlice(r, 7*d, 2)
		g, b := randSlice(r, d, 1), randSlice(r, d, 1)
		want := make([]float32, len(v))
		kernel.LayerNorm(want, v, d, g, b, 1e-5) // no accel installed: the Go reference
		got := make([]float32, len(v))
		if !x.LayerNorm(got, v, d, g, b, 1e-5) {
			t.Fatal("declined")
		}
		check(t, "layer_norm", got, want, 1e-5)
		x.LayerNorm(v, v, d, g, b, 1e-5) // in place
		check(t, "layer_norm in place", v, want, 1e-5)
	}
}
