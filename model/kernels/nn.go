package kernels

import "math"

// Matrix is a Linear or embedding weight of Rows output channels × Cols inputs, the
// PyTorch layout (out_features, in_features). It holds float32 values, or int8 values
// with one float32 scale per row and group of Group columns (Group == Cols: per channel).
type Matrix struct {
	Rows, Cols int
	F32        []float32 // Rows×Cols, when not quantized
	Q8         []int8    // Rows×Cols, when quantized
	Scales     []float32 // Rows × ceil(Cols/Group), when quantized
	Group      int
}

// Quantized reports whether the weights are int8.
func (w *Matrix) Quantized() bool { return w.Q8 != nil }

// Linear sets y = x·Wᵀ + bias for m rows of x (m×Cols) into y (m×Rows) on k. bias may
// be nil.
func Linear(k Kernels, y, x []float32, m int, w *Matrix, bias []float32) {
	if w.Quantized() {
		k.LinearQ8(y, x, m, w)
	} else {
		k.GemmNT(m, w.Rows, w.Cols, x, w.Cols, w.F32, w.Cols, y, w.Rows)
	}
	if bias != nil {
		k.AddBias(y, m, w.Rows, bias)
	}
}

// AddBias adds bias to each of the m rows of y (n values each).
func AddBias(y []float32, m, n int, bias []float32) {
	for i := 0; i < m; i++ {
		row := y[i*n : (i+1)*n]
		for j, b := range bias[:n] {
			row[j] += b
		}
	}
}

// Row copies row r of w into dst as float32 (an embedding lookup).
func Row(dst []float32, w *Matrix, r int) {
	if !w.Quantized() {
		copy(dst, w.F32[r*w.Cols:(r+1)*w.Cols])
		return
	}
	q := w.Q8[r*w.Cols : (r+1)*w.Cols]
	groups := (w.Cols + w.Group - 1) / w.Group
	s := w.Scales[r*groups : (r+1)*groups]
	for c, v := range q {
		dst[c] = float32(v) * s[c/w.Group]
	}
}

// LayerNorm normalises each row of d values of x into y (which may alias x):
// y = (x − mean)/√(var + eps)·gamma + beta, with the moments accumulated in float64.
func LayerNorm(y, x []float32, d int, gamma, beta []float32, eps float64) {
	for r := 0; r+d <= len(x); r += d {
		xr, yr := x[r:r+d], y[r:r+d]
		var sum float64
		for _, v := range xr {
			sum += float64(v)
		}
		mean := sum / float64(d)
		var ss float64
		for _, v := range xr {
			dv := float64(v) - mean
			ss += dv * dv
		}
		rstd := 1 / math.Sqrt(ss/float64(d)+eps)
		for i, v := range xr {
			yr[i] = float32((float64(v)-mean)*rstd)*gamma[i] + beta[i]
		}
	}
}

// Activation names as transformers' ACT2FN spells them.
const (
	ActGELU      = "gelu"              // exact, erf
	ActGELUTanh  = "gelu_new"          // tanh approximation
	ActGELUTanh2 = "gelu_pytorch_tanh" // same formula
	ActQuickGELU = "quick_gelu"        // x·σ(1.702x), CLIP's
	ActReLU      = "relu"
)

// Activate applies the named activation to x in place. It panics on an unknown name:
// configs are validated before any graph is built.
func Activate(x []float32, act string) {
	switch act {
	case ActGELU:
		for i, v := range x {
			x[i] = float32(0.5 * float64(v) * (1 + math.Erf(float64(v)/math.Sqrt2)))
		}
	case ActGELUTanh, ActGELUTanh2:
		c := math.Sqrt(2 / math.Pi)
		for i, v := range x {
			f := float64(v)
			x[i] = float32(0.5 * f * (1 + math.Tanh(c*(f+0.044715*f*f*f))))
		}
	case ActQuickGELU:
		for i, v := range x {
			x[i] = float32(float64(v) / (1 + math.Exp(-1.702*float64(v))))
		}
	case ActReLU:
		for i, v := range x {
			if v < 0 {
				x[i] = 0
			}
		}
	default:
		panic("kernel: unknown activation " + act)
	}
}

// Add sets y[i] = a[i] + b[i].
func Add(y, a, b []float32) {
	b = b[:len(a)]
	y = y[:len(a)]
	for i := range a {
		y[i] = a[i] + b[i]
	}
}

