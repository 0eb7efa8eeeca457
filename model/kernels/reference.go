package kernels

import "math"

// Reference kernels: the plainest correct loops, accumulating in float64. The fast
// kernels are tested against these on odd shapes; nothing in the model calls them.

// RefGemmNT is the reference for GemmNT.
func RefGemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			for p := 0; p < k; p++ {
				s += float64(a[i*lda+p]) * float64(b[j*ldb+p])
			}
			c[i*ldc+j] = float32(s)
		}
	}
}

// RefAttention is the reference for Attention, in float64.
func RefAttention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causalStart int) {
	d := heads * dh
	RefAttentionRows(q, k, m, nk, heads, dh, scale, causalStart, func(h, i int, p []float64) {
		for c := h * dh; c < (h+1)*dh; c++ {
			var acc float64
			for j := range p {
				acc += p[j] * float64(v[j*d+c])
			}
			out[i*d+c] = float32(acc)
		}
	})
}

// RefAttentionRows calls row with each head h's query row i's softmax probabilities
// over the keys it sees (the first causalStart+i+1 where causalStart ≥ 0), in float64:
// the part of RefAttention before the values, for references that treat them otherwise.
func RefAttentionRows(q, k []float32, m, nk, heads, dh int, scale float32, causalStart int, row func(h, i int, p []float64)) {
	d := heads * dh
	for h := 0; h < heads; h++ {
		for i := 0; i < m; i++ {
			vis := nk
			if causalStart >= 0 {
				vis = min(nk, causalStart+i+1)
			}
			s := make([]float64, vis)
			mx := math.Inf(-1)
			for j := 0; j < vis; j++ {
				var dot float64
				for c := 0; c < dh; c++ {
					dot += float64(q[i*d+h*dh+c]) * float64(k[j*d+h*dh+c])
				}
				s[j] = dot * float64(scale)
				mx = math.Max(mx, s[j])
			}
			var sum float64
			for j := range s {
				s[j] = math.Exp(s[j] - mx)
				sum += s[j]
			}
			for j := range s {
				s[j] /= sum
			}
			row(h, i, s)
		}
	}
}
