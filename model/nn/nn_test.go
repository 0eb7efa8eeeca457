package nn

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"
)

func randDense(r *rand.Rand, shape ...int) *tensor.Dense {
	n := 1
	for _, d := range shape {
		n *= d
	}
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return tensor.New(tensor.WithBacking(v), tensor.WithShape(shape...))
}

func run(t *testing.T, vm G.VM, lets map[*G.Node]*tensor.Dense, out *G.Node) []float32 {
	t.Helper()
	for n, v := range lets {
		if err := G.Let(n, v); err != nil {
			t.Fatal(err)
		}
	}
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	vm.Reset()
	return append([]float32(nil), out.Value().(*tensor.Dense).Float32s()...)
}

// Decoding a sequence one row at a time through the KV cache gives the same output as
// running all rows at once with the causal mask: what makes the per-token loop exact.
func TestIncrementalAttentionEqualsBatch(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const n, d, heads, img = 6, 8, 2, 3
	q, k, v := randDense(r, n, d), randDense(r, n, d), randDense(r, n, d)
	qi, ki, vi := randDense(r, img, d), randDense(r, img, d), randDense(r, img, d)

	build := func(rows int, causal bool) (G.VM, *G.Node, *G.Node, *G.Node, *G.Node, *Attention) {
		g := G.NewGraph()
		a := G.NewMatrix(g, tensor.Float32, G.WithShape(rows, d), G.WithName("q"))
		b := G.NewMatrix(g, tensor.Float32, G.WithShape(rows, d), G.WithName("k"))
		c := G.NewMatrix(g, tensor.Float32, G.WithShape(rows, d), G.WithName("v"))
		out, op, err := MultiHeadAttention(a, b, c, heads, causal, "t")
		if err != nil {
			t.Fatal(err)
		}
		return G.NewTapeMachine(g), a, b, c, out, op
	}
	// Image rows first (bidirectional), then all text rows at once.
	cacheA := NewKVCache(4, d)
	vmI, a, b, c, out, op := build(img, false)
	op.Cache = cacheA
	run(t, vmI, map[*G.Node]*tensor.Dense{a: qi, b: ki, c: vi}, out)
	vmT, ta, tb, tc, tout, top := build(n, true)
	top.Cache = cacheA
	batch := run(t, vmT, map[*G.Node]*tensor.Dense{ta: q, tb: k, tc: v}, tout)

	// The same, text one row at a time, into a second cache that must grow.
	cacheB := NewKVCache(img, d)
	op.Cache = cacheB
	run(t, vmI, map[*G.Node]*tensor.Dense{a: qi, b: ki, c: vi}, out)
	vm1, oa, ob, oc, oout, oop := build(1, true)
	oop.Cache = cacheB
	row := func(x *tensor.Dense, i int) *tensor.Dense {
		return tensor.New(tensor.WithBacking(append([]float32(nil), x.Float32s()[i*d:(i+1)*d]...)), tensor.WithShape(1, d))
	}
	for i := 0; i < n; i++ {
		got := run(t, vm1, map[*G.Node]*tensor.Dense{oa: row(q, i), ob: row(k, i), oc: row(v, i)}, oout)
		for j := range got {
			if math.Abs(float64(got[j]-batch[i*d+j])) > 1e-6 {
				t.Fatalf("row %d col %d: incremental %g, batch %g", i, j, got[j], batch[i*d+j])
			}
		}
	}
	if cacheA.Len != img+n || cacheB.Len != img+n {
		t.Fatalf("cache lengths %d %d", cacheA.Len, cacheB.Len)
	}
	// The image pass refuses a cache that already holds rows.
	op.Cache = cacheB
	for n, val := range map[*G.Node]*tensor.Dense{a: qi, b: ki, c: vi} {
		G.Let(n, val)
	}
	if err := vmI.RunAll(); err == nil {
		t.Fatal("bidirectional pass over a non-empty cache ran")
	}
	vmI.Reset()
}

// An int8 Linear op in a graph reused with new weights gives the dequantized result.
func TestQuantizedLinearGraphReuse(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 5), G.WithName("x"))
	d := NewDense(g, "fc", 3, 5, 5, true)
	y, err := Linear(x, d, "relu", "fc")
	if err != nil {
		t.Fatal(err)
	}
	vm := G.NewTapeMachine(g)
	for trial := 0; trial < 2; trial++ {
		q := make([]int8, 15)
		for i := range q {
			q[i] = int8(r.Intn(255) - 127)
		}
		sc, b, xv := randDense(r, 3, 1), randDense(r, 3), randDense(r, 2, 5)
		got := run(t, vm, map[*G.Node]*tensor.Dense{
			x: xv, d.W: tensor.New(tensor.WithBacking(q), tensor.WithShape(3, 5)), d.Scales: sc, d.Bias: b,
		}, y)
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				var s float64
				for c := 0; c < 5; c++ {
					s += float64(xv.Float32s()[i*5+c]) * float64(q[j*5+c]) * float64(sc.Float32s()[j])
				}
				s = math.Max(0, s+float64(b.Float32s()[j]))
				if math.Abs(s-float64(got[i*3+j])) > 1e-4 {
					t.Fatalf("trial %d (%d,%d): %g, want %g", trial, i, j, got[i*3+j], s)
				}
			}
		}
	}
}

func TestShapeErrorsAtBuildTime(t *testing.T) {
	g := G.NewGraph()
	x := G.NewMatrix(g, tensor.Float32, G.WithShape(2, 5), G.WithName("x"))
	d := NewDense(g, "fc", 3, 4, 0, false) // expects 4 inputs, gets 5
	if _, err := Linear(x, d, "", "fc"); err == nil {
		t.Fatal("mismatched Linear built")
	}
	if _, _, err := MultiHeadAttention(x, x, x, 3, false, "a"); err == nil {
		t.Fatal("5 columns split into 3 heads")
	}
}
