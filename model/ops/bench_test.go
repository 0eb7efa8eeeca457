package ops

import (
	"fmt"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

// The model's real layer shapes: the vision MLP (901×1024·1024×4096 and back) and
// the output head for one token (1×768·768×30522).
var benchShapes = []struct{ m, k, n int }{{901, 1024, 4096}, {901, 4096, 1024}, {1, 768, 30522}}

func report(b *testing.B, m, k, n int) {
	b.ReportMetric(2*float64(m)*float64(k)*float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

func quantize(w []float32, rows, cols, group int) *kernels.Matrix {
	groups := (cols + group - 1) / group
	m := &kernels.Matrix{Rows: rows, Cols: cols, Q8: make([]int8, rows*cols), Scales: make([]float32, rows*groups), Group: group}
	for r := 0; r < rows; r++ {
		for g := 0; g < groups; g++ {
			lo, hi := g*group, min((g+1)*group, cols)
			var mx float32
			for _, v := range w[r*cols+lo : r*cols+hi] {
				mx = max(mx, v, -v)
			}
			s := mx / 127
			m.Scales[r*groups+g] = s
			for c := lo; c < hi; c++ {
				m.Q8[r*cols+c] = int8(w[r*cols+c] / s)
			}
		}
	}
	return m
}

// BenchmarkMatMul compares Gorgonia's own float32 matmul (G.Mul in a tape machine)
// with this package's Linear on float32 and int8 weights, on the real shapes.
// Natively: go test -run XXX -bench MatMul ./model/ops/; under wasm see the Makefile's
// bench-kernels-wasm.
func BenchmarkMatMul(b *testing.B) {
	for _, s := range benchShapes {
		r := rand.New(rand.NewSource(1))
		x := make([]float32, s.m*s.k)
		w := make([]float32, s.n*s.k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		for i := range w {
			w[i] = float32(r.NormFloat64())
		}
		shape := fmt.Sprintf("%dx%dx%d", s.m, s.k, s.n)
		b.Run("gorgonia-f32/"+shape, func(b *testing.B) {
			g := G.NewGraph()
			xn := G.NewMatrix(g, tensor.Float32, G.WithShape(s.m, s.k), G.WithName("x"), G.WithValue(tensor.New(tensor.WithBacking(x), tensor.WithShape(s.m, s.k))))
			wn := G.NewMatrix(g, tensor.Float32, G.WithShape(s.k, s.n), G.WithName("w"), G.WithValue(tensor.New(tensor.WithBacking(w), tensor.WithShape(s.k, s.n))))
			if _, err := G.Mul(xn, wn); err != nil {
				b.Fatal(err)
			}
			vm := G.NewTapeMachine(g)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := vm.RunAll(); err != nil {
					b.Fatal(err)
				}
				vm.Reset()
			}
			report(b, s.m, s.k, s.n)
		})
		y := make([]float32, s.m*s.n)
		for _, v := range []struct {
			name string
			w    *kernels.Matrix
		}{
			{"linear-f32", &kernels.Matrix{Rows: s.n, Cols: s.k, F32: w}},
			{"linear-int8-channel", quantize(w, s.n, s.k, s.k)},
			{"linear-int8-group64", quantize(w, s.n, s.k, 64)},
		} {
			b.Run(v.name+"/"+shape, func(b *testing.B) {
				for i := 0; i < b.N; i++ {
					kernels.Linear(&kernels.Go{}, y, x, s.m, v.w, nil)
				}
				report(b, s.m, s.k, s.n)
			})
		}
		b.Run("go-int8-channel/"+shape, func(b *testing.B) {
			q := quantize(w, s.n, s.k, s.k)
			for i := 0; i < b.N; i++ {
				kernels.GoLinearQ8(y, x, s.m, q)
			}
			report(b, s.m, s.k, s.n)
		})
	}
}
