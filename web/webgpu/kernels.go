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
	// Int8 quantizes each row of activations to int8 and multiplies it with the int8
	// weights by dot4I8Packed (where D.DP4A), as the CPU's relaxed-SIMD path does with 7
	// bits: RefLinearDP4A says exactly what. Off, activations stay float32: exact.
	Int8    bool
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
	return &Kernels{D: d, weights: map[q8Key]q8Buffers{}, Fallback: &kernels.Go{}}
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

// dispatchLinearQ8 dispatches y = x·Wᵀ (m rows, n outputs, cols inputs) for int8
// weights w (rows of kw bytes) and their scales, all already on the GPU, and returns the
// buffers it made, to release once the run is done. With Int8, where the GPU has
// dot4I8Packed and rows and groups are whole words, x is quantized per row (the DP4A
// path); else the weights are dequantized in the shader. Either product runs in tiles on
// a hardware GPU where every scale group is whole tiles (a multiple of 16 values, 64 for
// DP4A, or the whole row), the DP4A one in 64×64 tiles of 4×4 an invocation from 32 rows
// on; one invocation per output otherwise (SwiftShader runs workgroup barriers slowly:
// 40 s against 14 for 901×1024·1024×4096).
func (k *Kernels) dispatchLinearQ8(m, n, cols, kw, group int, x, w, scales, y safejs.Value) []safejs.Value {
	d := k.D
	nGroups := (cols + group - 1) / group
	if k.Int8 && d.DP4A && cols%4 == 0 && group%4 == 0 {
		xq, sx, made := k.quantizeRows(x, m, cols)
		p := d.buffer(params(m, n, cols, group, nGroups), 0)
		tiles := d.Tiled && (group%64 == 0 || group >= cols)
		switch {
		case tiles && m >= 32:
			d.dispatch("linear_dp4a_reg4", linearDP4AReg4WGSL, (n+63)/64, (m+63)/64, p, xq, sx, w, scales, y)
		case tiles:
			d.dispatch("linear_dp4a_tiled", linearDP4ATiledWGSL, (n+15)/16, (m+15)/16, p, xq, sx, w, scales, y)
		default:
			d.dispatch("linear_dp4a", linearDP4AWGSL, groups(n), m, p, xq, sx, w, scales, y)
		}
		return append(made, p)
	}
	p := d.buffer(params(m, n, cols, kw, group, nGroups), 0)
	if d.Tiled && (group%16 == 0 || group >= cols) {
		d.dispatch("linear_q8_tiled", linearQ8TiledWGSL, (n+15)/16, (m+15)/16, p, x, w, scales, y)
	} else {
		d.dispatch("linear_q8", linearQ8WGSL, groups(n), m, p, x, w, scales, y)
	}
	return []safejs.Value{p}
}

// quantizeRows dispatches the quantization of x's rows (m × cols floats on the GPU):
// their int8 words and scales, and the buffers it made, to release once the product has
// run (not x).
func (k *Kernels) quantizeRows(x safejs.Value, m, cols int) (xq, sx safejs.Value, temps []safejs.Value) {
	p := k.D.buffer(params(m, cols), 0)
	xq, sx = k.D.empty(m*cols), k.D.empty(4*m)
	k.D.dispatchGroups("quantize_rows", quantizeRowsWGSL, m, p, x, xq, sx) // a workgroup a row
	return xq, sx, []safejs.Value{p, xq, sx}
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
	p := k.D.buffer(params(m, n, kk, lda, ldb, ldc), 0)
	ba, bb := k.D.buffer(f32Bytes(a[:span(m, lda, kk)]), 0), k.D.buffer(f32Bytes(b[:span(n, ldb, kk)]), 0)
	cc := c[:span(m, ldc, n)]
	bc := k.D.buffer(f32Bytes(cc), 0) // the gaps between C's rows are kept
	k.D.dispatch("gemm_nt", gemmNTWGSL, groups(n), m, p, ba, bb, bc)
	if !k.finish(bc, cc, p, ba, bb) {
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
	p := k.D.buffer(params(m, nk, heads, dh, scale, causal), 0)
	bq, bk, bv := k.D.buffer(f32Bytes(q[:m*d]), 0), k.D.buffer(f32Bytes(kv[:nk*d]), 0), k.D.buffer(f32Bytes(v[:nk*d]), 0)
	bo := k.D.buffer(make([]byte, 4*m*d), 0)
	k.D.dispatchAttention(m, heads, dh, p, bq, bk, bv, bo)
	if !k.finish(bo, out[:m*d], p, bq, bk, bv) {
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
	p := k.D.buffer(params(rows, d, float32(eps)), 0)
	bx, bg, bb := k.D.buffer(f32Bytes(x[:rows*d]), 0), k.D.buffer(f32Bytes(gamma[:d]), 0), k.D.buffer(f32Bytes(beta[:d]), 0)
	by := k.D.buffer(make([]byte, 4*rows*d), 0)
	k.D.dispatch("layer_norm", layerNormWGSL, groups(rows), 1, p, bx, bg, bb, by)
	if !k.finish(by, y[:rows*d], p, bx, bg, bb) {
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
	p := k.D.buffer(params(len(x), c), 0)
	bx := k.D.buffer(f32Bytes(x), 0)
	k.D.dispatchFlat("activate", activateWGSL, len(x), p, bx)
	if !k.finish(bx, x, p) {
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
	p := k.D.buffer(params(m, n), 0)
	bb, by := k.D.buffer(f32Bytes(bias[:n]), 0), k.D.buffer(f32Bytes(y[:m*n]), 0)
	k.D.dispatch("add_bias", addBiasWGSL, groups(n), m, p, bb, by)
	if !k.finish(by, y[:m*n], p, bb) {
		k.Fallback.AddBias(y, m, n, bias)
	}
}
