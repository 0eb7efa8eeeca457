package worker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"image"
	"time"

	"gitvqa/model/imageproc"
	"gitvqa/web/protocol"
)

// A question's picture becomes pixel values here: from the recent pictures when the
// same bytes (or canvas pixels) come again, else decoded and preprocessed a row at a
// time. PNG, GIF, BMP and still WebP are decoded in Go (Pillow-exact); JPEG, and what
// Go cannot read (AVIF, HEIC, animated WebP), by the browser (DecodePicture), then
// resampled in Go exactly as Pillow resamples.

// Picture is a picture decoded by the browser, read a strip of rows at a time.
type Picture interface {
	Size() (w, h int)
	ReadRows(y0, n int, dst []byte) error
	Close()
}

// pictureCacheSize is how many recent pictures keep their pixel values (as many as
// the session keeps image states for).
const pictureCacheSize = 2

type pictureKey struct {
	sum    uint64
	n      int
	w, h   int
	config *imageproc.Config
}

type cachedPicture struct {
	key pictureKey
	res *imageproc.Result
}

// prepared is a picture's pixel values and how they were had.
type prepared struct {
	res       *imageproc.Result
	ms        float64
	cached    bool
	decodedBy string // "go" or "browser"; "" when cached
}

var pictureSeed = maphash.MakeSeed()

func keyOf(c *imageproc.Config, im *protocol.Image) pictureKey {
	if im.Bytes != nil {
		return pictureKey{sum: maphash.Bytes(pictureSeed, im.Bytes), n: len(im.Bytes), config: c}
	}
	return pictureKey{sum: maphash.Bytes(pictureSeed, im.RGBA), n: len(im.RGBA), w: im.Width, h: im.Height, config: c}
}

// prepare turns an ask's picture into pixel values (only the answering goroutine
// calls it).
func (w *Worker) prepare(ctx context.Context, c *imageproc.Config, fast imageproc.RowResampler, im *protocol.Image) (prepared, error) {
	start := time.Now()
	if im == nil {
		return prepared{}, errors.New("no image")
	}
	key := keyOf(c, im)
	for i, p := range w.pictures {
		if p.key == key {
			w.pictures = append(append(w.pictures[:i:i], w.pictures[i+1:]...), p) // most recent last
			return prepared{res: p.res, cached: true, ms: ms(time.Since(start))}, nil
		}
	}
	res, by, err := w.decode(ctx, c, fast, im)
	if err != nil {
		return prepared{}, err
	}
	w.pictures = append(w.pictures, cachedPicture{key: key, res: res})
	if len(w.pictures) > pictureCacheSize {
		w.pictures = w.pictures[1:]
	}
	return prepared{res: res, decodedBy: by, ms: ms(time.Since(start))}, nil
}

func (w *Worker) decode(ctx context.Context, c *imageproc.Config, fast imageproc.RowResampler, im *protocol.Image) (*imageproc.Result, string, error) {
	if im.Bytes == nil {
		res, err := c.PreprocessRGBA(im.Width, im.Height, im.RGBA, fast)
		return res, "go", err
	}
	if w.DecodePicture == nil {
		res, err := c.PreprocessFile(im.Bytes)
		return res, "go", err
	}
	if isJPEG(im.Bytes) {
		// Go reads the header first: the size limit holds before anything is decoded.
		// (Those it cannot read, arithmetic-coded say, are the browser's to judge.)
		if cfg, _, err := image.DecodeConfig(bytes.NewReader(im.Bytes)); err == nil {
			if err := imageproc.CheckSize(cfg.Width, cfg.Height); err != nil {
				return nil, "", err
			}
		}
		res, err := w.browserDecode(ctx, c, fast, im)
		return res, "browser", err
	}
	res, goErr := c.PreprocessFile(im.Bytes)
	if goErr == nil || !(errors.Is(goErr, image.ErrFormat) || errors.Is(goErr, imageproc.ErrUnsupported)) {
		return res, "go", goErr
	}
	res, err := w.browserDecode(ctx, c, fast, im)
	if err != nil {
		return nil, "", fmt.Errorf("%w; the browser could not decode it either (%v)", goErr, err)
	}
	return res, "browser", nil
}

func (w *Worker) browserDecode(ctx context.Context, c *imageproc.Config, fast imageproc.RowResampler, im *protocol.Image) (*imageproc.Result, error) {
	p, err := w.DecodePicture(ctx, im.Bytes, im.Type)
	if err != nil {
		return nil, err
	}
	defer p.Close()
	pw, ph := p.Size()
	return c.PreprocessStrips(pw, ph, p.ReadRows, fast)
}

func isJPEG(b []byte) bool { return len(b) > 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF }
