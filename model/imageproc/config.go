// Package imageproc turns a picture into GIT's pixel_values exactly as transformers'
// CLIPImageProcessor does: convert to RGB (alpha dropped, not composited), resize with
// Pillow's fixed-point resampler (shortest edge, BICUBIC by default), center crop,
// rescale and normalise into CHW float32.
package imageproc

import (
	"encoding/json"
	"fmt"
	"math"
)

// Config mirrors preprocessor_config.json (CLIPImageProcessor, or the older
// CLIPFeatureExtractor spelling where size and crop_size are plain integers).
type Config struct {
	DoResize      bool
	ShortestEdge  int // resize the short side to this, keeping the aspect ratio...
	ResizeH       int // ...or, when ShortestEdge is 0, to exactly ResizeH×ResizeW
	ResizeW       int
	Resample      int // PIL resampling filter number
	DoCenterCrop  bool
	CropH, CropW  int
	DoRescale     bool
	RescaleFactor float64
	DoNormalize   bool
	Mean, Std     [3]float32
}

// Pillow's resampling filter numbers.
const (
	Nearest  = 0
	Lanczos  = 1
	Bilinear = 2
	Bicubic  = 3
	Box      = 4
	Hamming  = 5
)

// OpenAI CLIP's normalisation, the processor's default.
var (
	clipMean = [3]float32{0.48145466, 0.4578275, 0.40821073}
	clipStd  = [3]float32{0.26862954, 0.26130258, 0.27577711}
)

// ParseConfig reads preprocessor_config.json content.
func ParseConfig(data []byte) (Config, error) {
	var raw struct {
		DoResize      *bool           `json:"do_resize"`
		Size          json.RawMessage `json:"size"`
		Resample      *int            `json:"resample"`
		DoCenterCrop  *bool           `json:"do_center_crop"`
		CropSize      json.RawMessage `json:"crop_size"`
		DoRescale     *bool           `json:"do_rescale"`
		RescaleFactor *float64        `json:"rescale_factor"`
		DoNormalize   *bool           `json:"do_normalize"`
		ImageMean     []float64       `json:"image_mean"`
		ImageStd      []float64       `json:"image_std"`
		DoConvertRGB  *bool           `json:"do_convert_rgb"`
	}
	if err := json.Unmarshal(data, &raw); err != nil {
		return Config{}, fmt.Errorf("preprocessor_config.json: %w", err)
	}
	c := Config{DoResize: true, ShortestEdge: 224, Resample: Bicubic, DoCenterCrop: true, CropH: 224, CropW: 224,
		DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: clipMean, Std: clipStd}
	setBool := func(dst *bool, v *bool) {
		if v != nil {
			*dst = *v
		}
	}
	setBool(&c.DoResize, raw.DoResize)
	setBool(&c.DoCenterCrop, raw.DoCenterCrop)
	setBool(&c.DoRescale, raw.DoRescale)
	setBool(&c.DoNormalize, raw.DoNormalize)
	if raw.DoConvertRGB != nil && !*raw.DoConvertRGB {
		return Config{}, fmt.Errorf("preprocessor_config.json: do_convert_rgb=false is not supported")
	}
	if raw.Resample != nil {
		c.Resample = *raw.Resample
	}
	if raw.RescaleFactor != nil {
		c.RescaleFactor = *raw.RescaleFactor
	}
	if len(raw.Size) > 0 && string(raw.Size) != "null" {
		var n int
		var d map[string]int
		switch {
		case json.Unmarshal(raw.Size, &n) == nil:
			c.ShortestEdge = n // CLIP reads a bare int as the shortest edge
		case json.Unmarshal(raw.Size, &d) == nil:
			if se, ok := d["shortest_edge"]; ok {
				c.ShortestEdge = se
			} else if h, w := d["height"], d["width"]; h > 0 && w > 0 {
				c.ShortestEdge, c.ResizeH, c.ResizeW = 0, h, w
			} else {
				return Config{}, fmt.Errorf("preprocessor_config.json: size %s has neither shortest_edge nor height and width", raw.Size)
			}
		default:
			return Config{}, fmt.Errorf("preprocessor_config.json: cannot read size %s", raw.Size)
		}
	}
	if len(raw.CropSize) > 0 && string(raw.CropSize) != "null" {
		var n int
		var d map[string]int
		switch {
		case json.Unmarshal(raw.CropSize, &n) == nil:
			c.CropH, c.CropW = n, n
		case json.Unmarshal(raw.CropSize, &d) == nil:
			c.CropH, c.CropW = d["height"], d["width"]
		default:
			return Config{}, fmt.Errorf("preprocessor_config.json: cannot read crop_size %s", raw.CropSize)
		}
	}
	for i, v := range raw.ImageMean {
		if i < 3 {
			c.Mean[i] = float32(v)
		}
	}
	for i, v := range raw.ImageStd {
		if i < 3 {
			c.Std[i] = float32(v)
		}
	}
	if raw.ImageMean != nil && len(raw.ImageMean) != 3 || raw.ImageStd != nil && len(raw.ImageStd) != 3 {
		return Config{}, fmt.Errorf("preprocessor_config.json: image_mean and image_std need 3 values")
	}
	if err := c.Validate(); err != nil {
		return Config{}, fmt.Errorf("preprocessor_config.json: %w", err)
	}
	return c, nil
}

