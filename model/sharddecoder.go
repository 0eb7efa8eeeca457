package model

import (
	"fmt"

	G "gorgonia.org/gorgonia"

	"gitvqa/model/ops"
)

// The decoder's pass over the image rows is split across workers as the vision layers
// are (shard.go): shard s holds heads [h0, h1) of every decoder layer's attention with
// the matching columns of its output projection, and a slice of its FFN units with the
// matching columns of the second layer. The layers are post-LN, so each block's input
// is the layer's own input (or the attention's normed sum) and the norms stay with the
// main worker. The KV cache must hold every head for the tokens to come, which run on
// the main worker alone: so each shard answers the attention block with its heads' keys
// and values after its partial sum (PeerKV), and the main worker writes them into the
// cache (TensorParallelKV). It used to compute them itself, ≈17% more than its share
// with two workers.

// Block kinds of the decoder's image pass.
const (
	BlockDecoderAttention = "decoder.attention"
	BlockDecoderMLP       = "decoder.mlp"
)

// DecoderShardBounds returns the heads and FFN units shard index of count holds, for
// weights in one int8 scale a row (or float32).
func (c *Config) DecoderShardBounds(index, count int) (h0, h1, i0, i1 int) {
	return shardBounds(c.NumAttentionHeads, c.IntermediateSize, index, count, 0)
}

// ShardDecoderLayer is shard index of count of decoder layer i, as another worker holds
// it (EncodeShardDecoderLayer): its heads' Q, K, V rows, O's matching columns, its FFN
// units. No norms: they stay with the main worker.
func (m *Model) ShardDecoderLayer(index, count, i int) (DecoderLayer, error) {
	c := &m.Config
	if err := checkShard("decoder shard", index, count, c.NumAttentionHeads); err != nil {
		return DecoderLayer{}, err
	}
	if i < 0 || i >= len(m.Weights.Decoder) {
		return DecoderLayer{}, fmt.Errorf("no decoder layer %d", i)
	}
	l := &m.Weights.Decoder[i]
	h0, h1, i0, i1 := shardBounds(c.NumAttentionHeads, c.IntermediateSize, index, count, cutGroup(&l.FFNOut))
	p, err := cutLayer(index, c.HiddenSize/c.NumAttentionHeads, h0, h1, i0, i1, &l.Q, &l.K, &l.V, &l.O, &l.FFNIn, &l.FFNOut)
	if err != nil {
		return DecoderLayer{}, fmt.Errorf("decoder layer %d: %w", i, err)
	}
	return DecoderLayer{Q: p[0], K: p[1], V: p[2], O: p[3], FFNIn: p[4], FFNOut: p[5]}, nil
}

// ---- the shard's blocks -----------------------------------------------------------------

type decoderShareNodes struct {
	index                     *G.Node // which decoder layer: the peers run the same one
	heads                     int     // this worker's share of the heads
	q, k, v, o, ffnIn, ffnOut ops.LinearNodes
}

func (n *net) declareDecoderShare(l *DecoderLayer) *decoderShareNodes {
	lin := func(part string, w *Linear) ops.LinearNodes { return n.LinearWeights(part, &w.W, w.B != nil) }
	return &decoderShareNodes{
		index: n.Int("index"), heads: l.Q.W.Rows / (n.c.HiddenSize / n.c.NumAttentionHeads),
		q: lin("query", &l.Q), k: lin("key", &l.K), v: lin("value", &l.V), o: lin("attention.output.dense", &l.O),
		ffnIn: lin("intermediate.dense", &l.FFNIn), ffnOut: lin("output.dense", &l.FFNOut),
	}
}

func (n *decoderShareNodes) bind(l *DecoderLayer, index int) []ops.Binding {
	return concat([]ops.Binding{ops.BindInt(n.index, index)},
		n.q.Bind(&l.Q.W, l.Q.B), n.k.Bind(&l.K.W, l.K.B), n.v.Bind(&l.V.W, l.V.B), n.o.Bind(&l.O.W, l.O.B),
		n.ffnIn.Bind(&l.FFNIn.W, l.FFNIn.B), n.ffnOut.Bind(&l.FFNOut.W, l.FFNOut.B))
}

// decoderAttentionShare is a shard's term of the attention block over the image rows
// (which see each other only: plain attention, as on an empty cache), followed by its
// heads' keys and values for the main worker's cache.
func (n *net) decoderAttentionShare(x *G.Node, l *decoderShareNodes) *G.Node {
	k, v := n.Linear(x, l.k, ""), n.Linear(x, l.v, "")
	return n.PeerKV(n.Linear(n.Attention(n.Linear(x, l.q, ""), k, v, l.heads), l.o, ""), k, v)
}

