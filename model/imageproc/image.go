package imageproc

import (
	"bytes"
	"errors"
	"fmt"
	"image"
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

// CheckSize refuses empty, negative and oversized (MaxPixels) pictures.
func CheckSize(w, h int) error {
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
	if err := CheckSize(w, h); err != nil {
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
	if err := CheckSize(cfg.Width, cfg.Height); err != nil {
		return nil, err
	}
	m, err := decodeWhole(data, format)
	if err != nil {
		return nil, err
	}
	return toRGB(m)
}

// decodeWhole decodes a picture whose header was read (size checked) with the
// registered decoder.
func decodeWhole(data []byte, format string) (m image.Image, err error) {
	defer func() {
		if r := recover(); r != nil {
			m, err = nil, fmt.Errorf("image decoder failed: %v", r)
		}
	}()
	m, _, err = image.Decode(bytes.NewReader(data))
	if err != nil {
		if format == "webp" && animatedWebP(data) {
			return nil, fmt.Errorf("%w: an animated WebP (pass one frame, as a canvas or ImageBitmap, instead)", ErrUnsupported)
		}
		return nil, fmt.Errorf("corrupt %s image: %w", format, err)
	}
	return m, nil
}

// ErrUnsupported is wrapped by the errors of valid pictures this decoder cannot read.
var ErrUnsupported = errors.New("unsupported picture")

// animatedWebP reports whether a WebP file's VP8X header has its animation flag set.
func animatedWebP(b []byte) bool {
	return len(b) >= 21 && string(b[0:4]) == "RIFF" && string(b[8:12]) == "WEBP" && string(b[12:16]) == "VP8X" && b[20]&0x02 != 0
}

// toRGB converts a whole decoded picture (see rowConverter).
func toRGB(m image.Image) (*RGB, error) {
	b := m.Bounds()
	w, h := b.Dx(), b.Dy()
	if err := CheckSize(w, h); err != nil {
		return nil, err
	}
	out := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
	var conv rowConverter
	err := conv.rows(m, func(y int, rgb []uint8) { copy(out.Pix[3*w*y:], rgb) })
	return out, err
}