// softmaxRow turns x[:n] into probabilities in place; x[n:] is set to zero (masked).
func softmaxRow(x []float32, n int) {
	mx := float32(math.Inf(-1))
	for _, v := range x[:n] {
		mx = max(mx, v)
	}
	var sum float64
	for i, v := range x[:n] {
		e := float32(math.Exp(float64(v - mx)))
		x[i] = e
		sum += float64(e)
	}
	inv := float32(1 / sum)
	for i := range x[:n] {
		x[i] *= inv
	}
	clear(x[n:])
}

// AttentionScratch holds the buffers Attention reuses between calls.
type AttentionScratch struct {
	scores, vt []float32
}

func grow(s []float32, n int) []float32 {
	if cap(s) < n {
		return make([]float32, n)
	}
	return s[:n]
}

// Attention computes multi-head scaled dot-product attention:
// out_h = softmax(scale·Q_h·K_hᵀ + mask)·V_h for each of heads heads of size dh.
// q and out are m×(heads·dh); k and v are nk×(heads·dh), all with row stride heads·dh.
// The mask is a per-row prefix: query row i sees keys [0, visible(i)), where
// visible(i) = nk when causalStart < 0, else min(nk, causalStart+i+1). GIT needs no
// other shape: image rows see exactly the image keys, and a text row at absolute
// position p sees every image key and the text keys up to p.
func Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causalStart int, s *AttentionScratch) {
	d := heads * dh
	s.scores = grow(s.scores, m*nk)
	s.vt = grow(s.vt, dh*nk)
	sc, vt := s.scores, s.vt
	for h := 0; h < heads; h++ {
		off := h * dh
		GemmNT(m, nk, dh, q[off:], d, k[off:], d, sc, nk)
		for i := 0; i < m; i++ {
			vis := nk
			if causalStart >= 0 {
				vis = min(nk, causalStart+i+1)
			}
			row := sc[i*nk : (i+1)*nk]
			for j := range row[:vis] {
				row[j] *= scale
			}
			softmaxRow(row, vis)
		}
		for j := 0; j < nk; j++ {
			vr := v[j*d+off : j*d+off+dh]
			for c, x := range vr {
				vt[c*nk+j] = x
			}
		}
		GemmNT(m, dh, nk, sc, nk, vt, nk, out[off:], d)
	}
}

// Slice returns rows [r0, r1) and columns [c0, c1) of w: a view of w when it takes
// whole rows, a copy otherwise. For int8 weights with groups, c0 and c1 must fall on
// group boundaries (or span the whole row).
func (w *Matrix) Slice(r0, r1, c0, c1 int) *Matrix {
	out := &Matrix{Rows: r1 - r0, Cols: c1 - c0, Group: w.Group}
	if c0 == 0 && c1 == w.Cols { // whole rows: a view, no copy
		groups := (w.Cols + w.Group - 1) / max(w.Group, 1)
		if !w.Quantized() {
			out.F32 = w.F32[r0*w.Cols : r1*w.Cols : r1*w.Cols]
		} else {
			out.Q8 = w.Q8[r0*w.Cols : r1*w.Cols : r1*w.Cols]
			out.Scales = w.Scales[r0*groups : r1*groups : r1*groups]
		}
		return out
	}
	if !w.Quantized() {
		out.F32 = make([]float32, out.Rows*out.Cols)
		for r := r0; r < r1; r++ {
			copy(out.F32[(r-r0)*out.Cols:], w.F32[r*w.Cols+c0:r*w.Cols+c1])
		}
		return out
	}
	out.Q8 = make([]int8, out.Rows*out.Cols)
	for r := r0; r < r1; r++ {
		copy(out.Q8[(r-r0)*out.Cols:], w.Q8[r*w.Cols+c0:r*w.Cols+c1])
	}
	groups := (w.Cols + w.Group - 1) / w.Group
	g0, g1 := 0, groups
	if w.Group < w.Cols {
		g0, g1 = c0/w.Group, (c1+w.Group-1)/w.Group
	} else {
		out.Group = out.Cols // one scale per row, whatever the width
	}
	out.Scales = make([]float32, out.Rows*(g1-g0))
	for r := r0; r < r1; r++ {
		copy(out.Scales[(r-r0)*(g1-g0):], w.Scales[r*groups+g0:r*groups+g1])
	}
	return out
}
