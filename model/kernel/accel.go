package kernel

// Accel is a faster implementation of the hot loops: in the browser, the WebAssembly
// SIMD module (web/simd). Every method has a plain-Go twin in this package, and the Go
// code stays the reference and the fallback. Methods returning bool may decline an
// input they do not handle; the Go code then runs.
type Accel interface {
	// GemmNT sets C = A·Bᵀ (both read along k), as GemmNT.
	GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int)
	// LinearQ8 sets y = x·Wᵀ for int8 W (m rows of x), as LinearQ8.
	LinearQ8(y, x []float32, m int, w *Matrix) bool
	// Attention is Attention (all heads), as the package function.
	Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causalStart int)
	// Activate applies the named activation in place; false when it does not know it.
	Activate(x []float32, act string) bool
	// LayerNorm normalises rows of d values (y may alias x).
	LayerNorm(y, x []float32, d int, gamma, beta []float32, eps float64) bool
}

var accel Accel

// SetAccel installs a (nil: no) faster backend. Call it before any model work.
func SetAccel(a Accel) { accel = a }

// CurrentAccel returns the installed backend, or nil.
func CurrentAccel() Accel { return accel }
