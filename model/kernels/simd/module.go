// Package simd is the WebAssembly SIMD kernel set: the module's source (kernels.wat,
// hand-written, assembled by Debian's wat2wasm into kernels.wasm and, with its
// multiply-adds fused, kernels-relaxed.wasm), its exports as a typed Go interface
// (Module), the driver that runs kernels.Kernels on it (Kernels: packing operands into
// the layouts the module's GEMMs want, blocking for cache), and the self-test a worker
// runs at load.
//
// In the browser the module imports the Go instance's memory and works on Go's slices
// in place; Go calls each export through //go:wasmimport (module_js.go). In native
// tests the same module runs in wazero (wazero.go), operands copied in and out.
//
// Why hand-written WAT: the kernels are a few hundred lines that read as what the CPU
// runs, the source is the only thing to review, and wabt is one apt package. The
// relaxed variant is derived from the same text, so the two cannot drift apart.
package simd

// Ptr is a byte address in the memory the module works on. Treat it as unsigned:
// addresses above 2 GiB are negative as i32.
type Ptr = uint32

// Memory is where the module's operands live: Go's own memory in the browser (the
// address of a live slice, no copy), a copy in the module's memory elsewhere.
type Memory interface {
	// In returns the address of s for the module to read.
	In(s []float32) Ptr
	InI8(s []int8) Ptr
	InI32(s []int32) Ptr
	InU8(s []uint8) Ptr
	// InOutU8 is InOut for bytes.
	InOutU8(s []uint8) Ptr
	// InOut returns the address of s for the module to read and write; Done makes the
	// writes visible in s.
	InOut(s []float32) Ptr
	// Scratch returns the address of n floats of temporary space, valid until Done.
	Scratch(n int) Ptr
	// Done ends a kernel call sequence.
	Done()
}

// Module is the kernel module: its memory and one method per export. Sizes count
// elements; see kernels.wat for each kernel's layout.
type Module interface {
	Memory
	PackA(a Ptr, lda, m, k int, out Ptr, k4 int)
	PackB(b Ptr, ldb, n, k int, out Ptr, k4 int)
	GemmPacked(m, n, kc int, ap Ptr, sa int, bp Ptr, sb int, c Ptr, ldc int, accumulate bool)
	DequantPackQ8(rows, cols int, w Ptr, ldw int, scales Ptr, groups, group, col0 int, out Ptr, k4 int)
	GemvQ8(m, n, k int, x Ptr, ldx int, w, scales Ptr, group int, y Ptr, ldy int)
	SoftmaxRows(x Ptr, rows, n, ld int, scale float32, causal int, k4 int, rowSums Ptr)
	ScaleRows(x Ptr, rows, n, ld int, s Ptr)
	QuickGELU(x Ptr, n int)
	GELU(x Ptr, n int)
	LayerNorm(y, x Ptr, rows, d int, gamma, beta Ptr, eps float32)
	QuantPackA(x Ptr, ldx, m, k int, out Ptr, k16 int, sx, zx Ptr)
	PackWQ8(w Ptr, ldw, n, k int, out Ptr, k16 int, wsum Ptr)
	PackWQ8Quads(w Ptr, ldw, n, k int, out Ptr, k16 int, wsum Ptr)
	CopyF32(dst, src Ptr, n int)
	CopyRows(dst, src Ptr, rows, n, lds int)
	QuantRowsI8(x Ptr, ldx, rows, k int, out, sc Ptr)
	ResampleRowRGBA(src, bounds, kk Ptr, ksize, cw int, dst Ptr)
	AttnQKRow(q, k Ptr, ld, nk, heads, dh int, out Ptr, ldo int)
	AddBias(y Ptr, rows, n int, bias Ptr)
	AttnPVRow(p Ptr, ldp, nk int, v Ptr, ld, heads, dh int, out Ptr)
	PackB8(b Ptr, ldb, n, k int, out Ptr, k4 int)
	PackBT8(src Ptr, lds, k, n int, out Ptr, k4 int)
	Gemm4x8(m, n, k4 int, a Ptr, lda int, bp Ptr, c Ptr, ldc int)
	ProbsI16(x Ptr, rows, ld, k4 int, rs, out Ptr)
	PackVI16(src Ptr, lds, k, n int, out Ptr, k4 int, fv, inv Ptr)
	GemmPVI16(m, n, kp int, pa, vp, fv, y Ptr, ldy int)
	QuantRowI16(x Ptr, k int, levels float32, out, sx Ptr)
	GemvQ8I16(n, k int, xq, w Ptr, ldw int, sx, sw, y Ptr)
	// The GemmQ8Q7 kernels exist in the relaxed module only.
	GemmQ8Q7(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int)
	GemmQ8Q7Split(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int)
	GemmQ8Q7Quads(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int)
	GemmQ8Q7QuadsSplit(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int)
	GemmQ8Q7Quads6(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int)
}

