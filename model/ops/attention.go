package ops

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernels"
)

// KVCache holds one decoder layer's keys and values: Len rows of D values each, the
// image rows first, in buffers of Cap() rows.
type KVCache struct {
	K, V []float32
	Len  int
	D    int
}

// NewKVCache makes a cache for up to rows positions of width d.
func NewKVCache(rows, d int) *KVCache {
	return &KVCache{K: make([]float32, rows*d), V: make([]float32, rows*d), D: d}
}

// Cap is how many rows the cache holds without growing.
func (c *KVCache) Cap() int { return len(c.K) / max(c.D, 1) }

// Reserve grows the cache to hold at least rows positions.
func (c *KVCache) Reserve(rows int) {
	if rows <= c.Cap() {
		return
	}
	n := max(rows, 2*c.Cap())
	k, v := make([]float32, n*c.D), make([]float32, n*c.D)
	copy(k, c.K[:c.Len*c.D])
	copy(v, c.V[:c.Len*c.D])
	c.K, c.V = k, v
}

// Truncate forgets every row from n on (the text of a previous question).
func (c *KVCache) Truncate(n int) { c.Len = min(c.Len, n) }

// KVNodes are a KV cache's graph inputs: the key and value buffers (capacity × width)
// and the number of rows they hold.
type KVNodes struct{ K, V, Len *G.Node }

// KVCacheInputs declares a cache's inputs for caches of the given capacity.
func (b *Builder) KVCacheInputs(name string, capacity, d int) KVNodes {
	return KVNodes{K: b.Matrix(name+".keys", capacity, d), V: b.Matrix(name+".values", capacity, d), Len: b.Int(name + ".len")}
}

// Bind binds a cache. The graph writes the run's keys and values into its buffers at
// row c.Len; the caller then advances c.Len by the rows it ran.
func (n KVNodes) Bind(c *KVCache) []Binding {
	rows := c.Cap()
	return []Binding{{Node: n.K, Value: Dense(c.K, rows, c.D)}, {Node: n.V, Value: Dense(c.V, rows, c.D)}, BindInt(n.Len, c.Len)}
}

type attentionOp struct {
	base
	k         kernels.Kernels
	heads, dh int
	scale     float32
	cached    bool // inputs 3, 4, 5 are the cache's keys, values and length
	causal    bool
}

func (op *attentionOp) Arity() int {
	if op.cached {
		return 6
	}
	return 3
}

func (op *attentionOp) Type() hm.Type {
	ts := []hm.Type{tt(2, tensor.Float32), tt(2, tensor.Float32), tt(2, tensor.Float32)}
	if op.cached {
		ts = append(ts, tt(2, tensor.Float32), tt(2, tensor.Float32), tensor.Int)
	}
	return fnType(append(ts, tt(2, tensor.Float32))...)
}

func (op *attentionOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	q, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	if len(q) != 2 || q[1] != op.heads*op.dh {
		return nil, fmt.Errorf("%s: query shape %v does not hold %d heads of %d", op.name, q, op.heads, op.dh)
	}
	return q.Clone(), nil
}

func (op *attentionOp) Do(in ...G.Value) (G.Value, error) {
	m, d := rowsCols(in[0])
	q, k, v := f32s(in[0]), f32s(in[1]), f32s(in[2])
	out := op.output(m, d)
	keys, vals, nk, start := k, v, m, -1
	if op.causal {
		start = 0
	}
	if op.cached {
		ck, cv, n := f32s(in[3]), f32s(in[4]), intOf(in[5])
		capacity, cd := rowsCols(in[3])
		switch {
		case cd != d:
			return nil, fmt.Errorf("%s: cache width %d, rows of %d", op.name, cd, d)
		case n < 0 || n+m > capacity:
			return nil, fmt.Errorf("%s: %d rows after %d do not fit a cache of %d", op.name, m, n, capacity)
		case !op.causal && n != 0:
			return nil, fmt.Errorf("%s: the bidirectional (image) pass needs an empty cache", op.name)
		}
		copy(ck[n*d:], k[:m*d])
		copy(cv[n*d:], v[:m*d])
		keys, vals, nk = ck[:(n+m)*d], cv[:(n+m)*d], n+m
		if op.causal {
			start = n
		}
	}
	op.k.Attention(out.Float32s(), q, keys, vals, m, nk, op.heads, op.dh, op.scale, start)
	return out, nil
}