func (n *net) decoderMLPShare(x *G.Node, l *decoderShareNodes) *G.Node {
	return n.Linear(n.Linear(x, l.ffnIn, n.c.HiddenAct), l.ffnOut, "")
}

// ---- the main worker's image pass with peers ---------------------------------------------

// decoderImageShares are the main worker's share of each decoder layer (shard 0, with
// the biases and the norms).
func (m *Model) decoderImageShares(count int) ([]DecoderLayer, error) {
	out := make([]DecoderLayer, len(m.Weights.Decoder))
	for i := range out {
		own, err := m.ShardDecoderLayer(0, count, i)
		if err != nil {
			return nil, err
		}
		l := &m.Weights.Decoder[i]
		own.AttnNorm, own.OutNorm = l.AttnNorm, l.OutNorm
		out[i] = own
	}
	return out, nil
}

type decoderImageNodes struct {
	share    *decoderShareNodes
	attnNorm ops.NormNodes
	outNorm  ops.NormNodes
	cache    ops.KVNodes
	widths   []int // the cache columns each worker's heads fill
}

func (n *net) declareDecoderImage(l *DecoderLayer, capacity, count int) *decoderImageNodes {
	d, dh := n.c.HiddenSize, n.c.HiddenSize/n.c.NumAttentionHeads
	widths := make([]int, count)
	for i := range widths {
		h0, h1, _, _ := n.c.DecoderShardBounds(i, count)
		widths[i] = (h1 - h0) * dh
	}
	return &decoderImageNodes{
		share:    n.declareDecoderShare(l),
		attnNorm: n.NormWeights("attention.output.LayerNorm", d), outNorm: n.NormWeights("output.LayerNorm", d),
		cache:  n.KVCacheInputs("cache", capacity, d),
		widths: widths,
	}
}

// decoderImageLayer is decoderLayer over the image rows with each block shared with the
// peers: this worker's heads attend, every head's keys and values go into the cache.
func (n *net) decoderImageLayer(x *G.Node, l *decoderImageNodes) *G.Node {
	eps := n.c.LayerNormEps
	s := l.share
	a := n.TensorParallelKV(x, s.index, BlockDecoderAttention, n.peers, l.cache, l.widths, func(x *G.Node) *G.Node {
		vOwn := n.Linear(x, s.v, "")
		kOwn := n.WriteKV(l.cache, n.Linear(x, s.k, ""), vOwn)
		return n.Linear(n.Attention(n.Linear(x, s.q, ""), kOwn, vOwn, s.heads), s.o, "")
	})
	x = n.LayerNorm(a, l.attnNorm, eps)
	f := n.TensorParallel(x, s.index, BlockDecoderMLP, n.peers, func(x *G.Node) *G.Node { return n.decoderMLPShare(x, s) })
	return n.LayerNorm(f, l.outNorm, eps)
}

func (n *decoderImageNodes) bind(l *DecoderLayer, index int, kv *ops.KVCache) []ops.Binding {
	return concat(n.share.bind(l, index),
		n.attnNorm.Bind(l.AttnNorm.Gamma, l.AttnNorm.Beta), n.outNorm.Bind(l.OutNorm.Gamma, l.OutNorm.Beta),
		n.cache.Bind(kv))
}

// sharedImagePass is the image pass with peers: one layer a program (peers run on the
// CPU backends, which take one layer at a time).
type sharedImagePass struct {
	prog   Program
	x      *G.Node
	nodes  *decoderImageNodes
	shares []DecoderLayer
}

func newSharedImagePass(m *Model, b Backend, count int, peers ops.Peers, capacity int) (*sharedImagePass, error) {
	shares, err := m.decoderImageShares(count)
	if err != nil {
		return nil, err
	}
	c := &m.Config
	n := newNet(c, b, peers)
	p := &sharedImagePass{x: n.Matrix("hidden", c.NumImageTokens(), c.HiddenSize), shares: shares}
	p.nodes = n.declareDecoderImage(&shares[0], capacity, count)
	p.prog, err = n.compile(b, n.decoderImageLayer(p.x, p.nodes))
	return p, err
}

func (p *sharedImagePass) run(layer int, hidden []float32, kv *ops.KVCache) ([]float32, error) {
	return p.prog.Run(p.nodes.bind(&p.shares[layer], layer, kv), []ops.Binding{ops.Bind(p.x, hidden)})
}
