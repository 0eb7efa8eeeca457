package simd

import (
	"math"
	"runtime"
	"sync"

	"gitvqa/model/kernels"
)

// QuantizeRow is the activation quantization of quant_pack_a for one row: 7-bit
// values q = round((x − min)/s) with s = (max − min)/127, in float32 arithmetic step by
// step as the kernel does it.
func QuantizeRow(x []float32, q []uint8) (s, zero float32) {
	mn, mx := float32(math.Inf(1)), float32(math.Inf(-1))
	for _, v := range x {
		mn, mx = min(mn, v), max(mx, v)
	}
	s = (mx - mn) / 127
	if s == 0 {
		s = 1
	}
	inv := 1 / s
	for i, v := range x {
		t := float32(math.RoundToEven(float64((v - mn) * inv)))
		q[i] = uint8(max(0, min(127, t)))
	}
	return s, mn
}

// RefLinearQ8Q7 is the reference of the int8-activation path (quant_pack_a, pack_w_q8
// and gemm_q8q7): y = x·Wᵀ for int8 W with one scale per row, x quantized row by row to
// 7 bits. Integer dot products are exact; the float steps follow the kernel's order.
func RefLinearQ8Q7(y, x []float32, m int, w *kernels.Matrix) {
	k := w.Cols
	q := make([]uint8, k)
	wsum := make([]float32, w.Rows)
	for j := 0; j < w.Rows; j++ {
		var t int32
		for _, v := range w.Q8[j*k : (j+1)*k] {
			t += int32(v)
		}
		wsum[j] = float32(t)
	}
	for i := 0; i < m; i++ {
		s, z := QuantizeRow(x[i*k:(i+1)*k], q)
		var wg sync.WaitGroup
		workers := runtime.GOMAXPROCS(0)
		for g := 0; g < workers; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for j := g; j < w.Rows; j += workers {
					var dot int32
					for p, v := range w.Q8[j*k : (j+1)*k] {
						dot += int32(v) * int32(q[p])
					}
					y[i*w.Rows+j] = w.Scales[j] * (float32(dot)*s + wsum[j]*z)
				}
			}()
		}
		wg.Wait()
	}
}

// int8Path reports whether LinearQ8 takes the int8-activation path for these inputs.
func (x *Kernels) int8Path(m int, w *kernels.Matrix) bool { return x.Int8 && Int8Shape(m, w) }

// Int8Shape says whether m rows by w take the int8-activation path where Int8 is set
// (RefInt8Path says what it computes): weights with a scale a row, and from 4 rows the
// 7-bit packed product, below it gemv_q8_i16 where the rows are whole 16-byte runs.
func Int8Shape(m int, w *kernels.Matrix) bool {
	return w.Group >= w.Cols && (m >= 4 || w.Cols%16 == 0)
}

// RefInt8Path is what the int8-activation path computes: RefLinearQ8Q7 from 4 rows,
// RefLinearQ8I16 below.
func RefInt8Path(y, x []float32, m int, w *kernels.Matrix) {
	if m < 4 {
		RefLinearQ8I16(y, x, m, w)
		return
	}
	RefLinearQ8Q7(y, x, m, w)
}

// i16Levels is the largest |x̂| QuantizeRowI16 gives for rows of k values: 16383, or
// less where k·127·|x̂| would overflow gemv_q8_i16's i32 sums (k > 1032).
func i16Levels(k int) int32 { return int32(min(16383, math.MaxInt32/(127*max(k, 1)))) }

// QuantizeRowI16 quantizes a row of activations for gemv_q8_i16: x̂ = round(x/s),
// s = max|x|/i16Levels(len(x)), in float32 arithmetic as the reference uses it. A
// decoder step's row keeps 14 bits (12 for the MLP's 3072 inputs) where the packed
// product's rows keep 7: at one row, precision is cheap, and the greedy answer reads
// the head's logits of that row.
func QuantizeRowI16(x []float32, q []int16) (s float32) {
	return quantizeSymmetric(x, q, i16Levels(len(x)))
}

