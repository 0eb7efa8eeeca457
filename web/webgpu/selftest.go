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
// RefLinearDP4A (checkProduct on the default path: one invocation an output, 16×16
// tiles, 64×64 tiles from 32 rows, as the device takes them).
func SelfTest(k *Kernels) error {
	int8 := k.Int8
	k.Int8 = false
	err := simd.CheckFloat(k, simd.LoadShapes)
	k.Int8 = int8
	if err != nil {
		return err
	}
	if k.Int8 && k.D.DP4A {
		if err := checkProduct(k, ProductDP4A64); err != nil { // the default DP4A path
			return err
		}
	}
	return k.Err
}

// checkProduct holds a product path to its reference before Choose times it, on the
// shapes the self-test gives the DP4A paths (below and above 32 rows; groups of 32, 64
// and the row): a dp4a path to RefLinearDP4A within float rounding; a float path to
// the Go product within a bound of Σ|x·ŵ·s| an output, 10⁻⁵ for f32, 2⁻⁹ for f16 (it
// keeps 11 bits); a wrong index is off by a good part of that sum. An f16 shader must
// first compile: the feature is one no adapter here has, so a refusal drops the path,
// not the GPU. A path that passed is not checked again.
func checkProduct(k *Kernels, product string) (err error) {
	kind := productPaths[product].kind
	if kind == "f16" {
		for _, name := range []string{"linear_q8_tiled_f16", "linear_q8_reg4_f16"} {
			if err := k.D.compiles(name, floatProductShader(name)); err != nil {
				return err
			}
		}
	}
	was := k.Product
	k.Product = product
	defer func() { k.Product = was }()
	// the shaders this runs are those of the path's kind on this device, tiled or not
	key := checkedPath{product, k.kind(), k.D.Tiled}
	if k.checked[key] { // the self-test's DP4A path, which Choose then times
		return nil
	}
	defer func() {
		if err == nil {
			k.checked[key] = true
		}
	}()
	bound := map[string]float64{"f32": 1e-5, "f16": 1.0 / 512}[kind]
	r := rand.New(rand.NewSource(10))
	// rows, outputs, inputs, group, and the spread of x: the last case's values reach
	// 10⁵, which f16 must hold (see floatProductShader)
	for _, c := range [][5]int{{5, 70, 96, 32, 1}, {3, 37, 1024, 1024, 1}, {33, 70, 256, 64, 1}, {2, 20, 512, 512, 30000}} {
		m, w := c[0], simd.Quantized(r, c[1], c[2], c[3])
		x := make([]float32, m*w.Cols)
		for i := range x {
			x[i] = float32(r.NormFloat64() * float64(c[4]))
		}
		got, want := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
		k.LinearQ8(got, x, m, w)
		k.forget(w)
		if kind == "dp4a" {
			RefLinearDP4A(want, x, m, w)
		} else {
			(&kernels.Go{}).LinearQ8(want, x, m, w)
		}
		group := scaleGroup(w)
		groups := (w.Cols + group - 1) / group
		for i := range m {
			for j := range w.Rows {
				at := i*w.Rows + j
				limit := 1e-5 * (1 + math.Abs(float64(want[at])))
				if kind != "dp4a" {
					sum := 0.0
					for p := range w.Cols {
						sum += math.Abs(float64(x[i*w.Cols+p]) * float64(w.Q8[j*w.Cols+p]) * float64(w.Scales[j*groups+p/group]))
					}
					limit = bound * sum
				}
				if d := math.Abs(float64(got[at] - want[at])); !(d <= limit) { // NaN fails too
					return fmt.Errorf("%s %v at %d,%d: %g, want %g", product, c, i, j, got[at], want[at])
				}
			}
		}
	}
	return k.Err
}

// checkedPath is a product path as checkProduct ran it.
type checkedPath struct {
	product, kind string
	tiled         bool
}
