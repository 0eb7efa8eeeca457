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
	if err := checkSize(img.W, img.H); err != nil {
		return nil, err
	}
	if len(img.Pix) != 3*img.W*img.H {
		return nil, fmt.Errorf("RGB buffer holds %d bytes, %d×%d needs %d", len(img.Pix), img.W, img.H, 3*img.W*img.H)
	}
	w, h := img.W, img.H
	if c.DoResize {
		w, h = c.resizedSize(img.W, img.H)
		if w <= 0 || h <= 0 {
			return nil, fmt.Errorf("image of %d×%d resizes to nothing", img.W, img.H)
		}
	}
	// The crop window in resized coordinates, and where it lands in the output
	// (transformers pads with zeros when the image is smaller than the crop).
	outH, outW := h, w
	if c.DoCenterCrop {
		outH, outW = c.CropH, c.CropW
	}
	top, left := floorDiv(h-outH, 2), floorDiv(w-outW, 2)
	y0, y1 := max(0, top), min(h, top+outH)
	x0, x1 := max(0, left), min(w, left+outW)
	win := resizeWindow(img.Pix, img.W, img.H, w, h, x0, y0, x1-x0, y1-y0, filters[c.Resample])
	cropped := &RGB{W: outW, H: outH, Pix: make([]uint8, 3*outW*outH)}
	for y := y0; y < y1; y++ {
		dst := cropped.Pix[((y-top)*outW+(x0-left))*3:]
		copy(dst[:(x1-x0)*3], win[(y-y0)*(x1-x0)*3:(y-y0+1)*(x1-x0)*3])
	}
	return &Result{Cropped: cropped, Pixels: c.normalize(cropped)}, nil
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
