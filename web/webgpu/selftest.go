//go:build js && wasm

package webgpu

import (
	"fmt"
	"math"
	"math/rand"

	"gitvqa/model/kernels/simd"
)

// SelfTest holds k's shaders to the Go reference before they are trusted: the float
// shaders on the SIMD module's load-time shapes, and with Int8 the DP4A shaders to
// RefLinearDP4A.
func SelfTest(k *Kernels) error {
	int8 := k.Int8
	k.Int8 = false
	err := simd.CheckFloat(k, simd.LoadShapes)
	k.Int8 = int8
	if err != nil {
		return err
	}
	if k.Int8 && k.D.DP4A {
		r := rand.New(rand.NewSource(9))
		// rows, outputs, inputs, group: each product the shapes may take (one invocation an
		// output, 16×16 tiles, 64×64 tiles from 32 rows)
		for _, c := range [][4]int{{5, 70, 96, 32}, {3, 37, 1024, 1024}, {33, 70, 256, 64}} {
			m, w := c[0], simd.Quantized(r, c[1], c[2], c[3])
			x := make([]float32, m*w.Cols)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			got, want := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
			k.LinearQ8(got, x, m, w)
			RefLinearDP4A(want, x, m, w)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
					return fmt.Errorf("linear_dp4a %v: %g, want %g", c, got[i], want[i])
				}
			}
		}
	}
	return k.Err
}
