//go:build js && wasm

package simd

import (
	"fmt"
	"math"
	"math/rand"

	"gitvqa/model/kernel"
	"gitvqa/wasm/kernels"
)

// SelfTest runs every kernel of the module on odd shapes against the Go reference,
// at load: a browser whose SIMD misbehaves falls back to Go rather than answering
// wrongly. It also warms the kernels up, so that V8 has compiled them in its optimizing
// tier before the first picture (its baseline tier runs them at a fraction of speed).
func SelfTest(acc kernels.Accel) error {
	// The float kernels first (LinearQ8 on float activations), then the int8 path.
	b := acc
	b.Int8 = false
	r := rand.New(rand.NewSource(7))
	rnd := func(n int) []float32 {
		s := make([]float32, n)
		for i := range s {
			s[i] = float32(r.NormFloat64())
		}
		return s
	}
	worst := func(got, want []float32) float64 {
		var w float64
		for i := range want {
			d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
			if math.IsNaN(d) {
				return math.Inf(1)
			}
			w = math.Max(w, d)
		}
		return w
	}
	for _, s := range [][3]int{{3, 5, 7}, {5, 9, 33}, {2, 64, 513}, {17, 17, 12}, {9, 70, 40}} {
		m, n, k := s[0], s[1], s[2]
		a, bb := rnd(m*k), rnd(n*k)
		got, want := make([]float32, m*n), make([]float32, m*n)
		b.GemmNT(m, n, k, a, k, bb, k, got, n)
		kernel.RefGemmNT(m, n, k, a, k, bb, k, want, n)
		if e := worst(got, want); e > 1e-4 {
			return fmt.Errorf("GemmNT %v: error %g", s, e)
		}
	}
	for _, s := range [][3]int{{9, 100, 100}, {70, 96, 32}} {
		rows, cols, group := s[0], s[1], s[2]
		groups := (cols + group - 1) / group
		w := &kernel.Matrix{Rows: rows, Cols: cols, Q8: make([]int8, rows*cols), Scales: rnd(rows * groups), Group: group}
		for i := range w.Q8 {
			w.Q8[i] = int8(r.Intn(255) - 127)
		}
		full := make([]float32, rows*cols)
		for i := 0; i < rows; i++ {
			kernel.Row(full[i*cols:(i+1)*cols], w, i)
		}
		for _, m := range []int{2, 5} {
			x := rnd(m * cols)
			got, want := make([]float32, m*rows), make([]float32, m*rows)
			if !b.LinearQ8(got, x, m, w) {
				return fmt.Errorf("LinearQ8 %v declined", s)
			}
			kernel.RefGemmNT(m, rows, cols, x, cols, full, cols, want, rows)
			if e := worst(got, want); e > 1e-4 {
				return fmt.Errorf("LinearQ8 %v m=%d: error %g", s, m, e)
			}
		}
	}
	if acc.Int8 {
		b := acc
		// int8 activations: the kernel against its Go reference, on odd shapes
		for _, s := range [][3]int{{5, 70, 100}, {9, 37, 48}, {4, 64, 1024}} {
			m, rows, cols := s[0], s[1], s[2]
			w := &kernel.Matrix{Rows: rows, Cols: cols, Q8: make([]int8, rows*cols), Scales: rnd(rows), Group: cols}
			for i := range w.Q8 {
				w.Q8[i] = int8(r.Intn(255) - 127)
			}
			x := rnd(m * cols)
			got, want := make([]float32, m*rows), make([]float32, m*rows)
			if !b.LinearQ8(got, x, m, w) {
				return fmt.Errorf("int8 LinearQ8 %v declined", s)
			}
			kernels.RefLinearQ8Q7(want, x, m, w)
			if e := worst(got, want); e > 1e-4 {
				return fmt.Errorf("gemm_q8q7 %v: error %g", s, e)
			}
		}
	}
	for _, c := range []struct{ m, nk, heads, dh, causal int }{{17, 17, 4, 12, -1}, {5, 22, 3, 8, 17}, {1, 30, 2, 16, 29}} {
		d := c.heads * c.dh
		q, k, v := rnd(c.m*d), rnd(c.nk*d), rnd(c.nk*d)
		got, want := make([]float32, c.m*d), make([]float32, c.m*d)
		b.Attention(got, q, k, v, c.m, c.nk, c.heads, c.dh, 0.3, c.causal)
		kernel.RefAttention(want, q, k, v, c.m, c.nk, c.heads, c.dh, 0.3, c.causal)
		if e := worst(got, want); e > 1e-4 {
			return fmt.Errorf("attention %+v: error %g", c, e)
		}
	}
	g := rnd(37)
	wantQ, wantG := make([]float32, len(g)), make([]float32, len(g))
	for i, v := range g {
		wantQ[i] = float32(float64(v) / (1 + math.Exp(-1.702*float64(v))))
		wantG[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
	}
	gq, gg := append([]float32(nil), g...), append([]float32(nil), g...)
	if !b.Activate(gq, kernel.ActQuickGELU) || !b.Activate(gg, kernel.ActGELU) {
		return fmt.Errorf("activations declined")
	}
	if e := worst(gq, wantQ); e > 1e-5 {
		return fmt.Errorf("quick_gelu: error %g", e)
	}
	if e := worst(gg, wantG); e > 1e-5 {
		return fmt.Errorf("gelu: error %g", e)
	}
	ln, gamma, beta := rnd(3*48), rnd(48), rnd(48)
	wantLN, gotLN := make([]float32, len(ln)), make([]float32, len(ln))
	prev := kernel.CurrentAccel()
	kernel.SetAccel(nil)
	kernel.LayerNorm(wantLN, ln, 48, gamma, beta, 1e-5)
	kernel.SetAccel(prev)
	b.LayerNorm(gotLN, ln, 48, gamma, beta, 1e-5)
	if e := worst(gotLN, wantLN); e > 1e-4 {
		return fmt.Errorf("layer_norm: error %g", e)
	}
	warmUp(acc, rnd)
	return nil
}

// warmUp runs the kernels long enough for V8 to tier them up.
func warmUp(b kernels.Accel, rnd func(int) []float32) {
	a, w, c := rnd(64*512), rnd(64*512), make([]float32, 64*64)
	for i := 0; i < 30; i++ {
		b.GemmNT(64, 64, 512, a, 512, w, 512, c, 64)
	}
	x := rnd(64 * 512)
	for i := 0; i < 10; i++ {
		b.Attention(x[:64*256], a[:64*256], w[:64*256], x[64*256:2*64*256], 64, 64, 4, 64, 0.125, -1)
		b.Activate(x, kernel.ActQuickGELU)
		b.Activate(x, kernel.ActGELU)
		b.LayerNorm(x, x, 512, w[:512], a[:512], 1e-5)
	}
	q := &kernel.Matrix{Rows: 64, Cols: 512, Q8: make([]int8, 64*512), Scales: w[:64], Group: 512}
	for i := 0; i < 20; i++ {
		b.LinearQ8(c, x[:8*512], 8, q)
		b.LinearQ8(c[:64], x[:512], 1, q)
	}
}
