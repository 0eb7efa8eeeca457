package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	_ "image/gif" // registered decoders: what a browser hands over as a file
	_ "image/jpeg"
	_ "image/png"

	_ "golang.org/x/image/bmp"
	_ "golang.org/x/image/webp"
)

// MaxPixels bounds the pictures accepted (64 megapixels): decoding one costs 4 bytes a
// pixel, and a browser tab has a few GiB.
const MaxPixels = 64 << 20

// ErrEmptyImage is returned for a picture with no pixels.
var ErrEmptyImage = errors.New("image has no pixels (0×0)")

// RGB is a packed 8-bit RGB picture, row-major, 3 bytes a pixel: Pillow's "RGB" mode.
type RGB struct {
	W, H int
	Pix  []uint8
}

func checkSize(w, h int) error {
	if w <= 0 || h <= 0 {
		if w == 0 || h == 0 {
			return fmt.Errorf("%w: %d×%d", ErrEmptyImage, w, h)
		}
		return fmt.Errorf("image size %d×%d is invalid", w, h)
	}
	if int64(w)*int64(h) > MaxPixels {
		return fmt.Errorf("image of %d×%d pixels is too large (at most %d megapixels)", w, h, MaxPixels>>20)
	}
	return nil
}

// FromRGBA takes canvas pixels (getImageData: RGBA, 4 bytes a pixel) and drops alpha,
// as Pillow's convert("RGB") does. Canvas colours are premultiplied by the browser, so
// fully transparent pixels arrive black; send files as bytes (Decode) to avoid that.
func FromRGBA(w, h int, rgba []byte) (*RGB, error) {
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	if len(rgba) != 4*w*h {
		return nil, fmt.Errorf("RGBA buffer holds %d bytes, %d×%d needs %d", len(rgba), w, h, 4*w*h)
	}
	img := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	for i := 0; i < w*h; i++ {
		copy(img.Pix[3*i:3*i+3], rgba[4*i:4*i+3])
	}
	return img, nil
}

// Decode reads a PNG, JPEG, GIF (first frame), BMP or WebP file and converts it to
// RGB the way Pillow's convert("RGB") does: grey replicated, palette looked up, alpha
// dropped without compositing. 16-bit samples keep their high byte. JPEG and WebP
// pixels can differ from libjpeg's/libwebp's by a level here and there (different
// IDCT and chroma upsampling); PNG, GIF and BMP are exact.
func Decode(data []byte) (img *RGB, err error) {
	defer func() {
		if r := recover(); r != nil {
			img, err = nil, fmt.Errorf("image decoder failed: %v", r)
		}
	}()
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, fmt.Errorf("not a readable image (PNG, JPEG, GIF, BMP or WebP): %w", err)
	}
	if err := checkSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	m, _, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		if format == "webp" && animatedWebP(data) {
			return nil, fmt.Errorf("%w: an animated WebP (pass one frame, as a canvas or ImageBitmap, instead)", ErrUnsupported)
		}
		return nil, fmt.Errorf("corrupt %s image: %w", format, err)
	}
	return toRGB(m)
}

// ErrUnsupported is wrapped by the errors of valid pictures this decoder cannot read.
var ErrUnsupported = errors.New("unsupported picture")

// animatedWebP reports whether a WebP file's VP8X header has its animation flag set.
func animatedWebP(b []byte) bool {
	return len(b) >= 21 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP" && string(b[12:16]) == "VP8X" && b[20]&0x02 != 0
}

func toRGB(m image.Image) (*RGB, error) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	if err := checkSize(w, h); err != nil {
		return nil, err
	}
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	put := func(i int, r, g, bl uint8) { out.Pix[3*i], out.Pix[3*i+1], out.Pix[3*i+2] = r, g, bl }
	switch s := m.(type) {
	case *image.Gray:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				v := s.Pix[y*s.Stride+x]
				put(y*w+x, v, v, v)
			}
		}
	case *image.NRGBA:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := s.Pix[y*s.Stride+4*x:]
				put(y*w+x, p[0], p[1], p[2])
			}
		}
	case *image.RGBA:
		// Go decodes opaque PNGs to RGBA; its colours are only premultiplied where
		// alpha < 255, which NRGBA undoes as well as it can.
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				p := s.Pix[y*s.Stride+4*x:]
				if p[3] == 255 {
					put(y*w+x, p[0], p[1], p[2])
				} else {
					c := color.NRGBAModel.Convert(color.RGBA{p[0], p[1], p[2], p[3]}).(color.NRGBA)
					put(y*w+x, c.R, c.G, c.B)
				}
			}
		}
	case *image.Paletted:
		pal := make([][3]uint8, len(s.Palette))
		for i, c := range s.Palette {
			n := color.NRGBAModel.Convert(c).(color.NRGBA)
			if rc, ok := c.(color.RGBA); ok && rc.A == 255 {
				n = color.NRGBA{rc.R, rc.G, rc.B, 255}
			}
			pal[i] = [3]uint8{n.R, n.G, n.B}
		}
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				idx := int(s.Pix[y*s.Stride+x])
				if idx >= len(pal) {
					return nil, fmt.Errorf("palette index %d outside a palette of %d colours", idx, len(pal))
				}
				p := pal[idx]
				put(y*w+x, p[0], p[1], p[2])
			}
		}
	default:
		for y := 0; y < h; y++ {
			for x := 0; x < w; x++ {
				c := color.NRGBA64Model.Convert(m.At(b.Min.X+x, b.Min.Y+y)).(color.NRGBA64)
				put(y*w+x, uint8(c.R>>8), uint8(c.G>>8), uint8(c.B>>8))
			}
		}
	}
	return out, nil
}
