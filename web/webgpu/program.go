//go:build js && wasm

package webgpu

import (
	"fmt"
	"slices"
	"unsafe"

	"github.com/hack-pad/safejs"
	G "gorgonia.org/gorgonia"
	"gorgonia.org/tensor"

	"gitvqa/model"
	"gitvqa/model/kernels"
	"gitvqa/model/ops"
	"gitvqa/web/protocol"
)

// Backend is the WebGPU backend. A graph whose every op has a shader (ops.Lower: the
// vision layers, and with WholeStacks all 24 of them as one graph) becomes a program that
// keeps its activations in GPU buffers from the first step to the last: the input goes
// up once, the output comes back once, the weights stay on the GPU. Graphs with other
// ops (the embeddings, the decoder's cached attention) run op by op on the shaders
// (Kernels), as the CPU backend runs them on its kernels.
type Backend struct {
	model.Backend // the op-by-op path
	K             *Kernels
	weights       map[weightKey]safejs.Value
}

type weightKey struct {
	ptr   unsafe.Pointer
	bytes int
}

var _ model.Backend = (*Backend)(nil)

// NewBackend is the WebGPU backend over k's device.
func NewBackend(k *Kernels) *Backend {
	return &Backend{Backend: model.CPU(protocol.KernelsWebGPU, k, true), K: k, weights: map[weightKey]safejs.Value{}}
}

// WholeStacks implements model.Backend: the more layers a program holds, the fewer
// trips its activations make.
func (b *Backend) WholeStacks() bool { return true }

// Compile implements model.Backend.
func (b *Backend) Compile(g *G.ExprGraph, out *G.Node) (model.Program, error) {
	steps, err := ops.Lower(g)
	if err != nil {
		return b.Backend.Compile(g, out) // op by op
	}
	p := &program{b: b, steps: steps, out: out, lastUse: map[*G.Node]int{}}
	for i, s := range steps {
		for _, n := range s.In {
			p.lastUse[n] = i
		}
	}
	p.lastUse[out] = len(steps)
	return p, nil
}

// program is a lowered graph: its steps, dispatched in order on buffers of the GPU.
type program struct {
	b       *Backend
	steps   []ops.Step
	out     *G.Node
	lastUse map[*G.Node]int // the last step reading each node (len(steps): the output)
	result  []float32
}

// Run implements model.Program.
func (p *program) Run(in ...[]ops.Binding) ([]float32, error) {
	d := p.b.K.D
	if !p.b.K.ok() {
		return nil, fmt.Errorf("WebGPU: %w", p.b.K.Err)
	}
	bufs := map[*G.Node]safejs.Value{}
	var temps []safejs.Value // this run's: activations bound, params, intermediate values
	defer func() {
		for _, t := range temps {
			d.call(t, "destroy")
		}
	}()
	for _, bs := range in {
		for _, x := range bs {
			data := valueBytes(x.Value)
			if data == nil {
				continue // a scalar (a layer's index, for peers this backend has none of)
			}
			if !x.Weight {
				bufs[x.Node] = d.buffer(data, 0)
				temps = append(temps, bufs[x.Node])
				continue
			}
			key := weightKey{unsafe.Pointer(&data[0]), len(data)}
			w, ok := p.b.weights[key]
			if !ok {
				w = d.buffer(data, 0)
				p.b.weights[key] = w
			}
			bufs[x.Node] = w
		}
	}
	pool := map[int][]safejs.Value{} // free intermediate buffers by size
	alloc := func(n *G.Node) safejs.Value {
		size := 4 * n.Shape().TotalSize()
		if free := pool[size]; len(free) > 0 {
			pool[size] = free[:len(free)-1]
			return free[len(free)-1]
		}
		b := d.buffer(make([]byte, size), 0)
		temps = append(temps, b)
		return b
	}
	param := func(v ...any) safejs.Value {
		b := d.buffer(params(v...), 0)
		temps = append(temps, b)
		return b
	}
	for i, s := range p.steps {
		for _, n := range s.In {
			if _, ok := bufs[n]; !ok {
				return nil, fmt.Errorf("WebGPU: %s has no value for %s", s.Kind, n.Name())
			}
		}
		y := alloc(s.Out)
		shape := s.Out.Shape()
		rows, cols := shape[0], shape[1]
		x := bufs[s.In[0]]
		switch s.Kind {
		case ops.StepLinear:
			k := s.In[0].Shape()[1]
			rest := s.In[2:]
			if s.Group > 0 {
				group := min(s.Group, k)
				nGroups := (k + group - 1) / group
				if k%4 != 0 {
					return nil, fmt.Errorf("WebGPU: int8 rows of %d bytes are not whole words", k)
				}
				d.dispatch("linear_q8", linearQ8WGSL, groups(cols), rows, param(rows, cols, k, k, group, nGroups), x, bufs[s.In[1]], bufs[s.In[2]], y)
				rest = s.In[3:]
			} else {
				d.dispatch("gemm_nt", gemmNTWGSL, groups(cols), rows, param(rows, cols, k, k, k, cols), x, bufs[s.In[1]], y)
			}
			if s.Bias {
				d.dispatch("add_bias", addBiasWGSL, groups(cols), rows, param(rows, cols), bufs[rest[0]], y)
			}
			if kind, ok := activations[s.Act]; ok {
				g := groups(rows * cols)
				d.dispatch("activate", activateWGSL, min(g, 65535), (g+65534)/65535, param(rows*cols, kind), y)
			} else if s.Act != "" {
				return nil, fmt.Errorf("WebGPU: no shader for activation %q", s.Act)
			}
		case ops.StepLayerNorm:
			d.dispatch("layer_norm", layerNormWGSL, groups(rows), 1, param(rows, cols, float32(s.Eps)), x, bufs[s.In[1]], bufs[s.In[2]], y)
		case ops.StepAdd:
			g := groups(rows * cols)
			d.dispatch("add", addWGSL, min(g, 65535), (g+65534)/65535, param(rows*cols), x, bufs[s.In[1]], y)
		case ops.StepAttention:
			nk := s.In[1].Shape()[0]
			d.dispatch("attention", attentionWGSL, groups(s.Heads), rows, param(rows, nk, s.Heads, cols/s.Heads, s.Scale, -1), x, bufs[s.In[1]], bufs[s.In[2]], y)
		default:
			return nil, fmt.Errorf("WebGPU: no shader for %s", s.Kind)
		}
		bufs[s.Out] = y
		// Values no later step reads go back to the pool (never the output, nor a bound input).
		for j, n := range s.In {
			if p.lastUse[n] == i && n.Op() != nil && !slices.Contains(s.In[:j], n) {
				size := 4 * n.Shape().TotalSize()
				pool[size] = append(pool[size], bufs[n])
			}
		}
	}
	if n := p.out.Shape().TotalSize(); len(p.result) != n {
		p.result = make([]float32, n)
	}
	if err := d.read(bufs[p.out], p.result); err != nil {
		p.b.K.Err = err
		return nil, fmt.Errorf("WebGPU: %w", err)
	}
	return p.result, nil
}

// activations are the activate shader's kinds.
var activations = map[string]int{kernels.ActQuickGELU: 0, kernels.ActGELU: 1}

// valueBytes is a bound value's bytes: float32 or int8 tensors; nil for scalars.
func valueBytes(v G.Value) []byte {
	t, ok := v.(*tensor.Dense)
	if !ok {
		return nil
	}
	switch t.Dtype() {
	case tensor.Float32:
		return f32Bytes(t.Float32s())
	case tensor.Int8:
		return i8Bytes(t.Int8s())
	}
	return nil
}
