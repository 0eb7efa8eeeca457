//go:build js && wasm

// Package browserimage decodes pictures with the browser's own decoders
// (createImageBitmap): faster than Go's for JPEG, and the only ones for what Go cannot
// read (AVIF, HEIC in Safari, animated WebP). The pixels stay in an OffscreenCanvas
// and are read back a strip of rows at a time, so a 12-megapixel photo never sits
// whole in Go's memory (which never shrinks).
package browserimage

import (
	"context"
	"fmt"

	"github.com/hack-pad/safejs"

	"gitvqa/web/jsutil"
)

// Picture is a decoded picture held by the browser.
type Picture struct {
	w, h   int
	canvas safejs.Value
	ctx    safejs.Value // the canvas's 2D context
}

// Decode decodes an encoded picture of the given MIME type ("" lets the browser sniff).
// Colours are taken as stored (no colour-profile conversion, as Pillow does) and alpha
// is not premultiplied; EXIF orientation is applied, as the browser shows the picture.
func Decode(ctx context.Context, data []byte, mime string) (*Picture, error) {
	g := safejs.Global()
	if create, err := g.Get("createImageBitmap"); err != nil || create.IsUndefined() {
		return nil, fmt.Errorf("this browser has no createImageBitmap")
	}
	u8, err := jsutil.Uint8Array(data)
	if err != nil {
		return nil, err
	}
	arrayC, err := g.Get("Array")
	if err != nil {
		return nil, err
	}
	parts, err := arrayC.Call("of", u8)
	if err != nil {
		return nil, err
	}
	opts, err := safejs.ValueOf(map[string]any{"type": mime})
	if err != nil {
		return nil, err
	}
	blobC, err := g.Get("Blob")
	if err != nil {
		return nil, err
	}
	blob, err := blobC.New(parts, opts)
	if err != nil {
		return nil, err
	}
	bitmapOpts, err := safejs.ValueOf(map[string]any{"premultiplyAlpha": "none", "colorSpaceConversion": "none"})
	if err != nil {
		return nil, err
	}
	p, err := g.Call("createImageBitmap", blob, bitmapOpts)
	if err != nil {
		return nil, err
	}
	bitmap, err := jsutil.Await(ctx, p)
	if err != nil {
		return nil, err
	}
	defer bitmap.Call("close")
	w, err := intProp(bitmap, "width")
	if err != nil {
		return nil, err
	}
	h, err := intProp(bitmap, "height")
	if err != nil {
		return nil, err
	}
	if w <= 0 || h <= 0 {
		return &Picture{w: w, h: h}, nil // imageproc names the empty picture
	}
	canvasC, err := g.Get("OffscreenCanvas")
	if err != nil || canvasC.IsUndefined() {
		return nil, fmt.Errorf("this browser has no OffscreenCanvas")
	}
	canvas, err := canvasC.New(w, h)
	if err != nil {
		return nil, err
	}
	// willReadFrequently keeps the canvas in memory rather than on the GPU: reading
	// strips back is then a copy, not a GPU readback each.
	ctxOpts, err := safejs.ValueOf(map[string]any{"willReadFrequently": true})
	if err != nil {
		return nil, err
	}
	c2d, err := canvas.Call("getContext", "2d", ctxOpts)
	if err != nil || c2d.IsNull() || c2d.IsUndefined() {
		return nil, fmt.Errorf("no 2D canvas for a %d×%d picture", w, h)
	}
	if _, err := c2d.Call("drawImage", bitmap, 0, 0); err != nil {
		return nil, err
	}
	return &Picture{w: w, h: h, canvas: canvas, ctx: c2d}, nil
}

// Size is the picture's width and height.
func (p *Picture) Size() (int, int) { return p.w, p.h }

// ReadRows copies rows y0 to y0+n-1 into dst as RGBA, 4 bytes a pixel.
func (p *Picture) ReadRows(y0, n int, dst []byte) error {
	img, err := p.ctx.Call("getImageData", 0, y0, p.w, n)
	if err != nil {
		return err
	}
	data, err := img.Get("data")
	if err != nil {
		return err
	}
	if got, err := safejs.CopyBytesToGo(dst, data); err != nil || got != len(dst) {
		return fmt.Errorf("read %d of %d bytes of rows %d+%d: %v", got, len(dst), y0, n, err)
	}
	return nil
}

// Close lets the browser free the pixels now rather than when it collects the canvas.
func (p *Picture) Close() {
	if ok, _ := p.canvas.Truthy(); ok {
		p.canvas.Set("width", 0)
		p.canvas.Set("height", 0)
	}
}

func intProp(v safejs.Value, name string) (int, error) {
	x, err := v.Get(name)
	if err != nil {
		return 0, err
	}
	return x.Int()
}
