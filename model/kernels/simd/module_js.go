//go:build js && wasm

package simd

import "unsafe"

// The module's exports as static/worker.js hands them to Go: one import each from
// "gitvqa", a trampoline into the kernel module it instantiated over Go's memory
// (≈0.05–0.1 µs a call, against ≈1 µs through syscall/js).

//go:wasmimport gitvqa pack_a
func packA(a uint32, lda, m, k int32, out uint32, k4 int32)

//go:wasmimport gitvqa pack_b
func packB(b uint32, ldb, n, k int32, out uint32, k4 int32)

//go:wasmimport gitvqa gemm_packed
func gemmPacked(m, n, kc int32, ap uint32, sa int32, bp uint32, sb int32, c uint32, ldc, acc int32)

//go:wasmimport gitvqa dequant_pack_q8
func dequantPackQ8(rows, cols int32, w uint32, ldw int32, scales uint32, groups, group, col0 int32, out uint32, k4 int32)

//go:wasmimport gitvqa gemv_q8
func gemvQ8(m, n, k int32, x uint32, ldx int32, w uint32, scales uint32, group int32, y uint32, ldy int32)

//go:wasmimport gitvqa softmax_rows
func softmaxRows(x uint32, rows, n, ld int32, scale float32, causal int32, k4 int32, rs uint32)

//go:wasmimport gitvqa pack_b8
func packB8(b uint32, ldb, n, k int32, out uint32, k4 int32)

//go:wasmimport gitvqa pack_bt8
func packBT8(src uint32, lds, k, n int32, out uint32, k4 int32)

//go:wasmimport gitvqa gemm_4x8
func gemm4x8(m, n, k4 int32, a uint32, lda int32, bp, c uint32, ldc int32)

//go:wasmimport gitvqa probs_i16
func probsI16(x uint32, rows, ld, k4 int32, rs, out uint32)

//go:wasmimport gitvqa pack_v_i16
func packVI16(src uint32, lds, k, n int32, out uint32, k4 int32, fv, inv uint32)

//go:wasmimport gitvqa gemm_pv_i16
func gemmPVI16(m, n, kp int32, pa, vp, fv, y uint32, ldy int32)

//go:wasmimport gitvqa scale_rows
func scaleRows(x uint32, rows, n, ld int32, s uint32)

//go:wasmimport gitvqa quick_gelu
func quickGELU(x uint32, n int32)

//go:wasmimport gitvqa gelu
func gelu(x uint32, n int32)

//go:wasmimport gitvqa layer_norm
func layerNorm(y, x uint32, rows, d int32, gamma, beta uint32, eps float32)

//go:wasmimport gitvqa quant_pack_a
func quantPackA(x uint32, ldx, m, k int32, out uint32, k16 int32, sx, zx uint32)

//go:wasmimport gitvqa pack_w_q8
func packWQ8(w uint32, ldw, n, k int32, out uint32, k16 int32, wsum uint32)

//go:wasmimport gitvqa pack_w_q8_quads
func packWQ8Quads(w uint32, ldw, n, k int32, out uint32, k16 int32, wsum uint32)

//go:wasmimport gitvqa copy_f32
func copyF32(dst, src uint32, n int32)

//go:wasmimport gitvqa copy_rows
func copyRows(dst, src uint32, rows, n, lds int32)

//go:wasmimport gitvqa quant_rows_i8
func quantRowsI8(x uint32, ldx, rows, k int32, out, sc uint32)

//go:wasmimport gitvqa resample_row_rgba
func resampleRowRGBA(src, bounds, kk uint32, ksize, cw int32, dst uint32)

//go:wasmimport gitvqa attn_qk_row
func attnQKRow(q, k uint32, ld, nk, heads, dh int32, out uint32, ldo int32)

//go:wasmimport gitvqa attn_pv_row
func attnPVRow(p uint32, ldp, nk int32, v uint32, ld, heads, dh int32, out uint32)

//go:wasmimport gitvqa add_bias
func addBias(y uint32, rows, n int32, bias uint32)

//go:wasmimport gitvqa quant_row_i16
func quantRowI16(x uint32, k int32, levels float32, out, sx uint32)

//go:wasmimport gitvqa gemv_q8_i16
func gemvQ8I16(n, k int32, xq, w uint32, ldw int32, sx, sw, y uint32)

//go:wasmimport gitvqa gemm_q8q7
func gemmQ8Q7(m, n, k16 int32, xp, wp, sx, zx, sw, wsum, y uint32, ldy int32)

//go:wasmimport gitvqa gemm_q8q7_split
func gemmQ8Q7Split(m, n, k16 int32, xp, wp, sx, zx, sw, wsum, y uint32, ldy int32)

