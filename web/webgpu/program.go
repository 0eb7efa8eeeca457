//go:build js && wasm

package webgpu

import (
	"fmt"
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
	// caches are the decoder's KV caches on the GPU, by their Go backing, most recent
	// last. The Go copy stays the truth (each run's new rows are copied back, in one read
	// with the output), so a cache that grows or is new is uploaded from it.
	caches []gpuCache
}

type gpuCache struct {
	key weightKey
	buf safejs.Value
}

// maxCaches is how many KV caches stay on the GPU: the session keeps two pictures' (a
// key and a value cache for each of 6 decoder layers). A cache's Go buffer stays alive
// while it is listed (its address is the key: a freed one could be reused).
const maxCaches = 24

type weightKey struct {
	ptr   unsafe.Pointer
	bytes int
}

var _ model.Backend = (*Backend)(nil)

// NewBackend is the WebGPU backend over k's device.
func NewBackend(k *Kernels) *Backend {
	return &Backend{Backend: model.CPU(protocol.KernelsWebGPU, smallOnCPU{k}, true), K: k, weights: map[weightKey]safejs.Value{}}
}

// smallWork is the most values a norm or an elementwise op run op by op (outside a
// program) takes on the CPU instead: its trip to the GPU (upload, dispatch, the wait,
// the read-back) costs more than the CPU's microseconds. A decoder step's text
// embedding, a row's norm, is one: a step then waits for the GPU twice (its stack and
// the head), not three times.
const smallWork = 16384

// smallOnCPU is the op-by-op path's kernels: k's, with small norms and elementwise ops on
// k's Fallback. (k itself runs every call on the GPU, which its self-test needs.)
type smallOnCPU struct{ *Kernels }

func (k smallOnCPU) LayerNorm(y, x []float32, d int, gamma, beta []float32, eps float64) {
	if len(x) <= smallWork {
		k.Fallback.LayerNorm(y, x, d, gamma, beta, eps)
		return
	}
	k.Kernels.LayerNorm(y, x, d, gamma, beta, eps)
}

func (k smallOnCPU) Activate(x []float32, act string) {
	if len(x) <= smallWork {
		k.Fallback.Activate(x, act)
		return
	}
	k.Kernels.Activate(x, act)
}

func (k smallOnCPU) AddBias(y []float32, m, n int, bias []float32) {
	if m*n <= smallWork {
		k.Fallback.AddBias(y, m, n, bias)
		return
	}
	k.Kernels.AddBias(y, m, n, bias)
}

// cache is the GPU copy of a KV cache's buffer (uploaded from data when it has none).
func (b *Backend) cache(data []byte) safejs.Value {
	key := weightKey{unsafe.Pointer(&data[0]), len(data)}
	for i, c := range b.caches {
		if c.key == key {
			b.caches = append(append(b.caches[:i:i], b.caches[i+1:]...), c) // most recent last
			return c.buf
		}
	}
	if len(b.caches) == maxCaches {
		b.K.D.call(b.caches[0].buf, "destroy")
		b.caches = b.caches[1:]
	}
	c := gpuCache{key, b.K.D.buffer(data, 0)}
	b.caches = append(b.caches, c)
	return c.buf
}

// Exact implements model.Backend: false on the DP4A and f16 paths (activations rounded).
func (b *Backend) Exact() bool { return b.K.Exact() }

// WholeStacks implements model.Backend: the more layers a program holds, the fewer
// trips its activations make.
func (b *Backend) WholeStacks() bool { return true }