// Exports are the module's exported kernels, in the order of Module's methods.
var Exports = []string{"pack_a", "pack_b", "gemm_packed", "dequant_pack_q8", "gemv_q8", "softmax_rows", "scale_rows",
	"quick_gelu", "gelu", "layer_norm", "quant_pack_a", "pack_w_q8", "pack_w_q8_quads", "copy_f32", "copy_rows", "quant_rows_i8", "resample_row_rgba", "attn_qk_row", "add_bias",
	"attn_pv_row", "pack_b8", "pack_bt8", "gemm_4x8", "probs_i16", "pack_v_i16", "gemm_pv_i16",
	"quant_row_i16", "gemv_q8_i16", "gemm_q8q7", "gemm_q8q7_split",
	"gemm_q8q7_quads", "gemm_q8q7_quads_split", "gemm_q8q7_quads6"}

// RelaxedOnly are the exports only kernels-relaxed.wasm has.
var RelaxedOnly = map[string]bool{"gemm_q8q7": true, "gemm_q8q7_split": true, "gemm_q8q7_quads": true, "gemm_q8q7_quads_split": true, "gemm_q8q7_quads6": true}

// ByName is a Module for hosts that run the module themselves (wazero natively, a
// WebAssembly.Instance of its own in browser tests): each kernel is called by its
// export name with int32 and float32 arguments.
type ByName struct {
	Memory
	Call func(name string, args ...any)
}

var _ Module = ByName{}

func i32(v int) int32 { return int32(v) }

func b32(v bool) int32 {
	if v {
		return 1
	}
	return 0
}

