//go:build js

package kernels

func platformGemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	GoGemmNT(m, n, k, a, lda, b, ldb, c, ldc)
}

func platformLinearQ8(y, x []float32, m int, w *Matrix) { GoLinearQ8(y, x, m, w) }
