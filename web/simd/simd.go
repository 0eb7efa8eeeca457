//go:build js && wasm

// Package simd plugs the WebAssembly SIMD kernel module (wasm/kernels, loaded by
// static/worker.js beside the Go runtime and importing its memory) into model/kernel.
// The module works on Go's slices in place: Go passes their addresses through one
// imported function per kernel.
package simd

import (
	"math"
	"unsafe"

	"github.com/hack-pad/safejs"

	"gitvqa/wasm/kernels"
)

//go:wasmimport gitvqa pack_a
func packA(a uint32, lda, m, k int32, out uint32, k4 int32)

//go:wasmimport gitvqa pack_b
func packB(b uint32, ldb, n, k int32, out uint32, k4 int32)

//go:wasmimport gitvqa pack_bt
func packBT(src uint32, lds, n, k int32, out uint32, k4 int32)

//go:wasmimport gitvqa gemm_packed
func gemmPacked(m, n, kc int32, ap uint32, sa int32, bp uint32, sb int32, c uint32, ldc, acc int32)

//go:wasmimport gitvqa dequant_pack_q8
func dequantPackQ8(rows, cols int32, w uint32, ldw int32, scales uint32, groups, group, col0 int32, out uint32, k4 int32)

//go:wasmimport gitvqa gemv_q8
func gemvQ8(m, n, k int32, x uint32, ldx int32, w uint32, scales uint32, group int32, y uint32, ldy int32)

//go:wasmimport gitvqa softmax_pack
func softmaxPack(x uint32, rows, n, ld int32, scale float32, causal int32, out uint32, k4 int32, rs uint32)

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

//go:wasmimport gitvqa copy_f32
func copyF32(dst, src uint32, n int32)

//go:wasmimport gitvqa gemm_q8q7
func gemmQ8Q7(m, n, k16 int32, xp, wp, sx, zx, sw, wsum, y uint32, ldy int32)

// Variant reports which kernel module static/worker.js loaded: "relaxed" (fused
// multiply-adds), "simd", or "" when none could be (no SIMD in this browser, or the
// module failed to load).
func Variant() string {
	k, err := safejs.Global().Get("gitvqaKernels")
	if err != nil || k.IsUndefined() || k.IsNull() {
		return ""
	}
	v, err := k.Get("variant")
	if err != nil || v.Type() != safejs.TypeString {
		return ""
	}
	s, _ := v.String()
	if s != "relaxed" && s != "simd" {
		return ""
	}
	return s
}

// New returns the accelerator over the module; int8 enables the int8-activation path
// (relaxed module only).
func New(int8 bool) kernels.Accel { return kernels.Accel{M: &goMemory{}, Int8: int8} }

// goMemory is kernels.Memory over Go's own memory: addresses of live slices, and
// scratch space for packed operands that grows to the largest need and is reused.
// Slices passed in are kept alive by their callers for the duration of the calls.
type goMemory struct {
	chunks [][]float32 // scratch: the last is in use from offset used
	used   int
	peak   int // floats handed out in the current sequence
}

func addr(p unsafe.Pointer) uint32 { return uint32(uintptr(p)) }

func (g *goMemory) In(s []float32) uint32 {
	if len(s) == 0 {
		return 0
	}
	return addr(unsafe.Pointer(&s[0]))
}

func (g *goMemory) InI8(s []int8) uint32 {
	if len(s) == 0 {
		return 0
	}
	return addr(unsafe.Pointer(&s[0]))
}

func (g *goMemory) InOut(s []float32) uint32 { return g.In(s) }

// Scratch hands out 16-byte aligned space. Space already handed out in this sequence
// stays where it is: a request that does not fit opens a new chunk.
func (g *goMemory) Scratch(n int) uint32 {
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
	base := addr(unsafe.Pointer(&c[0]))
	start := g.used + int((16-(base+uint32(4*g.used))%16)%16)/4
	g.used = start + n
	return base + uint32(4*start)
}

// Done ends a sequence; scratch spread over chunks becomes one, for the next.
func (g *goMemory) Done() {
	if len(g.chunks) > 1 {
		g.chunks = [][]float32{make([]float32, g.peak)}
	}
	g.used, g.peak = 0, 0
}

func (g *goMemory) Call(name string, a ...uint64) {
	i := func(k int) int32 { return int32(uint32(a[k])) }
	u := func(k int) uint32 { return uint32(a[k]) }
	f := func(k int) float32 { return math.Float32frombits(uint32(a[k])) }
	switch name {
	case "pack_a":
		packA(u(0), i(1), i(2), i(3), u(4), i(5))
	case "pack_b":
		packB(u(0), i(1), i(2), i(3), u(4), i(5))
	case "pack_bt":
		packBT(u(0), i(1), i(2), i(3), u(4), i(5))
	case "gemm_packed":
		gemmPacked(i(0), i(1), i(2), u(3), i(4), u(5), i(6), u(7), i(8), i(9))
	case "dequant_pack_q8":
		dequantPackQ8(i(0), i(1), u(2), i(3), u(4), i(5), i(6), i(7), u(8), i(9))
	case "gemv_q8":
		gemvQ8(i(0), i(1), i(2), u(3), i(4), u(5), u(6), i(7), u(8), i(9))
	case "softmax_pack":
		softmaxPack(u(0), i(1), i(2), i(3), f(4), i(5), u(6), i(7), u(8))
	case "scale_rows":
		scaleRows(u(0), i(1), i(2), i(3), u(4))
	case "quick_gelu":
		quickGELU(u(0), i(1))
	case "gelu":
		gelu(u(0), i(1))
	case "layer_norm":
		layerNorm(u(0), u(1), i(2), i(3), u(4), u(5), f(6))
	case "quant_pack_a":
		quantPackA(u(0), i(1), i(2), i(3), u(4), i(5), u(6), u(7))
	case "pack_w_q8":
		packWQ8(u(0), i(1), i(2), i(3), u(4), i(5), u(6))
	case "copy_f32":
		copyF32(u(0), u(1), i(2))
	case "gemm_q8q7":
		gemmQ8Q7(i(0), i(1), i(2), u(3), u(4), u(5), u(6), u(7), u(8), u(9), i(10))
	default:
		panic("simd: no kernel " + name)
	}
}