func (b ByName) PackA(a Ptr, lda, m, k int, out Ptr, k4 int) {
	b.Call("pack_a", a, i32(lda), i32(m), i32(k), out, i32(k4))
}
func (b ByName) PackB(p Ptr, ldb, n, k int, out Ptr, k4 int) {
	b.Call("pack_b", p, i32(ldb), i32(n), i32(k), out, i32(k4))
}
func (b ByName) GemmPacked(m, n, kc int, ap Ptr, sa int, bp Ptr, sb int, c Ptr, ldc int, acc bool) {
	b.Call("gemm_packed", i32(m), i32(n), i32(kc), ap, i32(sa), bp, i32(sb), c, i32(ldc), b32(acc))
}
func (b ByName) DequantPackQ8(rows, cols int, w Ptr, ldw int, scales Ptr, groups, group, col0 int, out Ptr, k4 int) {
	b.Call("dequant_pack_q8", i32(rows), i32(cols), w, i32(ldw), scales, i32(groups), i32(group), i32(col0), out, i32(k4))
}
func (b ByName) GemvQ8(m, n, k int, x Ptr, ldx int, w, scales Ptr, group int, y Ptr, ldy int) {
	b.Call("gemv_q8", i32(m), i32(n), i32(k), x, i32(ldx), w, scales, i32(group), y, i32(ldy))
}
func (b ByName) SoftmaxRows(x Ptr, rows, n, ld int, scale float32, causal int, k4 int, rs Ptr) {
	b.Call("softmax_rows", x, i32(rows), i32(n), i32(ld), scale, i32(causal), i32(k4), rs)
}
func (b ByName) ScaleRows(x Ptr, rows, n, ld int, s Ptr) {
	b.Call("scale_rows", x, i32(rows), i32(n), i32(ld), s)
}
func (b ByName) QuickGELU(x Ptr, n int) { b.Call("quick_gelu", x, i32(n)) }
func (b ByName) GELU(x Ptr, n int)      { b.Call("gelu", x, i32(n)) }
func (b ByName) LayerNorm(y, x Ptr, rows, d int, gamma, beta Ptr, eps float32) {
	b.Call("layer_norm", y, x, i32(rows), i32(d), gamma, beta, eps)
}
func (b ByName) QuantPackA(x Ptr, ldx, m, k int, out Ptr, k16 int, sx, zx Ptr) {
	b.Call("quant_pack_a", x, i32(ldx), i32(m), i32(k), out, i32(k16), sx, zx)
}
func (b ByName) PackWQ8(w Ptr, ldw, n, k int, out Ptr, k16 int, wsum Ptr) {
	b.Call("pack_w_q8", w, i32(ldw), i32(n), i32(k), out, i32(k16), wsum)
}
func (b ByName) PackWQ8Quads(w Ptr, ldw, n, k int, out Ptr, k16 int, wsum Ptr) {
	b.Call("pack_w_q8_quads", w, i32(ldw), i32(n), i32(k), out, i32(k16), wsum)
}
func (b ByName) CopyF32(dst, src Ptr, n int) { b.Call("copy_f32", dst, src, i32(n)) }
func (b ByName) CopyRows(dst, src Ptr, rows, n, lds int) {
	b.Call("copy_rows", dst, src, i32(rows), i32(n), i32(lds))
}
func (b ByName) QuantRowsI8(x Ptr, ldx, rows, k int, out, sc Ptr) {
	b.Call("quant_rows_i8", x, i32(ldx), i32(rows), i32(k), out, sc)
}
func (b ByName) ResampleRowRGBA(src, bounds, kk Ptr, ksize, cw int, dst Ptr) {
	b.Call("resample_row_rgba", src, bounds, kk, i32(ksize), i32(cw), dst)
}
func (b ByName) AttnQKRow(q, k Ptr, ld, nk, heads, dh int, out Ptr, ldo int) {
	b.Call("attn_qk_row", q, k, i32(ld), i32(nk), i32(heads), i32(dh), out, i32(ldo))
}
func (b ByName) AttnPVRow(p Ptr, ldp, nk int, v Ptr, ld, heads, dh int, out Ptr) {
	b.Call("attn_pv_row", p, i32(ldp), i32(nk), v, i32(ld), i32(heads), i32(dh), out)
}
func (b ByName) PackB8(p Ptr, ldb, n, k int, out Ptr, k4 int) {
	b.Call("pack_b8", p, i32(ldb), i32(n), i32(k), out, i32(k4))
}
func (b ByName) PackBT8(src Ptr, lds, k, n int, out Ptr, k4 int) {
	b.Call("pack_bt8", src, i32(lds), i32(k), i32(n), out, i32(k4))
}
func (b ByName) Gemm4x8(m, n, k4 int, a Ptr, lda int, bp Ptr, c Ptr, ldc int) {
	b.Call("gemm_4x8", i32(m), i32(n), i32(k4), a, i32(lda), bp, c, i32(ldc))
}
func (b ByName) ProbsI16(x Ptr, rows, ld, k4 int, rs, out Ptr) {
	b.Call("probs_i16", x, i32(rows), i32(ld), i32(k4), rs, out)
}
func (b ByName) PackVI16(src Ptr, lds, k, n int, out Ptr, k4 int, fv, inv Ptr) {
	b.Call("pack_v_i16", src, i32(lds), i32(k), i32(n), out, i32(k4), fv, inv)
}
func (b ByName) GemmPVI16(m, n, kp int, pa, vp, fv, y Ptr, ldy int) {
	b.Call("gemm_pv_i16", i32(m), i32(n), i32(kp), pa, vp, fv, y, i32(ldy))
}
func (b ByName) AddBias(y Ptr, rows, n int, bias Ptr) {
	b.Call("add_bias", y, i32(rows), i32(n), bias)
}
func (b ByName) QuantRowI16(x Ptr, k int, levels float32, out, sx Ptr) {
	b.Call("quant_row_i16", x, i32(k), levels, out, sx)
}
func (b ByName) GemvQ8I16(n, k int, xq, w Ptr, ldw int, sx, sw, y Ptr) {
	b.Call("gemv_q8_i16", i32(n), i32(k), xq, w, i32(ldw), sx, sw, y)
}
func (b ByName) GemmQ8Q7(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	b.Call("gemm_q8q7", i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (b ByName) GemmQ8Q7Split(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	b.Call("gemm_q8q7_split", i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (b ByName) GemmQ8Q7Quads(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	b.Call("gemm_q8q7_quads", i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (b ByName) GemmQ8Q7QuadsSplit(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	b.Call("gemm_q8q7_quads_split", i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (b ByName) GemmQ8Q7Quads6(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	b.Call("gemm_q8q7_quads6", i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
