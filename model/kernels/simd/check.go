package simd

import (
	"errors"
	"fmt"
	"math"
	"math/rand"
	"time"

	"gitvqa/model/kernels"
)

// Shapes are the odd shapes Check runs each kernel on.
type Shapes struct {
	Gemm      [][3]int         // m, n, k
	Attention []AttentionShape //
	// AttentionQ8 are held to RefAttentionQ8 where Int8 is set (Int8Attention: from 32 rows)
	AttentionQ8 []AttentionShape
	LinearQ8    [][3]int // rows, cols, group; each with m = 1, 2, 3, 4, 7
	Q8Q7        [][3]int // m, rows, cols: the int8-activation path (below 4 rows, cols a multiple of 16)
	LayerNorm   []int    // widths
}

// AttentionShape is one attention case; Causal < 0: every row sees every key.
type AttentionShape struct{ M, NK, Heads, DH, Causal int }

// LoadShapes are what a worker checks at load: a fraction of a second.
var LoadShapes = Shapes{
	Gemm:        [][3]int{{3, 5, 7}, {5, 9, 33}, {2, 64, 513}, {17, 17, 12}, {9, 70, 40}},
	Attention:   []AttentionShape{{17, 17, 4, 12, -1}, {5, 22, 3, 8, 17}, {1, 30, 2, 16, 29}, {70, 75, 2, 20, 5}, {37, 41, 2, 64, -1}, {6, 9, 2, 6, -1}, {1, 41, 3, 8, 30}},
	AttentionQ8: []AttentionShape{{37, 41, 2, 64, -1}, {33, 45, 3, 16, 7}},
	LinearQ8:    [][3]int{{9, 100, 100}, {70, 96, 32}},
	Q8Q7:        [][3]int{{5, 70, 100}, {9, 37, 48}, {4, 64, 1024}, {1, 70, 96}, {3, 37, 48}, {2, 9, 1024}, {1, 3, 16}, {1, 5, 3072}}, // below 4 rows: gemv_q8_i16
	LayerNorm:   []int{48},
}

// Check runs every kernel of k on the shapes against the Go reference and returns the
// first disagreement. With k.Int8 the int8-activation path is held to RefInt8Path (the
// float LinearQ8 checks run with it off).
func Check(k *Kernels, s Shapes) error {
	f := *k
	f.Int8 = false
	if err := CheckFloat(&f, s); err != nil {
		return err
	}
	if !k.Int8 {
		return nil
	}
	for _, split := range []bool{false, true} { // both dots: ChooseDot may pick either
		d := *k
		d.SplitDot = split
		if err := checkQ8Q7(&d, rand.New(rand.NewSource(8)), s.Q8Q7); err != nil {
			return fmt.Errorf("%w (split dot: %v)", err, split)
		}
		if err := checkAttentionQ8(&d, rand.New(rand.NewSource(9)), s.AttentionQ8); err != nil {
			return fmt.Errorf("%w (split dot: %v)", err, split)
		}
	}
	return nil
}

// CheckFloat holds any kernel set that keeps activations float32 (this module's without
// Int8, the WebGPU shaders) to the Go reference on the shapes.
func CheckFloat(k kernels.Kernels, s Shapes) error {
	r := rand.New(rand.NewSource(7))
	for _, c := range []func() error{
		func() error { return checkGemm(k, r, s.Gemm) },
		func() error { return checkAttention(k, r, s.Attention) },
		func() error { return checkLinearQ8(k, r, s.LinearQ8) },
		func() error { return checkElementwise(k, r, s.LayerNorm) },
	} {
		if err := c(); err != nil {
			return err
		}
	}
	return nil
}

func randSlice(r *rand.Rand, n int, scale float64) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(scale * r.NormFloat64())
	}
	return s
}

// within returns an error when got and want differ by more than tol relative to
// 1+|want| anywhere.
func within(what string, got, want []float32, tol float64) error {
	var worst float64
	for i := range want {
		d := math.Abs(float64(got[i]-want[i])) / (1 + math.Abs(float64(want[i])))
		if math.IsNaN(float64(got[i])) {
			d = math.Inf(1)
		}
		worst = math.Max(worst, d)
	}
	if worst > tol {
		return fmt.Errorf("%s: max relative error %g > %g", what, worst, tol)
	}
	return nil
}

func checkGemm(k kernels.Kernels, r *rand.Rand, shapes [][3]int) error {
	for _, s := range shapes {
		m, n, kk := s[0], s[1], s[2]
		lda, ldb, ldc := kk+5, kk+3, n+2 // strides wider than the rows, as attention heads use
		a, b := randSlice(r, m*lda, 1), randSlice(r, n*ldb, 1)
		c := randSlice(r, m*ldc, 1) // GemmNT overwrites the m×n block and keeps the gaps
		want := append([]float32(nil), c...)
		kernels.RefGemmNT(m, n, kk, a, lda, b, ldb, want, ldc)
		k.GemmNT(m, n, kk, a, lda, b, ldb, c, ldc)
		if err := within(fmt.Sprintf("GemmNT %v", s), c, want, 2e-5*math.Sqrt(float64(kk))); err != nil {
			return err
		}
	}
	return nil
}

