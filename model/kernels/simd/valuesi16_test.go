package simd_test

import (
	"fmt"
	"math"
	"math/rand"
	"unsafe"

	"gitvqa/model/kernels/simd"
)

// checkValuesI16 holds attention's i16 values path to its reference exactly, natively
// (wazero) and in the browser: softmax_rows' output turned into 15-bit probabilities
// (probs_i16, against ProbI16), a head's values into i16 a column (pack_v_i16, against
// QuantizeColumnI16), and gemm_pv_i16's product (the integer dots times the column's
// factor). Shapes with rows past a multiple of 4, odd key counts, strides wider than
// the rows; nothing is written past a row's n outputs.
func checkValuesI16(mod simd.Module) error {
	r := rand.New(rand.NewSource(16))
	for _, c := range [][3]int{{32, 901, 64}, {5, 41, 16}, {3, 9, 8}, {33, 45, 64}, {1, 2, 8}, {7, 1, 8}, {4, 6, 24}} {
		m, nk, dh := c[0], c[1], c[2]
		nk4, ldv, ldy := (nk+3)&^3, dh+5, dh+3
		blocks := (m + 3) / 4
		sc := make([]float32, m*nk4)
		for i := range sc {
			sc[i] = float32(3 * r.NormFloat64())
		}
		v := make([]float32, nk*ldv)
		for i := range v {
			v[i] = float32(r.NormFloat64())
		}
		for i := range nk { // a zero column, and one of a single large value
			v[i*ldv+1] = 0
			v[i*ldv+2] = float32(min(i, 1)) * 1e-3
		}
		y := make([]float32, m*ldy)
		for i := range y {
			y[i] = 7 // the gaps keep it
		}
		rs := make([]float32, m)
		pp := make([]uint8, blocks*nk4/2*16)
		vp := make([]uint8, dh*nk4*2)
		fv := make([]float32, dh)
		psc, prs, ppp := mod.InOut(sc), mod.InOut(rs), mod.InOutU8(pp)
		pvp, pfv, py := mod.InOutU8(vp), mod.InOut(fv), mod.InOut(y)
		mod.SoftmaxRows(psc, m, nk, nk4, 0.125, -1, nk4, prs)
		mod.ProbsI16(psc, m, nk4, nk4, prs, ppp)
		mod.PackVI16(mod.In(v), ldv, nk, dh, pvp, nk4, pfv, mod.Scratch(dh))
		mod.GemmPVI16(m, dh, nk4/2, ppp, pvp, pfv, py, ldy)
		mod.Done()
		i16 := func(b []uint8, i int) int16 { return *(*int16)(unsafe.Pointer(&b[2*i])) }

		p := make([]int16, m*nk4) // row i, key j
		for i := range m {
			for j := range nk4 {
				want := simd.ProbI16(sc[i*nk4+j], rs[i])
				got := i16(pp, (i/4)*nk4*4+(j/2)*8+(i%4)*2+j%2)
				if got != want || j >= nk && got != 0 {
					return fmt.Errorf("probs_i16 %v: row %d key %d: %d, want %d", c, i, j, got, want)
				}
				p[i*nk4+j] = got
			}
		}
		for i := m; i < blocks*4; i++ {
			for j := range nk4 {
				if got := i16(pp, (i/4)*nk4*4+(j/2)*8+(i%4)*2+j%2); got != 0 {
					return fmt.Errorf("probs_i16 %v: padding row %d key %d: %d", c, i, j, got)
				}
			}
		}

		col, q := make([]float32, nk), make([]int16, nk)
		vq := make([]int16, nk4*dh)
		for cc := range dh {
			for j := range nk {
				col[j] = v[j*ldv+cc]
			}
			if want := simd.QuantizeColumnI16(col, q); fv[cc] != want {
				return fmt.Errorf("pack_v_i16 %v: column %d factor %g, want %g", c, cc, fv[cc], want)
			}
			for j := range nk4 {
				want := int16(0)
				if j < nk {
					want = q[j]
				}
				// panel cc/8, step j/2, half (cc%8)/4, lane cc%4, key j%2
				if got := i16(vp, (cc/8)*nk4*8+(j/2)*16+(cc%8)/4*8+(cc%4)*2+j%2); got != want {
					return fmt.Errorf("pack_v_i16 %v: key %d column %d: %d, want %d", c, j, cc, got, want)
				}
				vq[j*dh+cc] = want
			}
		}

		for i := range m {
			for cc := range ldy {
				want := float32(7)
				if cc < dh {
					var acc int32
					for j := range nk4 {
						acc += int32(p[i*nk4+j]) * int32(vq[j*dh+cc])
					}
					want = float32(acc) * fv[cc]
				}
				if got := y[i*ldy+cc]; got != want && !(math.IsNaN(float64(got)) && math.IsNaN(float64(want))) {
					return fmt.Errorf("gemm_pv_i16 %v: row %d column %d: %g, want %g", c, i, cc, got, want)
				}
			}
		}
	}
	return nil
}
