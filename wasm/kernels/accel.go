package kernels

import (
	"math"

	"gitvqa/model/kernel"
)

// Memory is the kernel module as Go sees it. In the browser the module works on Go's
// own memory (addresses of Go slices, no copies); in tests it runs in wazero with its
// own memory, and the buffers are copied in and out.
type Memory interface {
	// In returns the address of s for the module to read.
	In(s []float32) uint32
	InI8(s []int8) uint32
	// InOut returns the address of s for the module to read and write; Done makes the
	// writes visible in s.
	InOut(s []float32) uint32
	// Scratch returns the address of n floats of temporary space, valid until Done.
	Scratch(n int) uint32
	// Call runs an exported kernel; arguments are encoded as by I and F.
	Call(name string, args ...uint64)
	// Done ends a kernel call sequence.
	Done()
}

// I and F encode arguments for Memory.Call.
func I(v int) uint64     { return uint64(uint32(int32(v))) }
func F(v float32) uint64 { return uint64(math.Float32bits(v)) }

// Accel drives the module's kernels as a kernel.Accel: it packs operands into the
// layouts the module's GEMM wants, blocks for cache and applies the edges' rules.
type Accel struct {
	M Memory
	// Int8 lets LinearQ8 quantize activations to 7 bits and multiply int8 by int8 with
	// relaxed SIMD's dot product (the relaxed module only): about 3× the float path, at
	// the cost of a rounding of the activations comparable to that of the weights.
	Int8 bool
}

var _ kernel.Accel = Accel{}

func round4(n int) int { return (n + 3) &^ 3 }

// packA packs m rows of a (stride lda) into row pairs, k4 columns.
func (x Accel) packA(m, k int, a []float32, lda int) (addr uint32, stride int) {
	k4 := round4(k)
	pa := x.M.Scratch(((m + 1) / 2) * 2 * k4)
	x.M.Call("pack_a", I(int(x.M.In(a[:span(m, lda, k)]))), I(lda), I(m), I(k), I(int(pa)), I(k4))
	return pa, 2 * k4
}

func span(rows, ld, cols int) int {
	if rows == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// blockN is how many rows of B (output columns) one packed panel holds: 64 rows of
// k ≤ 4096 floats stay within L2 while every pair of A's rows passes.
const blockN = 64

// GemmNT implements kernel.Accel.
func (x Accel) GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	k4 := round4(k)
	pa, sa := x.packA(m, k, a, lda)
	pc := x.M.InOut(c[:span(m, ldc, n)])
	pb := x.M.Scratch(blockN * k4)
	for jb := 0; jb < n; jb += blockN {
		nb := min(blockN, n-jb)
		x.M.Call("pack_b", I(int(x.M.In(b[jb*ldb:jb*ldb+span(nb, ldb, k)]))), I(ldb), I(nb), I(k), I(int(pb)), I(k4))
		x.M.Call("gemm_packed", I(m), I(nb), I(k4), I(int(pa)), I(sa), I(int(pb)), I(4*k4), I(int(pc)+4*jb), I(ldc), I(0))
	}
	x.M.Done()
}

// Attention implements kernel.Accel, head by head: scores as a packed GEMM, the
// softmax written straight into the packed layout of the values' GEMM (its 1/Σ applied
// to the product's rows afterwards), and the values packed from their k-major layout.
func (x Accel) Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causal int) {
	if m == 0 || nk == 0 {
		return
	}
	d := heads * dh
	dh4, nk4 := round4(dh), round4(nk)
	qa := x.M.Scratch(((m + 1) / 2) * 2 * dh4)
	kb := x.M.Scratch(round4(nk) * dh4)
	const rowBlock = 32 // rows of scores at a time: 32×901 floats stay in L2 for the softmax
	sc := x.M.Scratch(rowBlock * nk)
	pa := x.M.Scratch(((m + 1) / 2) * 2 * nk4)
	vb := x.M.Scratch(round4(dh) * nk4)
	rs := x.M.Scratch(m)
	pq, pk, pv := x.M.In(q[:span(m, d, d)]), x.M.In(k[:span(nk, d, d)]), x.M.In(v[:span(nk, d, d)])
	po := x.M.InOut(out[:span(m, d, d)])
	for h := 0; h < heads; h++ {
		off := uint32(4 * h * dh)
		x.M.Call("pack_a", I(int(pq+off)), I(d), I(m), I(dh), I(int(qa)), I(dh4))
		x.M.Call("pack_b", I(int(pk+off)), I(d), I(nk), I(dh), I(int(kb)), I(dh4))
		for i0 := 0; i0 < m; i0 += rowBlock {
			rows := min(rowBlock, m-i0)
			c := causal
			if c >= 0 {
				c += i0
			}
			x.M.Call("gemm_packed", I(rows), I(nk), I(dh4), I(int(qa)+4*i0*dh4), I(2*dh4), I(int(kb)), I(4*dh4), I(int(sc)), I(nk), I(0))
			x.M.Call("softmax_pack", I(int(sc)), I(rows), I(nk), I(nk), F(scale), I(c), I(int(pa)+4*i0*nk4), I(nk4), I(int(rs)+4*i0))
		}
		x.M.Call("pack_bt", I(int(pv+off)), I(d), I(dh), I(nk), I(int(vb)), I(nk4))
		x.M.Call("gemm_packed", I(m), I(dh), I(nk4), I(int(pa)), I(2*nk4), I(int(vb)), I(4*nk4), I(int(po+off)), I(d), I(0))
		x.M.Call("scale_rows", I(int(po+off)), I(m), I(dh), I(d), I(int(rs)))
	}
	x.M.Done()
}