//go:wasmimport gitvqa gemm_q8q7_quads
func gemmQ8Q7Quads(m, n, k16 int32, xp, wp, sx, zx, sw, wsum, y uint32, ldy int32)

//go:wasmimport gitvqa gemm_q8q7_quads_split
func gemmQ8Q7QuadsSplit(m, n, k16 int32, xp, wp, sx, zx, sw, wsum, y uint32, ldy int32)

//go:wasmimport gitvqa gemm_q8q7_quads6
func gemmQ8Q7Quads6(m, n, k16 int32, xp, wp, sx, zx, sw, wsum, y uint32, ldy int32)

// InGoMemory is the module as static/worker.js instantiated it over the Go instance's
// own memory: operands are the addresses of live Go slices, kept alive by their callers
// for the duration of the calls.
func InGoMemory() Module { return &goModule{} }

// goModule is Module over Go's memory: addresses of live slices, and scratch space for
// packed operands that grows to the largest need and is reused.
type goModule struct {
	chunks [][]float32 // scratch: the last is in use from offset used
	used   int
	peak   int // floats handed out in the current sequence
}

// addrOf is the address of s's first element (0 for an empty slice).
func addrOf[T any](s []T) Ptr {
	if len(s) == 0 {
		return 0
	}
	return Ptr(uintptr(unsafe.Pointer(&s[0])))
}

func (g *goModule) In(s []float32) Ptr  { return addrOf(s) }
func (g *goModule) InI8(s []int8) Ptr   { return addrOf(s) }
func (g *goModule) InI32(s []int32) Ptr { return addrOf(s) }
func (g *goModule) InU8(s []uint8) Ptr  { return addrOf(s) }

func (g *goModule) InOut(s []float32) Ptr { return g.In(s) }

func (g *goModule) InOutU8(s []uint8) Ptr { return addrOf(s) }

// Scratch hands out 16-byte aligned space. Space already handed out in this sequence
// stays where it is: a request that does not fit opens a new chunk.
func (g *goModule) Scratch(n int) Ptr {
	n = (n + 3) &^ 3
	g.peak += n + 4
	if len(g.chunks) == 0 || g.used+n+4 > len(g.chunks[len(g.chunks)-1]) {
		size := n + 4
		if len(g.chunks) > 0 {
			size = max(size, 2*len(g.chunks[len(g.chunks)-1]))
		}
		g.chunks = append(g.chunks, make([]float32, size))
		g.used = 0
	}
	c := g.chunks[len(g.chunks)-1]
	base := addrOf(c)
	start := g.used + int((16-(base+Ptr(4*g.used))%16)%16)/4
	g.used = start + n
	return base + Ptr(4*start)
}

// Done ends a sequence; scratch spread over chunks becomes one, for the next.
func (g *goModule) Done() {
	if len(g.chunks) > 1 {
		g.chunks = [][]float32{make([]float32, g.peak)}
	}
	g.used, g.peak = 0, 0
}