// quantizeSymmetric is x̂ = round(x/s), s = max|x|/levels (1 for a zero row), clamped
// to ±levels, in float32 arithmetic step by step as quant_row_i16 and quant_rows_i8 do it.
func quantizeSymmetric[T int8 | int16](x []float32, q []T, levels int32) (s float32) {
	var mx float32
	for _, v := range x {
		mx = max(mx, float32(math.Abs(float64(v))))
	}
	s = mx / float32(levels)
	if s == 0 {
		s = 1
	}
	inv := 1 / s
	for i, v := range x {
		t := float32(math.RoundToEven(float64(v * inv)))
		q[i] = T(max(-float32(levels), min(float32(levels), t)))
	}
	return s
}

// RefLinearQ8I16 is the reference of gemv_q8_i16: each row quantized by QuantizeRowI16,
// the integer dots exact, y = f32(dot)·s·sw[j] in that order.
func RefLinearQ8I16(y, x []float32, m int, w *kernels.Matrix) {
	k := w.Cols
	q := make([]int16, k)
	for i := 0; i < m; i++ {
		s := QuantizeRowI16(x[i*k:(i+1)*k], q)
		for j := 0; j < w.Rows; j++ {
			var dot int32
			for p, v := range w.Q8[j*k : (j+1)*k] {
				dot += int32(v) * int32(q[p])
			}
			y[i*w.Rows+j] = float32(dot) * s * w.Scales[j]
		}
	}
}

// linearQ8Q7 runs the int8-activation path: quantize and pack x, then for each panel of
// 64 weight rows pack them (summing each row) and multiply. With the fused dot the
// weights are packed in quads for gemm_q8q7_quads6, whose twelve accumulators keep more
// dots in flight than the dot's latency needs (gemm_q8q7's eight did not: 119 → 149
// GFLOP/s over the encoder's Linear layers on an Intel Xeon with AVX-VNNI), where k is
// a multiple of 16; the split dot keeps gemm_q8q7_split, whose dot needs the two
// registers quads6 has not.
func (x *Kernels) linearQ8Q7(y, xs []float32, m int, w *kernels.Matrix) {
	k := w.Cols
	if m < 4 { // a decoder step: the weights as they lie, a row at a time
		x.gemvI16(y, xs, m, w)
		return
	}
	k16 := (k + 15) &^ 15
	pairs := (m + 1) / 2
	xp := x.M.Scratch(pairs * 2 * k16 / 4)
	sx, zx := x.M.Scratch(m), x.M.Scratch(m)
	x.M.QuantPackA(x.M.In(xs[:m*k]), k, m, k, xp, k16, sx, zx)
	wp := x.M.Scratch(blockN * k16 / 4)
	ws := x.M.Scratch(blockN)
	sw := x.M.Scratch(blockN)
	py := x.M.InOut(y[:m*w.Rows])
	pw, ps := x.M.InI8(w.Q8), x.M.In(w.Scales)
	pack, gemm := x.M.PackWQ8Quads, x.M.GemmQ8Q7Quads6
	switch {
	case x.SplitDot:
		pack, gemm = x.M.PackWQ8, x.M.GemmQ8Q7Split
	case k != k16: // pack_w_q8_quads takes whole 16-byte runs
		pack, gemm = x.M.PackWQ8, x.M.GemmQ8Q7
	}
	for jb := 0; jb < w.Rows; jb += blockN {
		nb := min(blockN, w.Rows-jb)
		pack(pw+Ptr(jb*k), k, nb, k, wp, k16, ws)
		// The products read scales four at a time (quads6 eight, where more than four
		// columns are left): a panel whose width is not a multiple of 4 gets its scales
		// copied into sw, blockN long, so those reads stay in it.
		scales := ps + Ptr(4*jb)
		if nb%4 != 0 {
			x.M.CopyF32(sw, scales, nb)
			scales = sw
		}
		gemm(m, nb, k16, xp, wp, sx, zx, scales, ws, py+Ptr(4*jb), w.Rows)
	}
	x.M.Done()
}

