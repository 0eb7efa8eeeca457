package kernels

// Tile sizes for GemmNT. A 64-row panel of B over 256 k-values is 64 KiB, which stays
// in L2 while every row of A streams past it.
const (
	panelN = 64
	panelK = 256
)

// GemmNT sets C = A·Bᵀ: C[i][j] = Σ_p A[i][p]·B[j][p] for i < m, j < n, p < k.
// A is m×k with row stride lda, B is n×k with row stride ldb (both read along k, the
// way Linear weights are stored), C is m×n with row stride ldc.
//
// Natively it is gonum's assembly Sgemm (about twice as fast as plain Go on amd64);
// under js/wasm, where gonum has no assembly, it is GoGemmNT.
func GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	platformGemmNT(m, n, k, a, lda, b, ldb, c, ldc)
}

// GoGemmNT is GemmNT in plain Go, register-blocked 2×4 and tiled for cache, with
// columns of C split across goroutines.
func GoGemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m == 0 || n == 0 {
		return
	}
	parallelFor(n, panelN, func(j0, j1 int) {
		gemmNTRange(m, k, a, lda, b, ldb, c, ldc, j0, j1)
	})
}

// gemmNTRange computes columns [j0, j1) of C.
func gemmNTRange(m, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int, j0, j1 int) {
	for jb := j0; jb < j1; jb += panelN {
		je := min(jb+panelN, j1)
		for pb := 0; pb < k; pb += panelK {
			pe := min(pb+panelK, k)
			block(m, a, lda, pb, pe, b[jb*ldb+pb:], ldb, c, ldc, jb, je, pb == 0)
		}
	}
}

// block computes C[:, jb:je] (+)= A[:, pb:pe]·Bpᵀ where row j-jb of the panel Bp
// (row stride ldp) holds B[j][pb:pe]. first: overwrite C instead of accumulating.
func block(m int, a []float32, lda, pb, pe int, bp []float32, ldp int, c []float32, ldc, jb, je int, first bool) {
	kc := pe - pb
	row := func(j int) []float32 { return bp[(j-jb)*ldp : (j-jb)*ldp+kc] }
	i := 0
	for ; i+2 <= m; i += 2 {
		a0 := a[i*lda+pb : i*lda+pe]
		a1 := a[(i+1)*lda+pb : (i+1)*lda+pe]
		c0 := c[i*ldc : i*ldc+je]
		c1 := c[(i+1)*ldc : (i+1)*ldc+je]
		j := jb
		for ; j+4 <= je; j += 4 {
			s := dot2x4(a0, a1, row(j), row(j+1), row(j+2), row(j+3))
			store4(c0[j:j+4], s[0:4], first)
			store4(c1[j:j+4], s[4:8], first)
		}
		for ; j < je; j++ {
			bj := row(j)
			s0, s1 := dot(a0, bj), dot(a1, bj)
			if first {
				c0[j], c1[j] = s0, s1
			} else {
				c0[j] += s0
				c1[j] += s1
			}
		}
	}
	for ; i < m; i++ {
		a0 := a[i*lda+pb : i*lda+pe]
		c0 := c[i*ldc : i*ldc+je]
		j := jb
		for ; j+4 <= je; j += 4 {
			s := dot1x4(a0, row(j), row(j+1), row(j+2), row(j+3))
			store4(c0[j:j+4], s[:], first)
		}
		for ; j < je; j++ {
			s := dot(a0, row(j))
			if first {
				c0[j] = s
			} else {
				c0[j] += s
			}
		}
	}
}

func store4(c, s []float32, first bool) {
	c = c[:4]
	s = s[:4]
	if first {
		c[0], c[1], c[2], c[3] = s[0], s[1], s[2], s[3]
		return
	}
	c[0] += s[0]
	c[1] += s[1]
	c[2] += s[2]
	c[3] += s[3]
}

// dot2x4 is the inner loop: two rows of A against four rows of B, eight accumulators
// held in registers. This is where the model spends most of its time.
func dot2x4(a0, a1, b0, b1, b2, b3 []float32) [8]float32 {
	n := len(a0)
	a1, b0, b1, b2, b3 = a1[:n], b0[:n], b1[:n], b2[:n], b3[:n]
	var s00, s01, s02, s03, s10, s11, s12, s13 float32
	for p := 0; p < n; p++ {
		x0, x1 := a0[p], a1[p]
		y0, y1, y2, y3 := b0[p], b1[p], b2[p], b3[p]
		s00 += x0 * y0
		s01 += x0 * y1
		s02 += x0 * y2
		s03 += x0 * y3
		s10 += x1 * y0
		s11 += x1 * y1
		s12 += x1 * y2
		s13 += x1 * y3
	}
	return [8]float32{s00, s01, s02, s03, s10, s11, s12, s13}
}

func dot1x4(a0, b0, b1, b2, b3 []float32) [4]float32 {
	n := len(a0)
	b0, b1, b2, b3 = b0[:n], b1[:n], b2[:n], b3[:n]
	var s0, s1, s2, s3 float32
	for p := 0; p < n; p++ {
		x := a0[p]
		s0 += x * b0[p]
		s1 += x * b1[p]
		s2 += x * b2[p]
		s3 += x * b3[p]
	}
	return [4]float32{s0, s1, s2, s3}
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for p := range a {
		s += a[p] * b[p]
	}
	return s
}
