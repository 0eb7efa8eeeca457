package worker

import (
	"bytes"
	"context"
	"errors"
	"image"
	"image/draw"
	"image/jpeg"
	"strings"
	"sync/atomic"
	"testing"

	"gitvqa/web/internal/fakenet"
	"gitvqa/web/protocol"
)

// goPicture stands in for the browser's decoder: Go's decoders, whole, as RGBA.
type goPicture struct{ m *image.RGBA }

func (p goPicture) Size() (int, int) { return p.m.Rect.Dx(), p.m.Rect.Dy() }
func (p goPicture) ReadRows(y0, n int, dst []byte) error {
	copy(dst, p.m.Pix[y0*p.m.Stride:(y0+n)*p.m.Stride])
	return nil
}
func (goPicture) Close() {}

// avifStandIn is what the fake browser decoder reads and Go does not: a JPEG behind a
// made-up header.
var avifStandIn = []byte("\x00\x00\x00\x1cftypavif")

func fakeBrowserDecoder(calls *atomic.Int32) func(context.Context, []byte, string) (Picture, error) {
	return func(_ context.Context, data []byte, _ string) (Picture, error) {
		calls.Add(1)
		data = bytes.TrimPrefix(data, avifStandIn)
		m, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, errors.New("EncodingError: the source image cannot be decoded")
		}
		rgba := image.NewRGBA(m.Bounds())
		draw.Draw(rgba, rgba.Rect, m, m.Bounds().Min, draw.Src)
		return goPicture{rgba}, nil
	}
}

// A second question about the same picture (the same bytes, in a new buffer, as a new
// ask(file) sends them) does not decode or resize it again; JPEG and what Go cannot
// read go to the browser's decoder, PNG stays in Go; the recent pictures are bounded.
func TestSecondQuestionAboutAPictureSkipsDecoding(t *testing.T) {
	var calls atomic.Int32
	h := newHarness(&fakenet.Network{Files: tinyFolder(t)}, nil)
	h.w.DecodePicture = fakeBrowserDecoder(&calls)
	h.load(t, protocol.Load{})
	cases := fixtureCases(t)
	png := imageBytes(t, &cases[1])
	m, _, err := image.Decode(bytes.NewReader(png))
	if err != nil {
		t.Fatal(err)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
	id := 0
	ask := func(data []byte) protocol.Timings {
		t.Helper()
		id++
		h.w.Handle(protocol.Ask{ID: id, Image: &protocol.Image{Bytes: bytes.Clone(data)}, Question: "what is it?", MaxTokens: 2})
		return h.answer(t, id).Timings
	}
	steps := []struct {
		name      string
		data      []byte
		cached    bool
		decodedBy string
		calls     int32
	}{
		{"a JPEG", jpg.Bytes(), false, "browser", 1},
		{"the same JPEG again", jpg.Bytes(), true, "", 1},
		{"a PNG", png, false, "go", 1},
		{"the same PNG again", png, true, "", 1},
		{"the JPEG, still recent", jpg.Bytes(), true, "", 1},
		{"a format Go cannot read", append(bytes.Clone(avifStandIn), jpg.Bytes()...), false, "browser", 2},
		{"the PNG, now pushed out", png, false, "go", 2},
	}
	for _, s := range steps {
		tm := ask(s.data)
		if tm.PictureCached != s.cached || tm.DecodedBy != s.decodedBy || calls.Load() != s.calls {
			t.Errorf("%s: pictureCached %v, decodedBy %q, browser decodes %d; want %v, %q, %d",
				s.name, tm.PictureCached, tm.DecodedBy, calls.Load(), s.cached, s.decodedBy, s.calls)
		}
		if s.cached && !tm.ImageCached {
			t.Errorf("%s: the image encoder ran again", s.name)
		}
	}
	// Neither decoder reads it: the error names both.
	id++
	h.w.Handle(protocol.Ask{ID: id, Image: &protocol.Image{Bytes: []byte("not a picture at all")}, Question: "what?"})
	e, ok := h.until(t, id, "answer", "error").(protocol.Error)
	if !ok || e.Code != protocol.CodeBadImage || !strings.Contains(e.Message, "not a readable image") || !strings.Contains(e.Message, "the browser could not decode it either") {
		t.Errorf("unreadable bytes: %+v", e)
	}
	// Canvas pixels are recognised too.
	rgba := image.NewRGBA(m.Bounds())
	draw.Draw(rgba, rgba.Rect, m, m.Bounds().Min, draw.Src)
	for i, want := range []bool{false, true} {
		id++
		h.w.Handle(protocol.Ask{ID: id, Image: &protocol.Image{Width: rgba.Rect.Dx(), Height: rgba.Rect.Dy(), RGBA: bytes.Clone(rgba.Pix)}, Question: "what?", MaxTokens: 1})
		if got := h.answer(t, id).Timings.PictureCached; got != want {
			t.Errorf("canvas pixels, ask %d: pictureCached %v", i+1, got)
		}
	}
}
