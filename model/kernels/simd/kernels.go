package simd

import "gitvqa/model/kernels"

// Kernels runs kernels.Kernels on the module: it packs operands into the layouts the
// module's GEMMs want, blocks for cache, and hands the few shapes the module does not
// take (int8 groups that are not a multiple of 16, odd layer-norm widths, activations
// it has no kernel for) to the Go kernels.
type Kernels struct {
	M Module
	// Int8 lets LinearQ8 quantize activations to 7 bits and multiply int8 by int8 with
	// relaxed SIMD's dot product (the relaxed module only): about 3× the float path, at
	// the cost of a rounding of the activations comparable to that of the weights; one
	// to three rows (a decoder step) are quantized to 14 bits instead (gemv_q8_i16).
	// Off, activations stay float32: the exact setting.
	Int8 bool
	// SplitDot runs Int8's products as gemm_q8q7_split rather than gemm_q8q7: the same
	// integers, faster where the fused dot is not one instruction (ChooseDot).
	SplitDot bool

	fallback kernels.Go
}

var _ kernels.Kernels = (*Kernels)(nil)

func round4(n int) int { return (n + 3) &^ 3 }

// span is how many values rows rows of cols values with stride ld cover.
func span(rows, ld, cols int) int {
	if rows == 0 {
		return 0
	}
	return (rows-1)*ld + cols
}

// packA packs m rows of a (stride lda) into row pairs, k4 columns.
func (x *Kernels) packA(m, k int, a []float32, lda int) (addr Ptr, stride int) {
	k4 := round4(k)
	pa := x.M.Scratch(((m + 1) / 2) * 2 * k4)
	x.M.PackA(x.M.In(a[:span(m, lda, k)]), lda, m, k, pa, k4)
	return pa, 2 * k4
}

// blockN is how many rows of B (output columns) one packed panel holds: 64 rows of
// k ≤ 4096 floats stay within L2 while every pair of A's rows passes.
const blockN = 64

// GemmNT implements kernels.Kernels.
func (x *Kernels) GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
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
		x.M.PackB(x.M.In(b[jb*ldb:jb*ldb+span(nb, ldb, k)]), ldb, nb, k, pb, k4)
		x.M.GemmPacked(m, nb, k4, pa, sa, pb, 4*k4, pc+Ptr(4*jb), ldc, false)
	}
	x.M.Done()
}

// rowBlock is how many query rows Attention takes at a time: 32×901 scores stay in L2
// from the product through the softmax to the values.
const rowBlock = 32

// Attention implements kernels.Kernels, head by head and rowBlock query rows at a
// time: the scores (floatScores, or with Int8 for the image rows int8Scores), the
// softmax in place, then the values' product on those rows while they are in L2
// (floatValues, or with the int8 scores int16Values). Heads whose width is not a
// multiple of 4 run in Go.
func (x *Kernels) Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causal int) {
	if m == 0 || nk == 0 {
		return
	}
	if dh%4 != 0 {
		x.fallback.Attention(out, q, k, v, m, nk, heads, dh, scale, causal)
		return
	}
	if m == 1 {
		x.attentionRow(out, q, k, v, nk, heads, dh, scale, causal)
		return
	}
	d := heads * dh
	nk4 := round4(nk)
	sc := x.M.Scratch(rowBlock * nk4)
	rs := x.M.Scratch(rowBlock)
	pq, pk, pv := x.M.In(q[:span(m, d, d)]), x.M.In(k[:span(nk, d, d)]), x.M.In(v[:span(nk, d, d)])
	po := x.M.InOut(out[:span(m, d, d)])
	var scores attentionScores
	var values attentionValues
	if x.Int8 && Int8Attention(m, dh) {
		scores, values = x.int8Scores(nk, dh), x.int16Values(nk, dh)
	} else {
		scores, values = x.floatScores(nk, dh), x.floatValues(nk, dh)
	}
	for h := 0; h < heads; h++ {
		off := Ptr(4 * h * dh)
		scores.keys(pk+off, d)
		values.pack(pv+off, d)
		for i0 := 0; i0 < m; i0 += rowBlock {
			rows := min(rowBlock, m-i0)
			c := causal
			if c >= 0 {
				c += i0
			}
			scores.product(pq+off+Ptr(4*i0*d), d, rows, sc, nk4)
			x.M.SoftmaxRows(sc, rows, nk, nk4, scale, c, nk4, rs)
			values.product(sc, nk4, rows, rs, po+off+Ptr(4*i0*d), d)
		}
	}
	x.M.Done()
}

// attentionValues is how Attention multiplies a block of softmax rows by a head's
// values: pack prepares the head's values (stride ld floats), product turns rows rows
// of softmax_rows' output (stride lds) with their 1/Σ at rs into rows of out (stride ld).
type attentionValues struct {
	pack    func(v Ptr, ld int)
	product func(sc Ptr, lds, rows int, rs, out Ptr, ld int)
}

