//go:build js && wasm

package webgpu

import (
	"gitvqa/model/kernels"

	"github.com/hack-pad/safejs"
)

// Kernels runs kernels.Kernels on a Device, one dispatch a call: activations go up and
// come back each call, int8 weights go up once (kept by their data) and stay int8. Shapes
// the shaders do not take (activations it has no shader for) run on the CPU (Fallback).
// A JavaScript error makes the call fall back to the CPU and is kept in Err.
type Kernels struct {
	D *Device
	// Int8 lets the int8 products round their activations: to int8 for dot4I8Packed
	// (where D.DP4A), as the CPU's relaxed-SIMD path does with 7 bits (RefLinearDP4A
	// says exactly what), or to f16 (Product). Off, activations stay float32: exact.
	Int8 bool
	// Product is the int8 products' path (ProductDP4A64 …), chosen by Choose; "" is
	// ProductDP4A64 where Int8 and D.DP4A, else ProductF32.
	Product string
	// rate is Product's rate on the probe (GFLOP/s) where Choose timed it.
	rate float64
	// checked are the product paths that passed checkProduct on this device.
	checked map[checkedPath]bool
	weights map[q8Key]q8Buffers
	// Fallback runs what the GPU does not, and everything once it has failed (a lost
	// device): the CPU's fastest kernels where the backend has them (a picture on Go's
	// own loops takes minutes), Go's by default.
	Fallback kernels.Kernels
	// Err is the first WebGPU failure; from then on every call runs on Fallback.
	Err error
}

// q8Key names an int8 matrix by its data: the graph's Linear op makes a new Matrix
// around the same bound weights on every call.
type q8Key struct {
	q8     *int8
	scales *float32
	rows   int
	cols   int
}

func keyOf(w *kernels.Matrix) q8Key {
	return q8Key{&w.Q8[0], &w.Scales[0], w.Rows, w.Cols}
}

type q8Buffers struct {
	w, scales safejs.Value
	kw        int // bytes a row: cols rounded up to 4
}

var _ kernels.Kernels = (*Kernels)(nil)

// NewKernels runs kernels on d.
func NewKernels(d *Device) *Kernels {
	return &Kernels{D: d, weights: map[q8Key]q8Buffers{}, Fallback: &kernels.Go{}, checked: map[checkedPath]bool{}}
}

// ok says whether the GPU is still usable, recording the device's first error.
func (k *Kernels) ok() bool {
	if k.Err == nil && k.D.err != nil {
		k.Err = k.D.err
	}
	return k.Err == nil
}

// finish reads out back from buf and releases the call's buffers; false when the GPU
// failed (the caller then runs Fallback).
func (k *Kernels) finish(buf safejs.Value, out []float32, temps ...safejs.Value) bool {
	err := k.D.end()
	if err == nil {
		err = k.D.read(buf, out)
	}
	for _, t := range append(temps, buf) {
		k.D.call(t, "destroy")
	}
	if err != nil && k.Err == nil {
		k.Err = err
	}
	return k.ok()
}

// forget releases the GPU copy of a matrix that was only a test's or a probe's (kept by
// address, a freed one's could otherwise be taken for a later matrix's).
func (k *Kernels) forget(w *kernels.Matrix) {
	if b, ok := k.weights[keyOf(w)]; ok {
		k.D.call(b.w, "destroy")
		k.D.call(b.scales, "destroy")
		delete(k.weights, keyOf(w))
	}
}

func (k *Kernels) q8(w *kernels.Matrix) q8Buffers {
	if b, ok := k.weights[keyOf(w)]; ok {
		return b
	}
	kw := (w.Cols + 3) &^ 3
	packed := make([]byte, w.Rows*kw)
	for r := 0; r < w.Rows; r++ {
		copy(packed[r*kw:], i8Bytes(w.Q8[r*w.Cols:(r+1)*w.Cols]))
	}
	b := q8Buffers{w: k.D.buffer(packed, 0), scales: k.D.buffer(f32Bytes(w.Scales), 0), kw: kw}
	k.weights[keyOf(w)] = b
	return b
}

// The paths an int8 Linear layer can take on a hardware GPU. Which is fastest depends on
// the GPU (whether dot4I8Packed is one instruction or emulated, whether f16 runs at twice
// f32's rate, which tiles suit it), so the backend times them at load (Choose) and keeps
// the fastest in Kernels.Product. The 64×64 paths take 16×16 tiles below 32 rows.
const (
	// float activations, the weights dequantized: exact
	ProductF32   = "f32 16×16"
	ProductF32x4 = "f32 64×64" // 4×4 outputs an invocation, in registers
	// activations quantized per row, dot4I8Packed; ProductDP4A64 is the default where
	// int8 is allowed and the GPU has dot4I8Packed
	ProductDP4A64 = "dp4a 64×64"
	ProductDP4A16 = "dp4a 16×16"
	// as the float paths, with the tiles and the sums of 16 in f16 (shader-f16)
	ProductF16   = "f16 16×16"
	ProductF16x4 = "f16 64×64"
)

