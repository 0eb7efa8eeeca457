package imageproc

import "math"

// A port of Pillow 9's Resample.c (ImagingResample for 8-bit RGB): a separable
// convolution whose weights are computed in float64, normalised and then rounded to
// 22-bit fixed point, horizontal pass first. Every rounding step is kept so the
// output equals Pillow's byte for byte. Products that Pillow rounds separately are
// wrapped in float64() so the Go compiler cannot fuse them into FMAs.

type filter struct {
	fn      func(x float64) float64
	support float64
}

var filters = map[int]filter{
	Box:      {boxFilter, 0.5},
	Bilinear: {bilinearFilter, 1},
	Hamming:  {hammingFilter, 1},
	Bicubic:  {bicubicFilter, 2},
	Lanczos:  {lanczosFilter, 3},
}

func boxFilter(x float64) float64 {
	if x > -0.5 && x <= 0.5 {
		return 1
	}
	return 0
}

func bilinearFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return 1 - x
	}
	return 0
}

func hammingFilter(x float64) float64 {
	if x < 0 {
		x = -x
	}
	if x == 0 {
		return 1
	}
	if x >= 1 {
		return 0
	}
	x = x * math.Pi
	return math.Sin(x) / x * float64(0.54+float64(0.46*math.Cos(x)))
}

func bicubicFilter(x float64) float64 {
	const a = -0.5
	if x < 0 {
		x = -x
	}
	if x < 1 {
		return float64(float64(float64((a+2)*x)-(a+3))*x)*x + 1
	}
	if x < 2 {
		return float64(float64(float64(float64((x-5)*x)+8)*x)-4) * a
	}
	return 0
}

func sinc(x float64) float64 {
	if x == 0 {
		return 1
	}
	x = x * math.Pi
	return math.Sin(x) / x
}

func lanczosFilter(x float64) float64 {
	if -3 <= x && x < 3 {
		return sinc(x) * sinc(x/3)
	}
	return 0
}

const precisionBits = 32 - 8 - 2

// coeffs holds, for each output pixel, the first input pixel it reads and its
// fixed-point weights.
type coeffs struct {
	ksize  int
	bounds []int   // per output: xmin, count
	kk     []int32 // per output: ksize weights
}

// precomputeCoeffs is precompute_coeffs + normalize_coeffs_8bpc for the output
// pixels [from, to) of a resize of inSize pixels to outSize.
func precomputeCoeffs(inSize, outSize, from, to int, f filter) coeffs {
	scale := float64(inSize) / float64(outSize) // (in1 - in0) / outSize with box (0, inSize)
	filterscale := scale
	if filterscale < 1 {
		filterscale = 1
	}
	support := f.support * filterscale
	ksize := int(math.Ceil(support))*2 + 1
	n := to - from
	c := coeffs{ksize: ksize, bounds: make([]int, 2*n), kk: make([]int32, n*ksize)}
	k := make([]float64, ksize)
	for xx := from; xx < to; xx++ {
		center := float64(float64(xx)+0.5) * scale
		ww := 0.0
		ss := 1.0 / filterscale
		xmin := int(center - support + 0.5)
		if xmin < 0 {
			xmin = 0
		}
		xmax := int(center + support + 0.5)
		if xmax > inSize {
			xmax = inSize
		}
		xmax -= xmin
		for x := 0; x < xmax; x++ {
			w := f.fn(float64(float64(x+xmin)-center+0.5) * ss)
			k[x] = w
			ww += w
		}
		for x := 0; x < xmax; x++ {
			if ww != 0 {
				k[x] /= ww
			}
		}
		i := xx - from
		for x := 0; x < ksize; x++ {
			v := 0.0
			if x < xmax {
				v = k[x]
			}
			if v < 0 {
				c.kk[i*ksize+x] = int32(-0.5 + v*(1<<precisionBits))
			} else {
				c.kk[i*ksize+x] = int32(0.5 + v*(1<<precisionBits))
			}
		}
		c.bounds[2*i], c.bounds[2*i+1] = xmin, xmax
	}
	return c
}

func clip8(v int32) uint8 {
	v >>= precisionBits
	if v < 0 {
		return 0
	}
	if v > 255 {
		return 255
	}
	return uint8(v)
}