func (*goModule) PackA(a Ptr, lda, m, k int, out Ptr, k4 int) {
	packA(a, i32(lda), i32(m), i32(k), out, i32(k4))
}
func (*goModule) PackB(b Ptr, ldb, n, k int, out Ptr, k4 int) {
	packB(b, i32(ldb), i32(n), i32(k), out, i32(k4))
}
func (*goModule) GemmPacked(m, n, kc int, ap Ptr, sa int, bp Ptr, sb int, c Ptr, ldc int, acc bool) {
	gemmPacked(i32(m), i32(n), i32(kc), ap, i32(sa), bp, i32(sb), c, i32(ldc), b32(acc))
}
func (*goModule) DequantPackQ8(rows, cols int, w Ptr, ldw int, scales Ptr, groups, group, col0 int, out Ptr, k4 int) {
	dequantPackQ8(i32(rows), i32(cols), w, i32(ldw), scales, i32(groups), i32(group), i32(col0), out, i32(k4))
}
func (*goModule) GemvQ8(m, n, k int, x Ptr, ldx int, w, scales Ptr, group int, y Ptr, ldy int) {
	gemvQ8(i32(m), i32(n), i32(k), x, i32(ldx), w, scales, i32(group), y, i32(ldy))
}
func (*goModule) SoftmaxRows(x Ptr, rows, n, ld int, scale float32, causal int, k4 int, rs Ptr) {
	softmaxRows(x, i32(rows), i32(n), i32(ld), scale, i32(causal), i32(k4), rs)
}
func (*goModule) PackB8(b Ptr, ldb, n, k int, out Ptr, k4 int) {
	packB8(b, i32(ldb), i32(n), i32(k), out, i32(k4))
}
func (*goModule) PackBT8(src Ptr, lds, k, n int, out Ptr, k4 int) {
	packBT8(src, i32(lds), i32(k), i32(n), out, i32(k4))
}
func (*goModule) Gemm4x8(m, n, k4 int, a Ptr, lda int, bp Ptr, c Ptr, ldc int) {
	gemm4x8(i32(m), i32(n), i32(k4), a, i32(lda), bp, c, i32(ldc))
}
func (*goModule) ProbsI16(x Ptr, rows, ld, k4 int, rs, out Ptr) {
	probsI16(x, i32(rows), i32(ld), i32(k4), rs, out)
}
func (*goModule) PackVI16(src Ptr, lds, k, n int, out Ptr, k4 int, fv, inv Ptr) {
	packVI16(src, i32(lds), i32(k), i32(n), out, i32(k4), fv, inv)
}
func (*goModule) GemmPVI16(m, n, kp int, pa, vp, fv, y Ptr, ldy int) {
	gemmPVI16(i32(m), i32(n), i32(kp), pa, vp, fv, y, i32(ldy))
}
func (*goModule) ScaleRows(x Ptr, rows, n, ld int, s Ptr) {
	scaleRows(x, i32(rows), i32(n), i32(ld), s)
}
func (*goModule) QuickGELU(x Ptr, n int) { quickGELU(x, i32(n)) }
func (*goModule) GELU(x Ptr, n int)      { gelu(x, i32(n)) }
func (*goModule) LayerNorm(y, x Ptr, rows, d int, gamma, beta Ptr, eps float32) {
	layerNorm(y, x, i32(rows), i32(d), gamma, beta, eps)
}
func (*goModule) QuantPackA(x Ptr, ldx, m, k int, out Ptr, k16 int, sx, zx Ptr) {
	quantPackA(x, i32(ldx), i32(m), i32(k), out, i32(k16), sx, zx)
}
func (*goModule) PackWQ8(w Ptr, ldw, n, k int, out Ptr, k16 int, wsum Ptr) {
	packWQ8(w, i32(ldw), i32(n), i32(k), out, i32(k16), wsum)
}
func (*goModule) PackWQ8Quads(w Ptr, ldw, n, k int, out Ptr, k16 int, wsum Ptr) {
	packWQ8Quads(w, i32(ldw), i32(n), i32(k), out, i32(k16), wsum)
}
func (*goModule) CopyF32(dst, src Ptr, n int) { copyF32(dst, src, i32(n)) }
func (*goModule) CopyRows(dst, src Ptr, rows, n, lds int) {
	copyRows(dst, src, i32(rows), i32(n), i32(lds))
}
func (*goModule) QuantRowsI8(x Ptr, ldx, rows, k int, out, sc Ptr) {
	quantRowsI8(x, i32(ldx), i32(rows), i32(k), out, sc)
}
func (*goModule) ResampleRowRGBA(src, bounds, kk Ptr, ksize, cw int, dst Ptr) {
	resampleRowRGBA(src, bounds, kk, i32(ksize), i32(cw), dst)
}
func (*goModule) AttnQKRow(q, k Ptr, ld, nk, heads, dh int, out Ptr, ldo int) {
	attnQKRow(q, k, i32(ld), i32(nk), i32(heads), i32(dh), out, i32(ldo))
}
func (*goModule) AttnPVRow(p Ptr, ldp, nk int, v Ptr, ld, heads, dh int, out Ptr) {
	attnPVRow(p, i32(ldp), i32(nk), v, i32(ld), i32(heads), i32(dh), out)
}
func (*goModule) AddBias(y Ptr, rows, n int, bias Ptr) { addBias(y, i32(rows), i32(n), bias) }
func (*goModule) QuantRowI16(x Ptr, k int, levels float32, out, sx Ptr) {
	quantRowI16(x, i32(k), levels, out, sx)
}
func (*goModule) GemvQ8I16(n, k int, xq, w Ptr, ldw int, sx, sw, y Ptr) {
	gemvQ8I16(i32(n), i32(k), xq, w, i32(ldw), sx, sw, y)
}
func (*goModule) GemmQ8Q7(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	gemmQ8Q7(i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (*goModule) GemmQ8Q7Split(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	gemmQ8Q7Split(i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (*goModule) GemmQ8Q7Quads(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	gemmQ8Q7Quads(i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (*goModule) GemmQ8Q7QuadsSplit(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	gemmQ8Q7QuadsSplit(i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
func (*goModule) GemmQ8Q7Quads6(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y Ptr, ldy int) {
	gemmQ8Q7Quads6(i32(m), i32(n), i32(k16), xp, wp, sx, zx, sw, wsum, y, i32(ldy))
}
