package kernels

import (
	"sync"
	"sync/atomic"
	"time"
)

// Profile adds up where a session's time goes, by kind of work ("linear", "attention",
// "layernorm", "activation", and whatever else its owner times: a worker waiting for
// its peers, say). Off, it costs one branch a call.
type Profile struct {
	on atomic.Bool
	mu sync.Mutex
	by map[string]time.Duration
}

// Start clears the counters and starts counting.
func (p *Profile) Start() {
	p.mu.Lock()
	p.by = map[string]time.Duration{}
	p.mu.Unlock()
	p.on.Store(true)
}

// Stop stops counting and returns milliseconds by kind.
func (p *Profile) Stop() map[string]float64 {
	p.on.Store(false)
	p.mu.Lock()
	defer p.mu.Unlock()
	out := map[string]float64{}
	for k, d := range p.by {
		out[k] = float64(d.Microseconds()) / 1000
	}
	return out
}

// Time returns a func that adds the time since now to kind, when counting. A nil
// Profile counts nothing.
func (p *Profile) Time(kind string) func() {
	if p == nil || !p.on.Load() {
		return func() {}
	}
	start := time.Now()
	return func() { p.Add(kind, time.Since(start)) }
}

// Add adds d to kind (for time measured elsewhere, by a peer worker say).
func (p *Profile) Add(kind string, d time.Duration) {
	if p == nil || !p.on.Load() {
		return
	}
	p.mu.Lock()
	p.by[kind] += d
	p.mu.Unlock()
}

// Profiled returns k with every call timed into p.
func Profiled(k Kernels, p *Profile) Kernels { return profiled{k, p} }

type profiled struct {
	k Kernels
	p *Profile
}

func (x profiled) GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	defer x.p.Time("linear")()
	x.k.GemmNT(m, n, k, a, lda, b, ldb, c, ldc)
}

func (x profiled) LinearQ8(y, xs []float32, m int, w *Matrix) {
	defer x.p.Time("linear")()
	x.k.LinearQ8(y, xs, m, w)
}

func (x profiled) Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causalStart int) {
	defer x.p.Time("attention")()
	x.k.Attention(out, q, k, v, m, nk, heads, dh, scale, causalStart)
}

func (x profiled) LayerNorm(y, xs []float32, d int, gamma, beta []float32, eps float64) {
	defer x.p.Time("layernorm")()
	x.k.LayerNorm(y, xs, d, gamma, beta, eps)
}

// AddBias counts as linear: it is the Linear layer's epilogue.
func (x profiled) AddBias(y []float32, m, n int, bias []float32) {
	defer x.p.Time("linear")()
	x.k.AddBias(y, m, n, bias)
}

func (x profiled) Activate(xs []float32, act string) {
	defer x.p.Time("activation")()
	x.k.Activate(xs, act)
}