// productPaths says what each path computes in (f32, dp4a, f16) and whether it takes
// 64×64 tiles from 32 rows on.
var productPaths = map[string]struct {
	kind string
	big  bool
}{
	ProductF32: {"f32", false}, ProductF32x4: {"f32", true},
	ProductDP4A64: {"dp4a", true}, ProductDP4A16: {"dp4a", false},
	ProductF16: {"f16", false}, ProductF16x4: {"f16", true},
}

// kind is what Product computes in on this device: its own kind where the device has it
// and Int8 allows rounding, else f32; "" is dp4a where it may, else f32.
func (k *Kernels) kind() string {
	path, ok := productPaths[k.Product]
	switch {
	case !ok && k.Int8 && k.D.DP4A, ok && path.kind == "dp4a" && k.Int8 && k.D.DP4A:
		return "dp4a"
	case ok && path.kind == "f16" && k.Int8 && k.D.F16:
		return "f16"
	}
	return "f32"
}

// productShader names the shader an int8 product of m rows, cols inputs and scale groups
// of group takes on Product's path, given what the device has and what the shape allows:
// dot4I8Packed wants whole words, tiles whole tiles in each scale group (16 values, 64
// for DP4A, or the row). SwiftShader (not Tiled, as its barriers are slow: 40 s against
// 14 for 901×1024·1024×4096) takes one invocation per output.
func (k *Kernels) productShader(m, cols, group int) string {
	d, kind := k.D, k.kind()
	path, ok := productPaths[k.Product]
	big := m >= 32 && (path.big || !ok && kind == "dp4a")
	if kind == "dp4a" && cols%4 == 0 && group%4 == 0 {
		tiles := d.Tiled && (group%64 == 0 || group >= cols)
		switch {
		case tiles && big:
			return "linear_dp4a_reg4"
		case tiles:
			return "linear_dp4a_tiled"
		}
		return "linear_dp4a"
	}
	if !d.Tiled || group%16 != 0 && group < cols {
		return "linear_q8"
	}
	name := "linear_q8_tiled"
	if big {
		name = "linear_q8_reg4"
	}
	if kind == "f16" {
		name += "_f16"
	}
	return name
}

// Exact says whether the int8 products keep activations float32.
func (k *Kernels) Exact() bool { return k.kind() == "f32" }

// productShaders are the int8 products' shaders: their source, the side of a
// workgroup's tile of outputs (0: one invocation per output, 64 a workgroup), and whether
// they read x quantized per row (dp4a).
var productShaders = map[string]struct {
	wgsl string
	tile int
	dp4a bool
}{
	"linear_dp4a":         {linearDP4AWGSL, 0, true},
	"linear_dp4a_tiled":   {linearDP4ATiledWGSL, 16, true},
	"linear_dp4a_reg4":    {linearDP4AReg4WGSL, 64, true},
	"linear_q8":           {linearQ8WGSL, 0, false},
	"linear_q8_tiled":     {floatProductShader("linear_q8_tiled"), 16, false},
	"linear_q8_reg4":      {floatProductShader("linear_q8_reg4"), 64, false},
	"linear_q8_tiled_f16": {floatProductShader("linear_q8_tiled_f16"), 16, false},
	"linear_q8_reg4_f16":  {floatProductShader("linear_q8_reg4_f16"), 64, false},
}

// dispatchLinearQ8 dispatches y = x·Wᵀ (m rows, n outputs, cols inputs) for int8
// weights w (rows of kw bytes) and their scales, all already on the GPU, on the shader
// productShader names, and returns the buffers it made, to release once the run is done.
// On the DP4A shaders x is first quantized per row.
func (k *Kernels) dispatchLinearQ8(m, n, cols, kw, group int, x, w, scales, y safejs.Value) []safejs.Value {
	d := k.D
	nGroups := (cols + group - 1) / group
	name := k.productShader(m, cols, group)
	sh := productShaders[name]
	gx, gy := groups(n), m
	if sh.tile > 0 {
		gx, gy = (n+sh.tile-1)/sh.tile, (m+sh.tile-1)/sh.tile
	}
	if sh.dp4a {
		xq, sx, made := k.quantizeRows(x, m, cols)
		d.dispatch(name, sh.wgsl, gx, gy, d.params(m, n, cols, group, nGroups), xq, sx, w, scales, y)
		return made
	}
	d.dispatch(name, sh.wgsl, gx, gy, d.params(m, n, cols, kw, group, nGroups), x, w, scales, y)
	return nil
}

// quantizeRows dispatches the quantization of x's rows (m × cols floats on the GPU):
// their int8 words and scales, and the buffers it made, to release once the product has
// run (not x).
func (k *Kernels) quantizeRows(x safejs.Value, m, cols int) (xq, sx safejs.Value, temps []safejs.Value) {
	p := k.D.params(m, cols)
	xq, sx = k.D.empty(m*cols), k.D.empty(4*m)
	k.D.dispatchGroups("quantize_rows", quantizeRowsWGSL, m, p, x, xq, sx) // a workgroup a row
	return xq, sx, []safejs.Value{xq, sx}
}

