package model

import (
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strings"
)

// RandomSource makes seeded random weights for any config, the full-size
// architecture included, so speed and memory can be measured without the real
// checkpoint. Each tensor depends only on the seed and its name. The values follow
// the fixture's recipe scaled to transformers' initializer_range: LayerNorm weights
// 1 + 0.1·N(0,1), biases 0.02·N, everything else 0.02·N. They are not the real
// distribution: answers are gibberish and int8 error figures are only indicative.
type RandomSource struct {
	shapes map[string][]int
	names  []string
	seed   uint64
}

// NewRandomSource lists c's tensors.
func NewRandomSource(c *Config, seed uint64) *RandomSource {
	r := &RandomSource{shapes: map[string][]int{}, seed: seed}
	for _, t := range ExpectedTensors(c) {
		r.shapes[t.Name] = t.Shape
		r.names = append(r.names, t.Name)
	}
	return r
}

// Names implements Source.
func (r *RandomSource) Names() []string { return append([]string(nil), r.names...) }

// Shape implements Source.
func (r *RandomSource) Shape(name string) ([]int, bool) {
	s, ok := r.shapes[name]
	return s, ok
}

// Float32 implements Source.
func (r *RandomSource) Float32(name string) ([]float32, error) {
	shape, ok := r.shapes[name]
	if !ok {
		return nil, fmt.Errorf("random source: no tensor %q", name)
	}
	n := 1
	for _, d := range shape {
		n *= d
	}
	h := fnv.New64a()
	h.Write([]byte(name))
	rng := rand.New(rand.NewPCG(r.seed, h.Sum64()))
	scale, offset := 0.02, 0.0
	if len(shape) == 1 && strings.HasSuffix(name, ".weight") { // a LayerNorm's gamma
		scale, offset = 0.1, 1
	}
	out := make([]float32, n)
	for i := range out {
		out[i] = float32(offset + scale*rng.NormFloat64())
	}
	return out, nil
}
