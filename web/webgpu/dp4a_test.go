package webgpu

import (
	"math"
	"math/rand"
	"testing"

	"gitvqa/model/kernels"
	"gitvqa/model/kernels/simd"
)

// The DP4A reference stays within int8 rounding of the float product: per row, the
// error is at most half a quantization step (max|x|/254) times Σ|w| of a row.
func TestRefLinearDP4AIsCloseToFloat(t *testing.T) {
	r := rand.New(rand.NewSource(3))
	w := simd.Quantized(r, 37, 96, 32)
	const m = 5
	x := make([]float32, m*w.Cols)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	got, want := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
	RefLinearDP4A(got, x, m, w)
	kernels.LinearQ8(want, x, m, w)
	for i := 0; i < m; i++ {
		mx := 0.0
		for _, v := range x[i*w.Cols : (i+1)*w.Cols] {
			mx = math.Max(mx, math.Abs(float64(v)))
		}
		for j := 0; j < w.Rows; j++ {
			row := make([]float32, w.Cols)
			kernels.Row(row, w, j)
			bound := 0.0
			for _, v := range row {
				bound += math.Abs(float64(v)) * mx / 254
			}
			if d := math.Abs(float64(got[i*w.Rows+j] - want[i*w.Rows+j])); d > bound*1.0001+1e-6 {
				t.Fatalf("(%d, %d): %g from the float product, more than %g", i, j, d, bound)
			}
		}
	}
}
