package kernel

// Reference kernels: the plainest correct loops, accumulating in float64. The fast
// kernels are tested against these on odd shapes; nothing in the model calls them.

// RefGemmNT is the reference for GemmNT.
func RefGemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*lda+p]) * float64(b[j*ldb+p])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}
