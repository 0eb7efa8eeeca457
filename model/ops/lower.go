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
	// scales), then the bias if Bias; LayerNorm x, γ, β; Add a, b; Attention q, k, v.
	In  []*G.Node
	Out *G.Node

	Act   string  // Linear: the activation after the bias ("" for none)
	Group int     // Linear: the int8 scale group; 0 for float32 weights
	Bias  bool    // Linear
	Eps   float64 // LayerNorm
	Heads int     // Attention
	Scale float32 // Attention
}

// Step kinds.
const (
	StepLinear    = "linear"
	StepLayerNorm = "layer_norm"
	StepAdd       = "add"
	StepAttention = "attention"
)

// ErrNotLowered is wrapped by Lower's error for an op it has no step for (attention
// over a KV cache, the embeddings, the workers' exchange): such a graph runs op by op.
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
			if op.cached || op.causal {
				return nil, fmt.Errorf("%w: %s over a KV cache", ErrNotLowered, op.name)
			}
			s.Kind, s.Heads, s.Scale = StepAttention, op.heads, op.scale
		default:
			return nil, fmt.Errorf("%w: %s", ErrNotLowered, n.Op())
		}
		steps = append(steps, s)
	}
	return steps, nil
}
