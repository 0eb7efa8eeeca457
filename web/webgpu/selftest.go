//go:build js && wasm

package webgpu

import (
	"fmt"
	"math"
	"math/rand"

	"gitvqa/model/kernels"
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

// checkF16 holds the f16 product to the Go reference, as the load's self-test holds the
// others: within 2⁻⁹ of Σ|x·ŵ·s| an output (f16 keeps 11 bits; a wrong index is off by
// a good part of that sum). Its shader must first compile: f16 is a feature no adapter
// here has, so a refusal drops the path, not the GPU.
func checkF16(k *Kernels) error {
	name, wgsl := linearQ8TiledShader(true)
	if err := k.D.compiles(name, wgsl); err != nil {
		return err
	}
	product := k.Product
	k.Product = ProductF16
	defer func() { k.Product = product }()
	r := rand.New(rand.NewSource(10))
	for _, c := range [][4]int{{5, 70, 96, 32}, {3, 37, 1024, 1024}, {33, 70, 256, 64}} {
		m, w := c[0], simd.Quantized(r, c[1], c[2], c[3])
		x := make([]float32, m*w.Cols)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		got, want := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
		k.LinearQ8(got, x, m, w)
		(&kernels.Go{}).LinearQ8(want, x, m, w)
		group := scaleGroup(w)
		groups := (w.Cols + group - 1) / group
		for i := range m {
			for j := range w.Rows {
				bound := 0.0
				for p := range w.Cols {
					bound += math.Abs(float64(x[i*w.Cols+p]) * float64(w.Q8[j*w.Cols+p]) * float64(w.Scales[j*groups+p/group]))
				}
				if d := math.Abs(float64(got[i*w.Rows+j] - want[i*w.Rows+j])); d > bound/512 {
					return fmt.Errorf("linear_q8_tiled_f16 %v at %d,%d: %g, want %g", c, i, j, got[i*w.Rows+j], want[i*w.Rows+j])
				}
			}
		}
	}
	return k.Err
}