// Validate rejects settings this package cannot reproduce.
func (c *Config) Validate() error {
	if _, ok := filters[c.Resample]; !ok {
		return fmt.Errorf("resample=%d is not supported (Pillow filters 1-5 are)", c.Resample)
	}
	if c.DoResize && c.ShortestEdge <= 0 && (c.ResizeH <= 0 || c.ResizeW <= 0) {
		return fmt.Errorf("resize size must be positive")
	}
	if c.DoCenterCrop && (c.CropH <= 0 || c.CropW <= 0) {
		return fmt.Errorf("crop_size must be positive")
	}
	// Pixels are 0..255 times rescale_factor; a mean or std far outside what any model
	// uses would turn them into infinities (or answers of nothing but [PAD]).
	if c.DoRescale && !(c.RescaleFactor > 1e-6 && c.RescaleFactor <= 1) {
		return fmt.Errorf("rescale_factor %g is out of range (0, 1]", c.RescaleFactor)
	}
	for i := 0; i < 3; i++ {
		if c.DoNormalize && !(math.Abs(float64(c.Std[i])) >= 1e-3 && math.Abs(float64(c.Std[i])) <= 1e3) {
			return fmt.Errorf("image_std[%d] = %g is out of range (1e-3 to 1e3)", i, c.Std[i])
		}
		if c.DoNormalize && !(math.Abs(float64(c.Mean[i])) <= 1e3) {
			return fmt.Errorf("image_mean[%d] = %g is out of range", i, c.Mean[i])
		}
	}
	return nil
}

// OutputSize is the height and width of pixel_values for an image of w×h.
func (c *Config) OutputSize(w, h int) (int, int) {
	if c.DoResize {
		w, h = c.resizedSize(w, h)
	}
	if c.DoCenterCrop {
		return c.CropH, c.CropW
	}
	return h, w
}

// resizedSize is transformers' get_resize_output_image_size (default_to_square=False).
func (c *Config) resizedSize(w, h int) (int, int) {
	if c.ShortestEdge <= 0 {
		return c.ResizeW, c.ResizeH
	}
	short, long := w, h
	if w > h {
		short, long = h, w
	}
	if short == c.ShortestEdge {
		return w, h
	}
	newShort, newLong := c.ShortestEdge, int(float64(c.ShortestEdge*long)/float64(short))
	if w <= h {
		return newShort, newLong
	}
	return newLong, newShort
}

// CLIP is CLIPImageProcessor's preprocessing at size pixels (GIT's checkpoints differ only
// in it): the short side resized to size with bicubic resampling, a size×size centre crop,
// rescaled to [0, 1] and normalised with CLIP's mean and std.
func CLIP(size int) Config {
	return Config{DoResize: true, ShortestEdge: size, Resample: Bicubic, DoCenterCrop: true, CropH: size, CropW: size,
		DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: clipMean, Std: clipStd}
}
