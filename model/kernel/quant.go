package kernel

// LinearQ8 sets y = x·Wᵀ for int8 W, dequantizing one panel of rows at a time so the
// weights stay int8 in memory.
func LinearQ8(y, x []float32, m int, w *Matrix) {
	groups := (w.Cols + w.Group - 1) / w.Group
	parallelFor(w.Rows, panelN, func(j0, j1 int) {
		panel := make([]float32, panelN*w.Cols)
		tmp := make([]float32, m*panelN)
		for jb := j0; jb < j1; jb += panelN {
			je := min(jb+panelN, j1)
			n := je - jb
			for j := jb; j < je; j++ {
				q := w.Q8[j*w.Cols : (j+1)*w.Cols]
				s := w.Scales[j*groups : (j+1)*groups]
				p := panel[(j-jb)*w.Cols : (j-jb+1)*w.Cols]
				for c, v := range q {
					p[c] = float32(v) * s[c/w.Group]
				}
			}
			GemmNT(m, n, w.Cols, x, w.Cols, panel, w.Cols, tmp, n)
			for i := 0; i < m; i++ {
				copy(y[i*w.Rows+jb:i*w.Rows+je], tmp[i*n:(i+1)*n])
			}
		}
	})
}