// floatValues is the float32 product: the values packed in 8-column panels, gemm_4x8,
// then each row scaled by its 1/Σ (cheaper than normalising its nk probabilities).
func (x *Kernels) floatValues(nk, dh int) attentionValues {
	nk4 := round4(nk)
	vb := x.M.Scratch(((dh + 7) &^ 7) * nk4)
	return attentionValues{
		pack: func(v Ptr, ld int) { x.M.PackBT8(v, ld, nk, dh, vb, nk4) },
		product: func(sc Ptr, lds, rows int, rs, out Ptr, ld int) {
			x.M.Gemm4x8(rows, dh, nk4, sc, lds, vb, out, ld)
			x.M.ScaleRows(out, rows, dh, ld, rs)
		},
	}
}

// int16Values is the i16 product (RefAttentionQ8): a head's values quantized to i16 a
// column and packed in pairs of keys (pack_v_i16), each block's probabilities to 15 bits
// (probs_i16), then gemm_pv_i16's exact integer dots, eight multiply-adds an instruction
// where gemm_4x8's float ones do four. dh a multiple of 8 (Int8Attention: of 16).
func (x *Kernels) int16Values(nk, dh int) attentionValues {
	nk4 := round4(nk)
	vp := x.M.Scratch(dh * nk4 / 2)
	fv, inv := x.M.Scratch(dh), x.M.Scratch(dh)
	pp := x.M.Scratch(rowBlock * nk4 / 2) // a block's probabilities: nk4 i16 a row
	return attentionValues{
		pack: func(v Ptr, ld int) { x.M.PackVI16(v, ld, nk, dh, vp, nk4, fv, inv) },
		product: func(sc Ptr, lds, rows int, rs, out Ptr, ld int) {
			x.M.ProbsI16(sc, rows, lds, nk4, rs, pp)
			x.M.GemmPVI16(rows, dh, nk4/2, pp, vp, fv, out, ld)
		},
	}
}

// attentionScores is how Attention multiplies a block of queries by a head's keys:
// keys prepares the head's keys (stride ld floats), product writes the scores of rows
// queries (stride ld) to sc (stride ldc).
type attentionScores struct {
	keys    func(k Ptr, ld int)
	product func(q Ptr, ld, rows int, sc Ptr, ldc int)
}

// floatScores is the float32 product: the keys packed in 8-column panels, the block's
// queries copied together (read in place, a head's rows lie 4·d bytes apart, 4 KB in the
// encoder, alias in L1 and slowed the product by 11%), then gemm_4x8.
func (x *Kernels) floatScores(nk, dh int) attentionScores {
	kb := x.M.Scratch(((nk + 7) &^ 7) * dh)
	qb := x.M.Scratch(rowBlock * dh)
	return attentionScores{
		keys: func(k Ptr, ld int) { x.M.PackB8(k, ld, nk, dh, kb, dh) },
		product: func(q Ptr, ld, rows int, sc Ptr, ldc int) {
			x.M.CopyRows(qb, q, rows, dh, ld)
			x.M.Gemm4x8(rows, nk, dh, qb, dh, kb, sc, ldc)
		},
	}
}

// int8Scores is the int8 product (RefAttentionQ8): each key quantized to int8 and
// packed as gemm_q8q7_quads' weights, each block's queries to 7 bits, as a Linear
// layer's activations. Where the fused dot is one instruction (AVX-VNNI) gemm_q8q7 at
// k = 64 ran at 3.1× gemm_4x8's rate, the split one at 1.8× (AMD EPYC Zen 5,
// Chromium); the quads' layout, the same floats without gemm_q8q7's horizontal sums,
// took the split product from 24 to 18 ms an encoder layer (AMD EPYC Zen 4).
func (x *Kernels) int8Scores(nk, dh int) attentionScores {
	nk4 := round4(nk)
	k8 := x.M.Scratch(nk4 * dh / 4)
	kp := x.M.Scratch(nk4 * dh / 4)
	ks, ksum := x.M.Scratch(nk4), x.M.Scratch(nk4) // read four at a time: padded
	xp := x.M.Scratch(rowBlock * dh / 4)
	sx, zx := x.M.Scratch(rowBlock), x.M.Scratch(rowBlock)
	// Not gemm_q8q7_quads6, as the Linear layers: a block's 32 rows are five of its
	// tiles and a ragged one, 98 GFLOP/s against quads' 114 (Intel Xeon, AVX-VNNI).
	gemm := x.M.GemmQ8Q7Quads
	if x.SplitDot {
		gemm = x.M.GemmQ8Q7QuadsSplit
	}
	return attentionScores{
		keys: func(k Ptr, ld int) {
			x.M.QuantRowsI8(k, ld, nk, dh, k8, ks)
			x.M.PackWQ8Quads(k8, dh, nk, dh, kp, dh, ksum)
		},
		product: func(q Ptr, ld, rows int, sc Ptr, ldc int) {
			x.M.QuantPackA(q, ld, rows, dh, xp, dh, sx, zx)
			gemm(rows, nk, dh, xp, kp, sx, zx, ks, ksum, sc, ldc)
		},
	}
}