// Compile implements model.Backend.
func (b *Backend) Compile(g *G.ExprGraph, out *G.Node) (model.Program, error) {
	opByOp, err := b.Backend.Compile(g, out)
	if err != nil {
		return nil, err
	}
	steps, err := ops.Lower(g)
	if err != nil || !shadersTake(steps) {
		return opByOp, nil
	}
	p := &program{b: b, steps: steps, out: out, lastUse: map[*G.Node]int{}, cacheNodes: map[*G.Node]bool{}, opByOp: opByOp,
		free: map[int][]pooled{}}
	for i, s := range steps {
		for _, n := range s.In {
			p.lastUse[n] = i
		}
		if s.Kind == ops.StepCachedAttention {
			p.cacheNodes[s.In[3]], p.cacheNodes[s.In[4]] = true, true
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
	// cacheNodes are the KV caches' key and value inputs.
	cacheNodes map[*G.Node]bool
	result     []float32
	// free are the intermediate buffers not in use, by size in bytes.
	free map[int][]pooled
	// opByOp runs the graph when the GPU has failed (a lost device): the kernels then run
	// on the CPU (Kernels.Fallback), and the KV caches' Go copies are whole, so the
	// question is still answered.
	opByOp model.Program
}

// pooled is an intermediate value's buffer.
type pooled struct {
	buf  safejs.Value
	size int
}

// cacheRows is a stretch of a KV cache a run wrote: copied back to its Go buffer.
type cacheRows struct {
	gpu    safejs.Value
	goData []float32
	offset int // floats
	n      int // floats
}

// Run implements model.Program.
func (p *program) Run(in ...[]ops.Binding) ([]float32, error) {
	if !p.b.K.ok() {
		return p.opByOp.Run(in...)
	}
	out, err := p.run(in...)
	if err != nil && !p.b.K.ok() {
		return p.opByOp.Run(in...) // the device failed under this run
	}
	return out, err
}

func (p *program) run(in ...[]ops.Binding) (_ []float32, err error) {
	d := p.b.K.D
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("WebGPU program: %v", r)
		}
	}()
	d.begin()
	scoped := true
	defer func() {
		if scoped {
			d.end() // an early return: close the scopes
		}
	}()
	bufs := map[*G.Node]safejs.Value{}
	var temps []safejs.Value // this run's: activations bound, intermediate values
	defer func() {
		d.flush() // an early return: the batch that uses them goes first, inside the scopes
		for _, t := range temps {
			d.call(t, "destroy")
		}
	}()
	ints := map[*G.Node]int{}
	goValues := map[*G.Node][]float32{}
	for _, bs := range in {
		for _, x := range bs {
			data := valueBytes(x.Value)
			if data == nil {
				if i, ok := x.Value.(*G.I); ok {
					ints[x.Node] = int(*i) // a KV cache's length (or a layer's index, unused here)
				}
				continue
			}
			if p.cacheNodes[x.Node] {
				bufs[x.Node] = p.b.cache(data)
				goValues[x.Node] = x.Value.(*tensor.Dense).Float32s()
				continue
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
	var written []cacheRows
	// Intermediate values take buffers from the program's pool (kept between runs: a
	// token's program runs again and again) and give them back once read for the last
	// time, or when the run ends.
	owned := map[*G.Node]pooled{}
	defer func() {
		for _, b := range owned {
			p.free[b.size] = append(p.free[b.size], b)
		}
	}()
	alloc := func(n *G.Node) safejs.Value {
		size := 4 * n.Shape().TotalSize()
		b := pooled{size: size}
		if free := p.free[size]; len(free) > 0 {
			b, p.free[size] = free[len(free)-1], free[:len(free)-1]
		} else {
			b.buf = d.empty(size)
		}
		owned[n] = b
		return b.buf
	}
	param := d.params
	for i, s := range p.steps {
		for _, n := range s.In {
			_, isBuf := bufs[n]
			if _, isInt := ints[n]; !isBuf && !isInt {
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
			if s.Group > 0 { // rows of k bytes: whole words (shadersTake)
				temps = append(temps, p.b.K.dispatchLinearQ8(rows, cols, k, k, min(s.Group, k), x, bufs[s.In[1]], bufs[s.In[2]], y)...)
				rest = s.In[3:]
			} else {
				d.dispatchGemmNT(rows, cols, param(rows, cols, k, k, k, cols), x, bufs[s.In[1]], y)
			}
			if s.Bias {
				d.dispatch("add_bias", addBiasWGSL, groups(cols), rows, param(rows, cols), bufs[rest[0]], y)
			}
			if kind, ok := activations[s.Act]; ok { // known, or none (shadersTake)
				d.dispatchFlat("activate", activateWGSL, rows*cols, param(rows*cols, kind), y)
			}
		case ops.StepLayerNorm:
			d.dispatch("layer_norm", layerNormWGSL, groups(rows), 1, param(rows, cols, float32(s.Eps)), x, bufs[s.In[1]], bufs[s.In[2]], y)
		case ops.StepAdd:
			d.dispatchFlat("add", addWGSL, rows*cols, param(rows*cols), x, bufs[s.In[1]], y)
		case ops.StepAttention:
			nk := s.In[1].Shape()[0]
			d.dispatchAttention(rows, nk, s.Heads, cols/s.Heads, param(rows, nk, s.Heads, cols/s.Heads, s.Scale, -1), x, bufs[s.In[1]], bufs[s.In[2]], y)
		case ops.StepCachedAttention:
			n, capacity := ints[s.In[5]], s.In[3].Shape()[0]
			if s.In[3].Shape()[1] != cols {
				return nil, fmt.Errorf("WebGPU: a KV cache %d wide for rows of %d", s.In[3].Shape()[1], cols)
			}
			if n < 0 || n+rows > capacity || (!s.Causal && n != 0) {
				return nil, fmt.Errorf("WebGPU: %d rows after %d do not fit a KV cache of %d", rows, n, capacity)
			}
			// this run's keys and values into the cache at row n, then attention over it
			for j, c := range []int{3, 4} {
				d.copy(bufs[s.In[1+j]], 0, bufs[s.In[c]], n*cols, rows*cols)
				written = append(written, cacheRows{gpu: bufs[s.In[c]], goData: goValues[s.In[c]], offset: n * cols, n: rows * cols})
			}
			start := -1
			if s.Causal {
				start = n
			}
			d.dispatchAttention(rows, n+rows, s.Heads, cols/s.Heads, param(rows, n+rows, s.Heads, cols/s.Heads, s.Scale, start), x, bufs[s.In[3]], bufs[s.In[4]], y)
		default:
			return nil, fmt.Errorf("WebGPU: no shader for %s", s.Kind)
		}
		bufs[s.Out] = y
		// Values no later step reads go back to the pool (never the output, nor a bound input).
		for _, n := range s.In {
			if b, ok := owned[n]; ok && p.lastUse[n] == i {
				delete(owned, n)
				p.free[b.size] = append(p.free[b.size], b)
			}
		}
	}
	if n := p.out.Shape().TotalSize(); len(p.result) != n {
		p.result = make([]float32, n)
	}
	scoped = false
	if err := d.end(); err != nil {
		p.b.K.Err = err
		return nil, err
	}
	if err := d.readAll(bufs[p.out], p.result, written); err != nil {
		p.b.K.Err = err
		return nil, fmt.Errorf("WebGPU: %w", err)
	}
	return p.result, nil
}

// shadersTake says whether every step fits the shaders (else the graph runs op by op):
// a known activation, int8 rows of whole words, heads the attention shader is built for.
func shadersTake(steps []ops.Step) bool {
	for _, s := range steps {
		if (s.Kind == ops.StepAttention || s.Kind == ops.StepCachedAttention) && s.Out.Shape()[1]/s.Heads > maxHeadSize {
			return false
		}
		if s.Kind != ops.StepLinear {
			continue
		}
		if _, ok := activations[s.Act]; s.Act != "" && !ok {
			return false
		}
		if s.Group > 0 && s.In[0].Shape()[1]%4 != 0 {
			return false
		}
	}
	return true
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
