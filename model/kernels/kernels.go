// Package kernels holds the numeric loops the model spends its time in (matrix
// products with float32 or int8 weights, layer norm, activations, attention) behind one
// interface, Kernels, and their plain-Go implementation, Go: the reference every faster
// set is tested against and the fallback everywhere. It knows nothing of graphs or
// checkpoints. The WebAssembly SIMD set is the subpackage simd.
package kernels

// Kernels is a set of the hot loops, one method per kernel. The graph's ops call a
// session's set; nothing here is global, so two sessions in one process may run on
// different sets. Every implementation takes every input (a faster set hands shapes it
// does not handle to Go). A set keeps scratch space: one goroutine uses it at a time.
type Kernels interface {
	// GemmNT sets C = A·Bᵀ: C[i][j] = Σ_p A[i][p]·B[j][p] for i < m, j < n, p < k, with
	// row strides lda, ldb, ldc (both operands read along k, as Linear weights are stored).
	GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int)
	// LinearQ8 sets y = x·Wᵀ for int8 W and m rows of x.
	LinearQ8(y, x []float32, m int, w *Matrix)
	// Attention is multi-head scaled dot-product attention with GIT's masks (see
	// Go.Attention for the exact contract).
	Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causalStart int)
	// LayerNorm normalises each row of d values of x into y (which may alias x).
	LayerNorm(y, x []float32, d int, gamma, beta []float32, eps float64)
	// Activate applies the named activation (transformers' ACT2FN names) in place.
	Activate(x []float32, act string)
	// AddBias adds bias (n values) to each of the m rows of y (n values each).
	AddBias(y []float32, m, n int, bias []float32)
}

// Go is the plain-Go kernel set. Its zero value is ready to use.
type Go struct {
	scratch AttentionScratch
}

var _ Kernels = (*Go)(nil)

// GemmNT implements Kernels: gonum's assembly Sgemm natively, GoGemmNT under js/wasm.
func (*Go) GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	GemmNT(m, n, k, a, lda, b, ldb, c, ldc)
}

// LinearQ8 implements Kernels.
func (*Go) LinearQ8(y, x []float32, m int, w *Matrix) { LinearQ8(y, x, m, w) }

// Attention implements Kernels. The mask is a per-row prefix: query row i sees keys
// [0, visible(i)), where visible(i) = nk when causalStart < 0, else
// min(nk, causalStart+i+1). GIT needs no other shape: image rows see exactly the image
// keys, and a text row at absolute position p sees every image key and the text keys up
// to p.
func (g *Go) Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causalStart int) {
	Attention(out, q, k, v, m, nk, heads, dh, scale, causalStart, &g.scratch)
}

// LayerNorm implements Kernels.
func (*Go) LayerNorm(y, x []float32, d int, gamma, beta []float32, eps float64) {
	LayerNorm(y, x, d, gamma, beta, eps)
}

// Activate implements Kernels.
func (*Go) Activate(x []float32, act string) { Activate(x, act) }

// AddBias implements Kernels.
func (*Go) AddBias(y []float32, m, n int, bias []float32) { AddBias(y, m, n, bias) }