// attentionRow is a decoder step's attention: one query row against the keys and
// values where they lie, nothing packed (packing the KV cache for one row cost more
// than the products), every head in one pass over the cache's rows: the heads' scores
// as the rows of a softmax, each row scaled by its 1/Σ after the values.
func (x *Kernels) attentionRow(out, q, k, v []float32, nk, heads, dh int, scale float32, causal int) {
	if causal >= 0 { // the row sees the first causal+1 keys: every head the same
		nk = min(nk, causal+1)
	}
	d := heads * dh
	nk4 := round4(nk)
	sc := x.M.Scratch(heads * nk4)
	rs := x.M.Scratch(heads)
	pq, pk, pv := x.M.In(q[:d]), x.M.In(k[:span(nk, d, d)]), x.M.In(v[:span(nk, d, d)])
	po := x.M.InOut(out[:d])
	x.M.AttnQKRow(pq, pk, d, nk, heads, dh, sc, nk4)
	x.M.SoftmaxRows(sc, heads, nk, nk4, scale, -1, nk4, rs)
	x.M.AttnPVRow(sc, nk4, nk, pv, d, heads, dh, po)
	for h := 0; h < heads; h++ {
		x.M.ScaleRows(po+Ptr(4*h*dh), 1, dh, d, rs+Ptr(4*h))
	}
	x.M.Done()
}

// LinearQ8 implements kernels.Kernels: with Int8, on the int8-activation path; else a
// few rows go through gemv_q8, reading the int8 weights directly, and more are a
// packed GEMM over weights dequantized a panel at a time. A 16-column run must share a
// scale (one per row, or groups of a multiple of 16): other groupings run in Go.
func (x *Kernels) LinearQ8(y, xs []float32, m int, w *kernels.Matrix) {
	if m == 0 || w.Rows == 0 {
		return
	}
	if w.Cols == 0 || !(w.Group >= w.Cols || w.Group%16 == 0) {
		x.fallback.LinearQ8(y, xs, m, w)
		return
	}
	if x.int8Path(m, w) {
		x.linearQ8Q7(y, xs, m, w)
		return
	}
	k := w.Cols
	groups := (k + w.Group - 1) / w.Group
	if m < 4 {
		x.M.GemvQ8(m, w.Rows, k, x.M.In(xs[:m*k]), k, x.M.InI8(w.Q8), x.M.In(w.Scales), w.Group, x.M.InOut(y[:m*w.Rows]), w.Rows)
		x.M.Done()
		return
	}
	k4 := round4(k)
	pa, sa := x.packA(m, k, xs, k)
	py := x.M.InOut(y[:m*w.Rows])
	pb := x.M.Scratch(blockN * k4)
	pw, ps := x.M.InI8(w.Q8), x.M.In(w.Scales)
	for jb := 0; jb < w.Rows; jb += blockN {
		nb := min(blockN, w.Rows-jb)
		x.M.DequantPackQ8(nb, k, pw+Ptr(jb*k), k, ps+Ptr(4*jb*groups), groups, w.Group, 0, pb, k4)
		x.M.GemmPacked(m, nb, k4, pa, sa, pb, 4*k4, py+Ptr(4*jb), w.Rows, false)
	}
	x.M.Done()
}

// AddBias implements kernels.Kernels: rows a multiple of 4 wide in the module (Go's
// scalar loop cost a tenth of a Linear layer's time), others in Go.
func (x *Kernels) AddBias(y []float32, m, n int, bias []float32) {
	if m == 0 || n == 0 {
		return
	}
	if n%4 != 0 {
		x.fallback.AddBias(y, m, n, bias)
		return
	}
	x.M.AddBias(x.M.InOut(y[:m*n]), m, n, x.M.In(bias[:n]))
	x.M.Done()
}

// Activate implements kernels.Kernels: CLIP's quick_gelu and BERT's (erf) gelu in the
// module, the rest in Go.
func (x *Kernels) Activate(s []float32, act string) {
	if len(s) == 0 {
		return
	}
	switch act {
	case kernels.ActQuickGELU:
		x.M.QuickGELU(x.M.InOut(s), len(s))
	case kernels.ActGELU:
		x.M.GELU(x.M.InOut(s), len(s))
	default:
		x.fallback.Activate(s, act)
		return
	}
	x.M.Done()
}

// LayerNorm implements kernels.Kernels.
func (x *Kernels) LayerNorm(y, s []float32, d int, gamma, beta []float32, eps float64) {
	if d == 0 || d%4 != 0 || len(s) < d || len(y) < len(s) {
		x.fallback.LayerNorm(y, s, d, gamma, beta, eps)
		return
	}
	rows := len(s) / d
	// y may alias s: read and write through one address when it does.
	var py, ps Ptr
	if &y[0] == &s[0] {
		py = x.M.InOut(s[:rows*d])
		ps = py
	} else {
		ps = x.M.In(s[:rows*d])
		py = x.M.InOut(y[:rows*d])
	}
	x.M.LayerNorm(py, ps, rows, d, x.M.In(gamma[:d]), x.M.In(beta[:d]), float32(eps))
	x.M.Done()
}