func (b *Builder) attention(q, k, v *G.Node, heads int, causal bool, cache *KVNodes) *G.Node {
	if b.Err != nil {
		return nil
	}
	d := q.Shape()[1]
	if heads <= 0 || d%heads != 0 {
		b.Failf("attention: %d columns do not split into %d heads", d, heads)
		return nil
	}
	dh := d / heads
	op := &attentionOp{base: base{name: "Attention"}, k: b.K, heads: heads, dh: dh,
		scale: float32(1 / math.Sqrt(float64(dh))), causal: causal, cached: cache != nil}
	in := []*G.Node{q, k, v}
	if cache != nil {
		in = append(in, cache.K, cache.V, cache.Len)
	}
	return b.Apply(op, in...)
}

// Attention is softmax(q·kᵀ/√dh)·v over heads, every row seeing every key (the
// vision encoder's self-attention).
func (b *Builder) Attention(q, k, v *G.Node, heads int) *G.Node {
	return b.attention(q, k, v, heads, false, nil)
}

// CachedAttention appends this run's keys and values to the cache and attends over all
// of its rows. causal selects GIT's text mask (each row sees every earlier key, image
// keys included); otherwise the rows are the image's, which see each other and need an
// empty cache.
func (b *Builder) CachedAttention(q, k, v *G.Node, cache KVNodes, heads int, causal bool) *G.Node {
	return b.attention(q, k, v, heads, causal, &cache)
}

// WriteKV writes the image rows' keys and values of this worker's heads into the first
// columns of the (empty) cache, and passes kOwn on: the decoder's image pass shared with
// peers, where this worker attends over its own heads but the cache must hold every
// head's keys and values for the tokens to come (TensorParallelKV writes the peers'),
// and the pass's last layer, where every head's are all that is needed.
func (b *Builder) WriteKV(cache KVNodes, kOwn, vOwn *G.Node) *G.Node {
	return b.Apply(&writeKVOp{base{name: "WriteKV"}}, cache.K, cache.V, cache.Len, kOwn, vOwn)
}

type writeKVOp struct{ base }

func (op *writeKVOp) Arity() int { return 5 }
func (op *writeKVOp) Type() hm.Type {
	m := tt(2, tensor.Float32)
	return fnType(m, m, tensor.Int, m, m, tt(2, tensor.Float32))
}
func (op *writeKVOp) InferShape(in ...G.DimSizer) (tensor.Shape, error) { return sameShape(in, 3) }
func (op *writeKVOp) Do(in ...G.Value) (G.Value, error) {
	capacity, d := rowsCols(in[0])
	vc, vd := rowsCols(in[1])
	n := intOf(in[2])
	m, own := rowsCols(in[3])
	vm, vown := rowsCols(in[4])
	switch {
	case vc != capacity || vd != d:
		return nil, fmt.Errorf("%s: a value cache %d×%d beside keys %d×%d", op.name, vc, vd, capacity, d)
	case own > d || vm != m || vown != own:
		return nil, fmt.Errorf("%s: keys %d×%d and values %d×%d for a cache %d wide", op.name, m, own, vm, vown, d)
	case n != 0:
		return nil, fmt.Errorf("%s: the image pass needs an empty cache, not one of %d rows", op.name, n)
	case m > capacity:
		return nil, fmt.Errorf("%s: %d rows do not fit a cache of %d", op.name, m, capacity)
	}
	putColumns(f32s(in[0]), d, f32s(in[3]), m, 0, own)
	putColumns(f32s(in[1]), d, f32s(in[4]), m, 0, own)
	return in[3], nil
}

// putColumns copies part (m×w) into columns [col, col+w) of cache's first m rows (d wide).
func putColumns(cache []float32, d int, part []float32, m, col, w int) {
	for i := 0; i < m; i++ {
		copy(cache[i*d+col:i*d+col+w], part[i*w:(i+1)*w])
	}
}