func checkAttention(k kernels.Kernels, r *rand.Rand, shapes []AttentionShape) error {
	for _, c := range shapes {
		d := c.Heads * c.DH
		q, kk, v := randSlice(r, c.M*d, 1), randSlice(r, c.NK*d, 1), randSlice(r, c.NK*d, 1)
		got, want := make([]float32, c.M*d), make([]float32, c.M*d)
		scale := float32(1 / math.Sqrt(float64(c.DH)))
		k.Attention(got, q, kk, v, c.M, c.NK, c.Heads, c.DH, scale, c.Causal)
		kernels.RefAttention(want, q, kk, v, c.M, c.NK, c.Heads, c.DH, scale, c.Causal)
		if err := within(fmt.Sprintf("Attention %+v", c), got, want, 2e-5); err != nil {
			return err
		}
	}
	return nil
}

// checkAttentionQ8 holds Attention's int8 path (k.Int8) to RefAttentionQ8.
func checkAttentionQ8(k *Kernels, r *rand.Rand, shapes []AttentionShape) error {
	for _, c := range shapes {
		if !Int8Attention(c.M, c.DH) {
			return fmt.Errorf("Attention %+v does not take the int8 scores", c)
		}
		d := c.Heads * c.DH
		q, kk, v := randSlice(r, c.M*d, 1), randSlice(r, c.NK*d, 1), randSlice(r, c.NK*d, 1)
		got, want := make([]float32, c.M*d), make([]float32, c.M*d)
		scale := float32(1 / math.Sqrt(float64(c.DH)))
		k.Attention(got, q, kk, v, c.M, c.NK, c.Heads, c.DH, scale, c.Causal)
		RefAttentionQ8(want, q, kk, v, c.M, c.NK, c.Heads, c.DH, scale, c.Causal)
		// float rounding, and a probability or two a row one step off (the kernel's exp)
		var vmax float64
		for _, x := range v {
			vmax = math.Max(vmax, math.Abs(float64(x)))
		}
		if err := within(fmt.Sprintf("Attention, int8 scores, %+v", c), got, want, 2e-5+2*vmax/probLevels); err != nil {
			return err
		}
	}
	return nil
}

// Quantized makes a random int8 matrix with a scale per row and group of columns.
func Quantized(r *rand.Rand, rows, cols, group int) *kernels.Matrix {
	groups := (cols + group - 1) / group
	m := &kernels.Matrix{Rows: rows, Cols: cols, Q8: make([]int8, rows*cols), Scales: randSlice(r, rows*groups, 0.01), Group: group}
	for i := range m.Q8 {
		m.Q8[i] = int8(r.Intn(255) - 127)
	}
	return m
}

func dequantized(m *kernels.Matrix) []float32 {
	out := make([]float32, m.Rows*m.Cols)
	for r := 0; r < m.Rows; r++ {
		kernels.Row(out[r*m.Cols:(r+1)*m.Cols], m, r)
	}
	return out
}

