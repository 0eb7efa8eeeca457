package ops

import (
	"math"
	"math/rand"
	"testing"

	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

func randSlice(r *rand.Rand, n int) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(r.NormFloat64())
	}
	return v
}

func run(t *testing.T, vm G.VM, out *G.Node, bs ...Binding) []float32 {
	t.Helper()
	for _, b := range bs {
		if err := G.Let(b.Node, b.Value); err != nil {
			t.Fatal(err)
		}
	}
	defer vm.Reset()
	if err := vm.RunAll(); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), out.Value().(*tensor.Dense).Float32s()...)
}

// Decoding a sequence one row at a time through the KV cache gives the same output as
// running all rows at once with the causal mask: what makes the per-token loop exact.
func TestIncrementalAttentionEqualsBatch(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	const n, d, heads, img, capacity = 6, 8, 2, 3, 12
	q, k, v := randSlice(r, n*d), randSlice(r, n*d), randSlice(r, n*d)
	qi, ki, vi := randSlice(r, img*d), randSlice(r, img*d), randSlice(r, img*d)

	type graph struct {
		vm      G.VM
		q, k, v *G.Node
		cache   KVNodes
		out     *G.Node
	}
	build := func(rows int, causal bool) graph {
		b := NewBuilder(&kernels.Go{}, nil)
		g := graph{q: b.Matrix("q", rows, d), k: b.Matrix("k", rows, d), v: b.Matrix("v", rows, d), cache: b.KVCacheInputs("c", capacity, d)}
		g.out = b.CachedAttention(g.q, g.k, g.v, g.cache, heads, causal)
		if b.Err != nil {
			t.Fatal(b.Err)
		}
		g.vm = G.NewTapeMachine(b.G)
		return g
	}
	pass := func(g graph, c *KVCache, qs, ks, vs []float32) []float32 {
		out := run(t, g.vm, g.out, append(g.cache.Bind(c), Bind(g.q, qs), Bind(g.k, ks), Bind(g.v, vs))...)
		c.Len += len(qs) / d
		return out
	}
	image, text, one := build(img, false), build(n, true), build(1, true)

	// Image rows first (bidirectional), then all text rows at once.
	a := NewKVCache(capacity, d)
	pass(image, a, qi, ki, vi)
	batch := pass(text, a, q, k, v)

	// The same, the text one row at a time.
	b := NewKVCache(capacity, d)
	pass(image, b, qi, ki, vi)
	for i := 0; i < n; i++ {
		got := pass(one, b, q[i*d:(i+1)*d], k[i*d:(i+1)*d], v[i*d:(i+1)*d])
		for j := range got {
			if math.Abs(float64(got[j]-batch[i*d+j])) > 1e-6 {
				t.Fatalf("row %d col %d: incremental %g, batch %g", i, j, got[j], batch[i*d+j])
			}
		}
	}
	if a.Len != img+n || b.Len != img+n {
		t.Fatalf("cache lengths %d %d", a.Len, b.Len)
	}
	// The image pass refuses a cache that already holds rows, and a run that overflows
	// the cache is refused.
	for _, c := range []struct {
		g   graph
		len int
	}{{image, 1}, {text, capacity - n + 1}} {
		kv := NewKVCache(capacity, d)
		kv.Len = c.len
		rows := c.g.q.Shape()[0]
		for _, bd := range append(c.g.cache.Bind(kv), Bind(c.g.q, q[:rows*d]), Bind(c.g.k, k[:rows*d]), Bind(c.g.v, v[:rows*d])) {
			G.Let(bd.Node, bd.Value)
		}
		if err := c.g.vm.RunAll(); err == nil {
			t.Errorf("a run of %d rows over a cache holding %d of %d ran", rows, c.len, capacity)
		}
		c.g.vm.Reset()
	}
}

// An int8 Linear op in a graph reused with new weights gives the dequantized result.
func TestQuantizedLinearGraphReuse(t *testing.T) {
	r := rand.New(rand.NewSource(4))
	b := NewBuilder(&kernels.Go{}, nil)
	x := b.Matrix("x", 2, 5)
	l := b.LinearWeights("fc", &kernels.Matrix{Rows: 3, Cols: 5, Q8: []int8{}, Group: 5}, true)
	y := b.Linear(x, l, "relu")
	if b.Err != nil {
		t.Fatal(b.Err)
	}
	vm := G.NewTapeMachine(b.G)
	for trial := 0; trial < 2; trial++ {
		w := &kernels.Matrix{Rows: 3, Cols: 5, Q8: make([]int8, 15), Scales: randSlice(r, 3), Group: 5}
		for i := range w.Q8 {
			w.Q8[i] = int8(r.Intn(255) - 127)
		}
		bias, xv := randSlice(r, 3), randSlice(r, 10)
		got := run(t, vm, y, append(l.Bind(w, bias), Bind(x, xv))...)
		for i := 0; i < 2; i++ {
			for j := 0; j < 3; j++ {
				var s float64
				for c := 0; c < 5; c++ {
					s += float64(xv[i*5+c]) * float64(w.Q8[j*5+c]) * float64(w.Scales[j])
				}
				s = math.Max(0, s+float64(bias[j]))
				if math.Abs(s-float64(got[i*3+j])) > 1e-4 {
					t.Fatalf("trial %d (%d,%d): %g, want %g", trial, i, j, got[i*3+j], s)
				}
			}
		}
	}
}

// The builder keeps the first error and builds nothing after it.
func TestBuilderKeepsTheFirstError(t *testing.T) {
	b := NewBuilder(&kernels.Go{}, nil)
	x := b.Matrix("x", 2, 5)
	l := b.LinearWeights("fc", &kernels.Matrix{Rows: 3, Cols: 4}, false) // expects 4 inputs, gets 5
	if y := b.Linear(x, l, ""); y != nil || b.Err == nil {
		t.Fatal("mismatched Linear built")
	}
	first := b.Err
	if b.Attention(x, x, x, 3) != nil || b.Matrix("later", 1, 1) != nil || b.Err != first {
		t.Fatalf("built on after an error; error now %v", b.Err)
	}
	b = NewBuilder(&kernels.Go{}, nil)
	x = b.Matrix("x", 2, 5)
	if b.Attention(x, x, x, 3) != nil || b.Err == nil {
		t.Fatal("5 columns split into 3 heads")
	}
}