// LinearQ8 implements kernel.Accel: a few rows go through gemv_q8, reading the int8
// weights directly; more are a packed GEMM over weights dequantized a panel at a time.
// A 16-column run must share a scale (one per row, or groups of a multiple of 16).
func (x Accel) LinearQ8(y, xs []float32, m int, w *kernel.Matrix) bool {
	if m == 0 || w.Rows == 0 || w.Cols == 0 || !(w.Group >= w.Cols || w.Group%16 == 0) {
		return false
	}
	if x.int8Path(m, w) {
		x.linearQ8Q7(y, xs, m, w)
		return true
	}
	k := w.Cols
	groups := (k + w.Group - 1) / w.Group
	if m < 4 {
		x.M.Call("gemv_q8", I(m), I(w.Rows), I(k), I(int(x.M.In(xs[:m*k]))), I(k),
			I(int(x.M.InI8(w.Q8))), I(int(x.M.In(w.Scales))), I(w.Group), I(int(x.M.InOut(y[:m*w.Rows]))), I(w.Rows))
		x.M.Done()
		return true
	}
	k4 := round4(k)
	pa, sa := x.packA(m, k, xs, k)
	py := x.M.InOut(y[:m*w.Rows])
	pb := x.M.Scratch(blockN * k4)
	pw, ps := x.M.InI8(w.Q8), x.M.In(w.Scales)
	for jb := 0; jb < w.Rows; jb += blockN {
		nb := min(blockN, w.Rows-jb)
		x.M.Call("dequant_pack_q8", I(nb), I(k), I(int(pw)+jb*k), I(k), I(int(ps)+4*jb*groups), I(groups), I(w.Group), I(0), I(int(pb)), I(k4))
		x.M.Call("gemm_packed", I(m), I(nb), I(k4), I(int(pa)), I(sa), I(int(pb)), I(4*k4), I(int(py)+4*jb), I(w.Rows), I(0))
	}
	x.M.Done()
	return true
}

// Activate implements kernel.Accel for CLIP's quick_gelu and BERT's (erf) gelu.
func (x Accel) Activate(s []float32, act string) bool {
	name := map[string]string{kernel.ActQuickGELU: "quick_gelu", kernel.ActGELU: "gelu"}[act]
	if name == "" {
		return false
	}
	if len(s) > 0 {
		x.M.Call(name, I(int(x.M.InOut(s))), I(len(s)))
		x.M.Done()
	}
	return true
}

// LayerNorm implements kernel.Accel.
func (x Accel) LayerNorm(y, s []float32, d int, gamma, beta []float32, eps float64) bool {
	if d == 0 || d%4 != 0 || len(s) < d || len(y) < len(s) {
		return false
	}
	rows := len(s) / d
	// y may alias s: read and write through one address when it does.
	var py, ps uint32
	if &y[0] == &s[0] {
		py = x.M.InOut(s[:rows*d])
		ps = py
	} else {
		ps = x.M.In(s[:rows*d])
		py = x.M.InOut(y[:rows*d])
	}
	x.M.Call("layer_norm", I(int(py)), I(int(ps)), I(rows), I(d), I(int(x.M.In(gamma[:d]))), I(int(x.M.In(beta[:d]))), F(float32(eps)))
	x.M.Done()
	return true
}

// Names are the exported kernels, in the order static/worker.js wires them.
var Names = []string{"pack_a", "pack_b", "pack_bt", "gemm_packed", "dequant_pack_q8", "gemv_q8", "softmax_pack", "scale_rows",
	"quick_gelu", "gelu", "layer_norm", "quant_pack_a", "pack_w_q8", "copy_f32", "gemm_q8q7"}

// FloatArgs lists the float32 parameters of the kernels that have any (the rest are i32).
var FloatArgs = map[string][]int{"softmax_pack": {4}, "layer_norm": {6}}

// RelaxedOnly are the kernels only the relaxed module has.
var RelaxedOnly = map[string]bool{"gemm_q8q7": true}