// GemmNT implements kernels.Kernels.
func (k *Kernels) GemmNT(m, n, kk int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if !k.ok() || kk == 0 {
		k.Fallback.GemmNT(m, n, kk, a, lda, b, ldb, c, ldc)
		return
	}
	k.D.begin()
	span := func(rows, ld, cols int) int { return (rows-1)*ld + cols }
	p := k.D.params(m, n, kk, lda, ldb, ldc)
	ba, bb := k.D.buffer(f32Bytes(a[:span(m, lda, kk)]), 0), k.D.buffer(f32Bytes(b[:span(n, ldb, kk)]), 0)
	cc := c[:span(m, ldc, n)]
	bc := k.D.buffer(f32Bytes(cc), 0) // the gaps between C's rows are kept
	k.D.dispatchGemmNT(m, n, p, ba, bb, bc)
	if !k.finish(bc, cc, ba, bb) {
		k.Fallback.GemmNT(m, n, kk, a, lda, b, ldb, c, ldc)
	}
}

// LinearQ8 implements kernels.Kernels: the weights dequantized in the shader.
func (k *Kernels) LinearQ8(y, x []float32, m int, w *kernels.Matrix) {
	if m == 0 || w.Rows == 0 {
		return
	}
	if !k.ok() || w.Cols == 0 {
		k.Fallback.LinearQ8(y, x, m, w)
		return
	}
	k.D.begin()
	wb := k.q8(w)
	bx, by := k.D.buffer(f32Bytes(x[:m*w.Cols]), 0), k.D.empty(4*m*w.Rows)
	made := k.dispatchLinearQ8(m, w.Rows, w.Cols, wb.kw, scaleGroup(w), bx, wb.w, wb.scales, by)
	if !k.finish(by, y[:m*w.Rows], append(made, bx)...) {
		k.Fallback.LinearQ8(y, x, m, w)
	}
}

// Attention implements kernels.Kernels.
func (k *Kernels) Attention(out, q, kv, v []float32, m, nk, heads, dh int, scale float32, causal int) {
	if m == 0 || nk == 0 {
		return
	}
	if !k.ok() || dh > maxHeadSize {
		k.Fallback.Attention(out, q, kv, v, m, nk, heads, dh, scale, causal)
		return
	}
	k.D.begin()
	d := heads * dh
	p := k.D.params(m, nk, heads, dh, scale, causal)
	bq, bk, bv := k.D.buffer(f32Bytes(q[:m*d]), 0), k.D.buffer(f32Bytes(kv[:nk*d]), 0), k.D.buffer(f32Bytes(v[:nk*d]), 0)
	bo := k.D.buffer(make([]byte, 4*m*d), 0)
	k.D.dispatchAttention(m, nk, heads, dh, p, bq, bk, bv, bo)
	if !k.finish(bo, out[:m*d], bq, bk, bv) {
		k.Fallback.Attention(out, q, kv, v, m, nk, heads, dh, scale, causal)
	}
}

// LayerNorm implements kernels.Kernels.
func (k *Kernels) LayerNorm(y, x []float32, d int, gamma, beta []float32, eps float64) {
	if d == 0 || len(x) < d {
		return
	}
	if !k.ok() {
		k.Fallback.LayerNorm(y, x, d, gamma, beta, eps)
		return
	}
	k.D.begin()
	rows := len(x) / d
	p := k.D.params(rows, d, float32(eps))
	bx, bg, bb := k.D.buffer(f32Bytes(x[:rows*d]), 0), k.D.buffer(f32Bytes(gamma[:d]), 0), k.D.buffer(f32Bytes(beta[:d]), 0)
	by := k.D.buffer(make([]byte, 4*rows*d), 0)
	k.D.dispatch("layer_norm", layerNormWGSL, groups(rows), 1, p, bx, bg, bb, by)
	if !k.finish(by, y[:rows*d], bx, bg, bb) {
		k.Fallback.LayerNorm(y, x, d, gamma, beta, eps)
	}
}

// Activate implements kernels.Kernels: CLIP's quick_gelu and BERT's gelu on the GPU.
func (k *Kernels) Activate(x []float32, act string) {
	c, known := activations[act]
	if len(x) == 0 || !known || !k.ok() {
		k.Fallback.Activate(x, act)
		return
	}
	k.D.begin()
	p := k.D.params(len(x), c)
	bx := k.D.buffer(f32Bytes(x), 0)
	k.D.dispatchFlat("activate", activateWGSL, len(x), p, bx)
	if !k.finish(bx, x) {
		k.Fallback.Activate(x, act)
	}
}

// AddBias implements kernels.Kernels.
func (k *Kernels) AddBias(y []float32, m, n int, bias []float32) {
	if m == 0 || n == 0 {
		return
	}
	if !k.ok() {
		k.Fallback.AddBias(y, m, n, bias)
		return
	}
	k.D.begin()
	p := k.D.params(m, n)
	bb, by := k.D.buffer(f32Bytes(bias[:n]), 0), k.D.buffer(f32Bytes(y[:m*n]), 0)
	k.D.dispatch("add_bias", addBiasWGSL, groups(n), m, p, bb, by)
	if !k.finish(by, y[:m*n], bb) {
		k.Fallback.AddBias(y, m, n, bias)
	}
}
