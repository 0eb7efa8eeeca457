package ops

import (
	"errors"
	"fmt"

	G "gorgonia.org/gorgonia"
)

// Step is one op of a graph as a device backend compiles it: what it computes and on
// which nodes. The graph stays the program; Lower is how a backend reads it.
type Step struct {
	Kind string
	// In are the op's inputs, in its order: Linear x, W (float32; or int8, then its
	// scales), then the bias if Bias; LayerNorm x, γ, β; Add a, b; Attention q, k, v;
	// CachedAttention q, k, v, the cache's keys and values (capacity × width) and its
	// length: this run's keys and values are written at that row, then q attends over
	// every row up to them.
	In  []*G.Node
	Out *G.Node

	Act    string  // Linear: the activation after the bias ("" for none)
	Group  int     // Linear: the int8 scale group; 0 for float32 weights
	Bias   bool    // Linear
	Eps    float64 // LayerNorm
	Heads  int     // Attention, CachedAttention
	Scale  float32 // Attention, CachedAttention
	Causal bool    // CachedAttention: GIT's text mask (else the image rows, on an empty cache)
}

// Step kinds.
const (
	StepLinear    = "linear"
	StepLayerNorm = "layer_norm"
	StepAdd       = "add"
	StepAttention = "attention"
	// StepCachedAttention is the decoder's attention over its KV cache.
	StepCachedAttention = "cached_attention"
)

// ErrNotLowered is wrapped by Lower's error for an op it has no step for (the
// embeddings, the workers' exchange): such a graph runs op by op.
var ErrNotLowered = errors.New("an op without a device step")

// Lower lists g's ops in an order they can run in (each after its inputs), as steps.
func Lower(g *G.ExprGraph) ([]Step, error) {
	sorted, err := G.Sort(g) // the root first
	if err != nil {
		return nil, err
	}
	var steps []Step
	for i := len(sorted) - 1; i >= 0; i-- {
		n := sorted[i]
		if n.Op() == nil {
			continue // an input
		}
		var in []*G.Node
		for it := g.From(n.ID()); it.Next(); {
			in = append(in, it.Node().(*G.Node))
		}
		s := Step{In: in, Out: n}
		switch op := n.Op().(type) {
		case *linearOp:
			s.Kind, s.Act, s.Bias = StepLinear, op.act, op.w.Bias != nil
			if op.w.Scales != nil {
				s.Group = op.w.Group
			}
		case *layerNormOp:
			s.Kind, s.Eps = StepLayerNorm, op.eps
		case *addOp:
			s.Kind = StepAdd
		case *attentionOp:
			s.Kind, s.Heads, s.Scale, s.Causal = StepAttention, op.heads, op.scale, op.causal
			if op.cached {
				s.Kind = StepCachedAttention
			} else if op.causal {
				return nil, fmt.Errorf("%w: %s, causal without a cache", ErrNotLowered, op.name)
			}
		default:
			return nil, fmt.Errorf("%w: %s", ErrNotLowered, n.Op())
		}
		steps = append(steps, s)
	}
	return steps, nil
}
