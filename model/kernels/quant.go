package kernels

// LinearQ8 sets y = x·Wᵀ for int8 W (m rows of x). The weights stay int8 in memory:
// each 64-row × 256-column block of W is dequantized into a 64 KiB float32 panel that
// stays in cache while every row of x streams past it.
func LinearQ8(y, x []float32, m int, w *Matrix) {
	if m == 0 || w.Rows == 0 {
		return
	}
	if m < gemvRows {
		gemvQ8(y, x, m, w)
		return
	}
	platformLinearQ8(y, x, m, w)
}

// GoLinearQ8 is LinearQ8 in plain Go: the blocked kernel of GoGemmNT with B's panels
// dequantized on the fly. Output channels are split across goroutines.
func GoLinearQ8(y, x []float32, m int, w *Matrix) {
	parallelFor(w.Rows, panelN, func(j0, j1 int) {
		panel := make([]float32, panelN*panelK)
		k := w.Cols
		for jb := j0; jb < j1; jb += panelN {
			je := min(jb+panelN, j1)
			for pb := 0; pb < k; pb += panelK {
				pe := min(pb+panelK, k)
				dequantPanel(panel, w, jb, je, pb, pe)
				block(m, x, k, pb, pe, panel, pe-pb, y, w.Rows, jb, je, pb == 0)
			}
		}
	})
}

// dequantPanel writes W[jb:je, pb:pe] as float32 into panel (row stride pe-pb).
func dequantPanel(panel []float32, w *Matrix, jb, je, pb, pe int) {
	kc := pe - pb
	groups := (w.Cols + w.Group - 1) / w.Group
	for j := jb; j < je; j++ {
		q := w.Q8[j*w.Cols+pb : j*w.Cols+pe]
		s := w.Scales[j*groups : (j+1)*groups]
		p := panel[(j-jb)*kc : (j-jb+1)*kc]
		if w.Group >= w.Cols { // per channel: one scale
			sc := s[0]
			for c, v := range q {
				p[c] = float32(v) * sc
			}
			continue
		}
		for c, v := range q {
			p[c] = float32(v) * s[(pb+c)/w.Group]
		}
	}
}

// Below this many rows of x (a generated token, a short prompt) dequantizing panels
// costs as much as the product; gemvQ8 reads the int8 weights directly instead.
const gemvRows = 4

// gemvQ8 computes y = x·Wᵀ row by row of W, converting int8 to float32 inline and
// applying each group's scale to its partial sum.
func gemvQ8(y, x []float32, m int, w *Matrix) {
	groups := (w.Cols + w.Group - 1) / w.Group
	parallelFor(w.Rows, 16, func(j0, j1 int) {
		for j := j0; j < j1; j++ {
			q := w.Q8[j*w.Cols : (j+1)*w.Cols]
			s := w.Scales[j*groups : (j+1)*groups]
			for i := 0; i < m; i++ {
				xi := x[i*w.Cols : (i+1)*w.Cols]
				var acc float32
				for g := 0; g < groups; g++ {
					lo, hi := g*w.Group, min((g+1)*w.Group, w.Cols)
					acc += dotQ8(xi[lo:hi], q[lo:hi]) * s[g]
				}
				y[i*w.Rows+j] = acc
			}
		}
	})
}

func dotQ8(x []float32, q []int8) float32 {
	q = q[:len(x)]
	var s0, s1, s2, s3 float32
	p := 0
	for ; p+4 <= len(x); p += 4 {
		s0 += x[p] * float32(q[p])
		s1 += x[p+1] * float32(q[p+1])
		s2 += x[p+2] * float32(q[p+2])
		s3 += x[p+3] * float32(q[p+3])
	}
	for ; p < len(x); p++ {
		s0 += x[p] * float32(q[p])
	}
	return (s0 + s1) + (s2 + s3)
}
