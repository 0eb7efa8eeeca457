package kernels

import (
	"math"
	"math/rand"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func maxRelErr(got, want []float32) float64 {
	var worst float64
	for i := range got {
		d := math.Abs(float64(got[i] - want[i]))
		d /= 1 + math.Abs(float64(want[i]))
		worst = math.Max(worst, d)
	}
	return worst
}

func TestGemmNTMatchesReferenceOnOddShapes(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for _, s := range [][3]int{{1, 1, 1}, {1, 7, 3}, {3, 5, 257}, {2, 64, 256}, {5, 131, 300}, {17, 200, 513}, {1, 768, 64}, {33, 65, 1}} {
		m, n, k := s[0], s[1], s[2]
		lda, ldb, ldc := k+3, k+1, n+2 // strides wider than the rows, as attention heads use
		a, b := randSlice(r, m*lda), randSlice(r, n*ldb)
		garbage := randSlice(r, m*ldc) // GemmNT must overwrite C, not accumulate into it
		want := append([]float32(nil), garbage...)
		RefGemmNT(m, n, k, a, lda, b, ldb, want, ldc)
		for name, gemm := range map[string]func(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int){"GemmNT": GemmNT, "GoGemmNT": GoGemmNT} {
			got := append([]float32(nil), garbage...)
			gemm(m, n, k, a, lda, b, ldb, got, ldc)
			if e := maxRelErr(got, want); e > 1e-4*math.Sqrt(float64(k)) {
				t.Errorf("%s m=%d n=%d k=%d: max rel error %g", name, m, n, k, e)
			}
			// padding between rows must be untouched
			for i := 0; i < m; i++ {
				for j := n; j < ldc; j++ {
					if got[i*ldc+j] != want[i*ldc+j] {
						t.Fatalf("%s m=%d n=%d k=%d: wrote outside C at (%d,%d)", name, m, n, k, i, j)
					}
				}
			}
		}
	}
}

func benchGemm(bm *testing.B, m, n, k int) {
	benchGemmWith(bm, GemmNT, m, n, k)
}

func benchGemmWith(bm *testing.B, gemm func(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int), m, n, k int) {
	r := rand.New(rand.NewSource(1))
	a, b, c := randSlice(r, m*k), randSlice(r, n*k), make([]float32, m*n)
	bm.ResetTimer()
	for i := 0; i < bm.N; i++ {
		gemm(m, n, k, a, k, b, k, c, n)
	}
	bm.ReportMetric(2*float64(m)*float64(n)*float64(k)*float64(bm.N)/bm.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func BenchmarkGemmNT_901x1024x4096(b *testing.B)   { benchGemm(b, 901, 4096, 1024) }
func BenchmarkGemmNT_901x4096x1024(b *testing.B)   { benchGemm(b, 901, 1024, 4096) }
func BenchmarkGemmNT_1x768x30522(b *testing.B)     { benchGemm(b, 1, 30522, 768) }
func BenchmarkGoGemmNT_901x1024x4096(b *testing.B) { benchGemmWith(b, GoGemmNT, 901, 4096, 1024) }
