package webgpu

import (
	"math"

	"gitvqa/model/kernels"
)

// RefLinearDP4A is what the DP4A shaders compute, in Go: each row of x quantized to int8
// with its own scale, s = max|x|/127 (1 for a row of zeros), rounded half to even and
// clamped to ±127; then per scale group an integer dot product with the int8 weights,
// times the group's scale, summed, times s. w.Cols and the group must be multiples of 4.
func RefLinearDP4A(y, x []float32, m int, w *kernels.Matrix) {
	k := w.Cols
	group := scaleGroup(w)
	groups := (k + group - 1) / group
	q := make([]int32, k)
	for i := 0; i < m; i++ {
		row := x[i*k : (i+1)*k]
		mx := float32(0)
		for _, v := range row {
			mx = max(mx, float32(math.Abs(float64(v))))
		}
		s := float32(1)
		if mx != 0 {
			s = mx / 127
		}
		for p, v := range row {
			q[p] = int32(max(-127, min(127, math.RoundToEven(float64(v/s)))))
		}
		for j := 0; j < w.Rows; j++ {
			total := float32(0)
			for g := 0; g < groups; g++ {
				acc := int32(0)
				for p := g * group; p < min(k, (g+1)*group); p++ {
					acc += q[p] * int32(w.Q8[j*k+p])
				}
				total += float32(acc) * w.Scales[j*groups+g]
			}
			y[i*w.Rows+j] = total * s
		}
	}
}

// scaleGroup is how many of a row's values share a scale: w.Group, the whole row where
// that is wider or 0 (one scale a row).
func scaleGroup(w *kernels.Matrix) int { return min(max(w.Group, 1), w.Cols) }