// gemvI16 runs quant_row_i16 and gemv_q8_i16 on each of m rows of xs.
func (x *Kernels) gemvI16(y, xs []float32, m int, w *kernels.Matrix) {
	k := w.Cols
	q, s := x.M.Scratch((k+1)/2), x.M.Scratch(1)
	pw, ps := x.M.InI8(w.Q8), x.M.In(w.Scales)
	for i := range m {
		x.M.QuantRowI16(x.M.In(xs[i*k:(i+1)*k]), k, float32(i16Levels(k)), q, s)
		x.M.GemvQ8I16(w.Rows, k, q, pw, k, s, ps, x.M.InOut(y[i*w.Rows:(i+1)*w.Rows]))
	}
	x.M.Done()
}

// QuantizeRowI8 is quant_rows_i8 for one row: q = round(x/s), s = max|x|/127 (1 for a
// zero row), in float32 arithmetic as the kernel does it.
func QuantizeRowI8(x []float32, q []int8) (s float32) { return quantizeSymmetric(x, q, 127) }

// Int8Attention says whether Attention with Int8 takes the int8 scores for m query
// rows of heads dh wide: the image rows' passes (m ≥ 32), not a prompt's few text rows
// or a decoder step, whose scores the answer reads directly.
func Int8Attention(m, dh int) bool { return m >= 32 && dh%16 == 0 }

// RefAttentionQ8 is what Attention computes with Int8 where Int8Attention holds:
// attention over each head's queries quantized to 7 bits a row (QuantizeRow) and keys to
// int8 a row (QuantizeRowI8), then the probabilities to 15 bits (p = round(32767·e/Σe))
// and the values to i16 a column (QuantizeColumnI16). The kernels' integer dots are
// exact; their exp differs from math.Exp in the last bits, which moves a probability
// by one step where 32767·e/Σe lies within that of a half.
func RefAttentionQ8(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causal int) {
	d := heads * dh
	qd, kd := make([]float32, m*d), make([]float32, nk*d)
	q7, k8 := make([]uint8, dh), make([]int8, dh)
	for i := range m * heads {
		s, z := QuantizeRow(q[i*dh:(i+1)*dh], q7)
		for c, x := range q7 {
			qd[i*dh+c] = float32(float64(x)*float64(s) + float64(z))
		}
	}
	for i := range nk * heads {
		s := QuantizeRowI8(k[i*dh:(i+1)*dh], k8)
		for c, x := range k8 {
			kd[i*dh+c] = float32(float64(x) * float64(s))
		}
	}
	vq, fv := make([]int16, nk*d), make([]float32, d)
	col, cq := make([]float32, nk), make([]int16, nk)
	for c := range d {
		for j := range nk {
			col[j] = v[j*d+c]
		}
		fv[c] = QuantizeColumnI16(col, cq)
		for j, x := range cq {
			vq[j*d+c] = x
		}
	}
	kernels.RefAttentionRows(qd, kd, m, nk, heads, dh, scale, causal, func(h, i int, p []float64) {
		for c := h * dh; c < (h+1)*dh; c++ {
			var acc int64
			for j := range p {
				acc += int64(math.RoundToEven(probLevels*p[j])) * int64(vq[j*d+c])
			}
			out[i*d+c] = float32(acc) * fv[c]
		}
	})
}

// probLevels is the probabilities' scale on the i16 values path (probs_i16): with Σp ≤
// 32767 + k/2 and |v| ≤ 32767, no i32 sum of the product overflows.
const probLevels = 32767

// ProbI16 is probs_i16 for one of a row's softmax values e, rs = 1/Σe of the row.
func ProbI16(e, rs float32) int16 {
	return int16(math.RoundToEven(float64(e * (rs * probLevels))))
}

// QuantizeColumnI16 is pack_v_i16 for one column of a head's values: q = round(x/s),
// s = max|x|/32767 (1 for a zero column), in float32 arithmetic as the kernel does it;
// it returns the product's factor s/32767.
func QuantizeColumnI16(x []float32, q []int16) (fv float32) {
	return quantizeSymmetric(x, q, probLevels) * float32(1.0/probLevels)
}
