package imageproc

import "fmt"

// Result is a preprocessed picture.
type Result struct {
	// Cropped is the picture after RGB conversion, resize and crop, before rescale:
	// HWC uint8 (the fixtures' preprocessed_uint8).
	Cropped *RGB
	// Pixels is pixel_values without the batch axis: CHW float32, 3×H×W.
	Pixels []float32
}

// Preprocess runs the processor's steps on img.
func (c *Config) Preprocess(img *RGB) (*Result, error) {
	if err := CheckSize(img.W, img.H); err != nil {
		return nil, err
	}
	if len(img.Pix) != 3*img.W*img.H {
		return nil, fmt.Errorf("RGB buffer holds %d bytes, %d×%d needs %d", len(img.Pix), img.W, img.H, 3*img.W*img.H)
	}
	s, err := c.newStream(img.W, img.H)
	if err != nil {
		return nil, err
	}
	for y := 0; y < img.H; y++ {
		s.row(y, img.Pix[3*img.W*y:3*img.W*(y+1)])
	}
	return s.finish()
}

func floorDiv(a, b int) int {
	q := a / b
	if (a%b != 0) && ((a < 0) != (b < 0)) {
		q--
	}
	return q
}

// normalize is rescale (x·factor in float64, stored as float32) then
// (x − mean)/std in float32, HWC → CHW, as transformers 4.27 computes it.
func (c *Config) normalize(img *RGB) []float32 {
	n := img.W * img.H
	out := make([]float32, 3*n)
	var lut [3][256]float32
	for ch := 0; ch < 3; ch++ {
		for v := 0; v < 256; v++ {
			x := float32(v)
			if c.DoRescale {
				x = float32(float64(v) * c.RescaleFactor)
			}
			if c.DoNormalize {
				x = (x - c.Mean[ch]) / c.Std[ch]
			}
			lut[ch][v] = x
		}
	}
	for i := 0; i < n; i++ {
		for ch := 0; ch < 3; ch++ {
			out[ch*n+i] = lut[ch][img.Pix[3*i+ch]]
		}
	}
	return out
}