func checkLinearQ8(k kernels.Kernels, r *rand.Rand, shapes [][3]int) error {
	for _, s := range shapes {
		rows, cols, group := s[0], s[1], s[2]
		w := Quantized(r, rows, cols, group)
		full := dequantized(w)
		for _, m := range []int{1, 2, 3, 4, 7} {
			xs := randSlice(r, m*cols, 1)
			got, want := randSlice(r, m*rows, 1), make([]float32, m*rows)
			k.LinearQ8(got, xs, m, w)
			kernels.RefGemmNT(m, rows, cols, xs, cols, full, cols, want, rows)
			if err := within(fmt.Sprintf("LinearQ8 %v m=%d", s, m), got, want, 1e-4); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkQ8Q7(k kernels.Kernels, r *rand.Rand, shapes [][3]int) error {
	for _, s := range shapes {
		m, rows, cols := s[0], s[1], s[2]
		w := Quantized(r, rows, cols, cols)
		xs := randSlice(r, m*cols, 1)
		got, want := make([]float32, m*rows), make([]float32, m*rows)
		k.LinearQ8(got, xs, m, w)
		RefInt8Path(want, xs, m, w)
		if err := within(fmt.Sprintf("int8 path (gemm_q8q7, gemv_q8_i16 below 4 rows) %v", s), got, want, 1e-5); err != nil {
			return err
		}
	}
	return nil
}

func checkElementwise(k kernels.Kernels, r *rand.Rand, widths []int) error {
	v := append(randSlice(r, 1003, 4), -100, 100, 0, -60, 60, -8, 8)
	wantQ, wantG := append([]float32(nil), v...), append([]float32(nil), v...)
	for i, e := range v {
		x := float64(e)
		wantQ[i] = float32(x / (1 + math.Exp(-1.702*x)))
		wantG[i] = float32(0.5 * x * (1 + math.Erf(x/math.Sqrt2)))
	}
	q, g := append([]float32(nil), v...), append([]float32(nil), v...)
	k.Activate(q, kernels.ActQuickGELU)
	k.Activate(g, kernels.ActGELU)
	if err := within("quick_gelu", q, wantQ, 1e-6); err != nil {
		return err
	}
	if err := within("gelu", g, wantG, 5e-7); err != nil {
		return err
	}
	for _, n := range []int{1, 2, 3, 5} { // shorter than a vector, or a vector and a tail
		q, g := append([]float32(nil), v[:n]...), append([]float32(nil), v[:n]...)
		k.Activate(q, kernels.ActQuickGELU)
		k.Activate(g, kernels.ActGELU)
		if err := errors.Join(within(fmt.Sprintf("quick_gelu of %d", n), q, wantQ[:n], 1e-6), within(fmt.Sprintf("gelu of %d", n), g, wantG[:n], 5e-7)); err != nil {
			return err
		}
	}
	for _, n := range []int{4, 6, 64, 1024, 13} {
		y, bias := randSlice(r, 5*n, 2), randSlice(r, n, 2)
		want := append([]float32(nil), y...)
		kernels.AddBias(want, 5, n, bias)
		k.AddBias(y, 5, n, bias)
		if err := within(fmt.Sprintf("add_bias %d", n), y, want, 0); err != nil {
			return err
		}
	}
	for _, d := range widths {
		x := randSlice(r, 7*d, 2)
		gamma, beta := randSlice(r, d, 1), randSlice(r, d, 1)
		want := make([]float32, len(x))
		kernels.LayerNorm(want, x, d, gamma, beta, 1e-5)
		got := make([]float32, len(x))
		k.LayerNorm(got, x, d, gamma, beta, 1e-5)
		if err := within(fmt.Sprintf("layer_norm %d", d), got, want, 1e-5); err != nil {
			return err
		}
		k.LayerNorm(x, x, d, gamma, beta, 1e-5) // in place
		if err := within(fmt.Sprintf("layer_norm %d in place", d), x, want, 1e-5); err != nil {
			return err
		}
	}
	return nil
}

// SelfTest is what a worker runs at load: Check on LoadShapes, so that a browser whose
// SIMD misbehaves falls back to Go rather than answering wrongly, then a warm-up long
// enough for V8 to move the kernels to its optimizing tier (its baseline tier runs them
// at a fraction of their speed).
func SelfTest(k *Kernels) error {
	if err := Check(k, LoadShapes); err != nil {
		return err
	}
	warmUp(k)
	if k.Int8 {
		ChooseDot(k)
	}
	return nil
}

// ChooseDot sets k.SplitDot to whichever of gemm_q8q7's two forms runs faster here (see
// kernels.wat): the fused dot is one instruction with AVX-VNNI or Arm's dot product,
// five without, and only the clock tells which this browser compiled. About 20 ms here:
// a first round untimed (so that V8 has optimized both), then four alternating the two
// so that noise hits both alike, the best of each kept. The fused form must win by a
// tenth: where it is one instruction its dots take a third of the split one's three
// (so it should win by far more; no such CPU here to time), where it is five it runs
// at about 0.8 of the split one (here: 70–74 against 84–90 GFLOP/s), and a busy minute
// made the old rule (the fused form unless the split one won by 3 %) take it on the
// main worker in 1 of 12 benchmark runs here, its Linear layers 18 % slower.
func ChooseDot(k *Kernels) {
	const m, n, c = 64, 128, 1024 // ≈17 MFLOP a call: 8 calls are well above a coarsened clock's 0.1 ms
	r := rand.New(rand.NewSource(3))
	w, xs, y := Quantized(r, n, c, c), randSlice(r, m*c, 1), make([]float32, m*n)
	best := [2]time.Duration{time.Hour, time.Hour}
	for round := 0; round <= 4; round++ {
		for j := range 2 {
			i := (j + round) % 2 // each form first in turn
			k.SplitDot = i == 1
			t := time.Now()
			for range 8 {
				k.LinearQ8(y, xs, m, w)
			}
			if round > 0 {
				best[i] = min(best[i], time.Since(t))
			}
		}
	}
	k.SplitDot = best[0] >= best[1]*90/100 // the split form unless the fused one clearly wins
}

func warmUp(k *Kernels) {
	r := rand.New(rand.NewSource(1))
	a, w, c := randSlice(r, 64*512, 1), randSlice(r, 64*512, 1), make([]float32, 64*64)
	for i := 0; i < 30; i++ {
		k.GemmNT(64, 64, 512, a, 512, w, 512, c, 64)
	}
	x := randSlice(r, 64*512, 1)
	for i := 0; i < 10; i++ {
		k.Attention(x[:64*256], a[:64*256], w[:64*256], x[64*256:2*64*256], 64, 64, 4, 64, 0.125, -1)
		k.Activate(x, kernels.ActQuickGELU)
		k.Activate(x, kernels.ActGELU)
		k.LayerNorm(x, x, 512, w[:512], a[:512], 1e-5)
	}
	q := &kernels.Matrix{Rows: 64, Cols: 512, Q8: make([]int8, 64*512), Scales: w[:64], Group: 512}
	for i := 0; i < 20; i++ {
		k.LinearQ8(c, x[:8*512], 8, q)
		k.LinearQ8(c[:64], x[:512], 1, q)
	}
}
