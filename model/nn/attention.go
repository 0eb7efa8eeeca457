package nn

import (
	"fmt"
	"math"

	"github.com/chewxy/hm"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model/kernel"
)

// KVCache holds one decoder layer's keys and values, Len rows of D values each, the
// image rows first. It lives outside the graph: the graph for a layer is reused for
// every layer, and the caller points its attention op at that layer's cache.
type KVCache struct {
	K, V []float32
	Len  int
	D    int
}

// NewKVCache makes a cache for up to rows positions of width d.
func NewKVCache(rows, d int) *KVCache {
	return &KVCache{K: make([]float32, rows*d), V: make([]float32, rows*d), D: d}
}

// reserve grows the cache to hold at least rows positions.
func (c *KVCache) reserve(rows int) {
	if rows*c.D <= len(c.K) {
		return
	}
	n := max(rows, 2*len(c.K)/max(c.D, 1))
	k, v := make([]float32, n*c.D), make([]float32, n*c.D)
	copy(k, c.K[:c.Len*c.D])
	copy(v, c.V[:c.Len*c.D])
	c.K, c.V = k, v
}

// Truncate forgets every row from n on (the text of a previous question).
func (c *KVCache) Truncate(n int) { c.Len = min(c.Len, n) }

// CopyFrom makes c an independent copy of o's first rows.
func (c *KVCache) CopyFrom(o *KVCache, rows int) {
	copy(c.K, o.K[:rows*o.D])
	copy(c.V, o.V[:rows*o.D])
	c.Len, c.D = rows, o.D
}

// Attention is the multi-head attention op.
type Attention struct {
	base
	heads, dh int
	scale     float32
	causal    bool
	scratch   kernel.AttentionScratch

	// Cache, when set, receives this run's keys and values and supplies the earlier
	// ones. nil: plain self-attention over the run's rows (the vision encoder).
	Cache *KVCache
}

func (op *Attention) Arity() int { return 3 }
func (op *Attention) Type() hm.Type {
	return fnType(tt(2, tensor.Float32), tt(2, tensor.Float32), tt(2, tensor.Float32), tt(2, tensor.Float32))
}
func (op *Attention) InferShape(in ...G.DimSizer) (tensor.Shape, error) {
	q, err := shapeOf(in[0])
	if err != nil {
		return nil, err
	}
	if len(q) != 2 || q[1] != op.heads*op.dh {
		return nil, fmt.Errorf("%s: query shape %v does not hold %d heads of %d", op.name, q, op.heads, op.dh)
	}
	return q.Clone(), nil
}

func (op *Attention) Do(in ...G.Value) (G.Value, error) {
	m, d := rowsCols(in[0])
	q, k, v := f32s(in[0]), f32s(in[1]), f32s(in[2])
	out := op.output(m, d)
	keys, vals, nk, start := k, v, m, -1
	if c := op.Cache; c != nil {
		if c.D != d {
			return nil, fmt.Errorf("%s: cache width %d, rows of %d", op.name, c.D, d)
		}
		c.reserve(c.Len + m)
		if op.causal {
			start = c.Len
		} else if c.Len != 0 {
			return nil, fmt.Errorf("%s: the bidirectional (image) pass needs an empty cache", op.name)
		}
		copy(c.K[c.Len*d:], k[:m*d])
		copy(c.V[c.Len*d:], v[:m*d])
		c.Len += m
		keys, vals, nk = c.K[:c.Len*d], c.V[:c.Len*d], c.Len
	} else if op.causal {
		start = 0
	}
	kernel.Attention(out.Float32s(), q, keys, vals, m, nk, op.heads, op.dh, op.scale, start, &op.scratch)
	return out, nil
}

// MultiHeadAttention applies softmax(q·kᵀ/√dh + mask)·v over heads. causal selects
// GIT's text mask (each row sees every earlier key, image keys included); otherwise
// every row sees every key. It returns the op so the caller can bind a KV cache.
func MultiHeadAttention(q, k, v *G.Node, heads int, causal bool, name string) (*G.Node, *Attention, error) {
	d := q.Shape()[1]
	if heads <= 0 || d%heads != 0 {
		return nil, nil, fmt.Errorf("%s: %d columns do not split into %d heads", name, d, heads)
	}
	dh := d / heads
	op := &Attention{
		base:   base{name: "Attention(" + name + ")"},
		heads:  heads,
		dh:     dh,
		scale:  float32(1 / math.Sqrt(float64(dh))),
		causal: causal,
	}
	n, err := apply(op, q, k, v)
	return n, op, err
}
