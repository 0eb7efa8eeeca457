//go:build !js

package kernels

import (
	"gonum.org/v1/gonum/blas"
	"gonum.org/v1/gonum/blas/gonum"
)

func platformGemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if k == 0 {
		for i := 0; i < m; i++ {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	gonum.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, m, n, k, 1, a, lda, b, ldb, 0, c, ldc)
}

// Natively, each 64-channel panel is dequantized in full and handed to gonum's Sgemm.
func platformLinearQ8(y, x []float32, m int, w *Matrix) {
	parallelFor(w.Rows, panelN, func(j0, j1 int) {
		panel := make([]float32, panelN*w.Cols)
		for jb := j0; jb < j1; jb += panelN {
			je := min(jb+panelN, j1)
			dequantPanel(panel, w, jb, je, 0, w.Cols)
			gonum.Implementation{}.Sgemm(blas.NoTrans, blas.Trans, m, je-jb, w.Cols, 1, x, w.Cols, panel, w.Cols, 0, y[jb:], w.Rows)
		}
	})
}
