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
func (x *Kernels) int8Path(m int, w *kernels.Matrix) bool {
	return x.Int8 && m >= 4 && w.Group >= w.Cols
}

// linearQ8Q7 runs the int8-activation path: quantize and pack x, then for each panel of
// 64 weight rows pack them (summing each row) and multiply.
func (x *Kernels) linearQ8Q7(y, xs []float32, m int, w *kernels.Matrix) {
	k := w.Cols
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
	gemm := x.M.GemmQ8Q7
	if x.SplitDot {
		gemm = x.M.GemmQ8Q7Split
	}
	for jb := 0; jb < w.Rows; jb += blockN {
		nb := min(blockN, w.Rows-jb)
		x.M.PackWQ8(pw+Ptr(jb*k), k, nb, k, wp, k16, ws)
		// gemm_q8q7 reads scales four at a time: the last panel's are copied, padded.
		scales := ps + Ptr(4*jb)
		if nb%4 != 0 {
			x.M.CopyF32(sw, scales, nb)
			scales = sw
		}
		gemm(m, nb, k16, xp, wp, sx, zx, scales, ws, py+Ptr(4*jb), w.Rows)
	}
	x.M.Done()
}
