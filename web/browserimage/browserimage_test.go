//go:build js && wasm

package browserimage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"os"
	"testing"
	"time"

	"github.com/hack-pad/safejs"

	"gitvqa/model/fixture"
	"gitvqa/model/imageproc"
	"gitvqa/web/jsutil"
)

// GIT-large's preprocessing (420 shortest edge, 420 centre crop, bicubic).
var git420, _ = imageproc.ParseConfig([]byte(`{"do_resize":true,"size":{"shortest_edge":420},"resample":3,` +
	`"do_center_crop":true,"crop_size":{"height":420,"width":420},"do_rescale":true,"rescale_factor":0.00392156862745098,` +
	`"do_normalize":true,"image_mean":[0.48145466,0.4578275,0.40821073],"image_std":[0.26862954,0.26130258,0.27577711]}`))

func browserPreprocess(t *testing.T, c *imageproc.Config, data []byte, mime string) *imageproc.Result {
	t.Helper()
	p, err := Decode(context.Background(), data, mime)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	w, h := p.Size()
	res, err := c.PreprocessStrips(w, h, p.ReadRows, nil)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// diff is the largest and the mean absolute difference of two pictures' levels.
func diff(a, b []uint8) (worst int, mean float64) {
	var sum int
	for i := range a {
		d := int(a[i]) - int(b[i])
		if d < 0 {
			d = -d
		}
		worst = max(worst, d)
		sum += d
	}
	return worst, float64(sum) / float64(len(a))
}

// The tolerance the README states for JPEG, after GIT's preprocessing: the browser's
// decoder (libjpeg-turbo: Pillow's, with its smooth chroma upsampling) against Go's
// (its own IDCT, chroma replicated). They differ most at sharp colour edges, where Go's
// replicated chroma is the further from the picture: so the browser's pixels are held
// to be no further from the original than Go's, and near Go's on average.
//
// Pictures of noise (one random colour a pixel, the fixture's tiny and palette cases)
// are where smooth and replicated chroma part most: there the bound is looser, and
// the browser's is not the closer to the original (nor would Pillow's be).
const (
	jpegMeanVsGo      = 3.0  // mean |browser − Go|, levels of 255
	jpegMeanMargin    = 0.5  // mean |browser − original| ≤ mean |Go − original| + this
	jpegMeanVsGoNoise = 10.0 // mean |browser − Go| on noise
)

// JPEG through the browser's decoder stays within the stated tolerance of Go's decoder
// for every fixture picture (noise, palettes and photographs, at quality 75 and 95,
// resized to GIT's 420 crop and to the fixture's 32).
func TestJPEGWithinToleranceOfGo(t *testing.T) {
	for _, c := range fixture.TinyCases(t) {
		data, err := os.ReadFile(c.Path(c.Image))
		if err != nil {
			t.Fatal(err)
		}
		m, _, err := image.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range []int{75, 95} {
			var jpg bytes.Buffer
			if err := jpeg.Encode(&jpg, m, &jpeg.Options{Quality: q}); err != nil {
				t.Fatal(err)
			}
			for _, cfg := range []*imageproc.Config{&git420, fixtureConfig(t)} {
				orig, err := cfg.PreprocessFile(data)
				if err != nil {
					t.Fatal(err)
				}
				goJPEG, err := cfg.PreprocessFile(jpg.Bytes())
				if err != nil {
					t.Fatal(err)
				}
				got := browserPreprocess(t, cfg, jpg.Bytes(), "image/jpeg")
				worst, vsGo := diff(got.Cropped.Pix, goJPEG.Cropped.Pix)
				_, browserErr := diff(got.Cropped.Pix, orig.Cropped.Pix)
				_, goErr := diff(goJPEG.Cropped.Pix, orig.Cropped.Pix)
				t.Logf("%s q%d, %d px: browser vs Go mean %.2f (worst %d); vs the original: browser %.2f, Go %.2f", c.Name, q, cfg.CropW, vsGo, worst, browserErr, goErr)
				if noise := c.Name == "tiny_5x7_max5" || c.Name == "palette_33x33_caption"; noise {
					if vsGo > jpegMeanVsGoNoise {
						t.Errorf("%s q%d (%d px): browser vs Go mean %.2f (at most %.1f on noise)", c.Name, q, cfg.CropW, vsGo, jpegMeanVsGoNoise)
					}
				} else if vsGo > jpegMeanVsGo || browserErr > goErr+jpegMeanMargin {
					t.Errorf("%s q%d (%d px): browser vs Go mean %.2f (at most %.1f); vs the original %.2f, Go's %.2f (at most %.1f more)",
						c.Name, q, cfg.CropW, vsGo, jpegMeanVsGo, browserErr, goErr, jpegMeanMargin)
				}
			}
		}
	}
}

func fixtureConfig(t *testing.T) *imageproc.Config {
	b, err := os.ReadFile(fixture.TinyDir() + "/preprocessor_config.json")
	if err != nil {
		t.Fatal(err)
	}
	c, err := imageproc.ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	return &c
}

// A 12-megapixel phone photo (4032×3024): decoded by the browser and preprocessed
// in strips; the time is logged (make bench reports it in the page).
func TestPhonePhoto(t *testing.T) {
	m := image.NewYCbCr(image.Rect(0, 0, 4032, 3024), image.YCbCrSubsampleRatio420)
	for i := range m.Y {
		m.Y[i] = uint8(i*i>>11 ^ i>>9)
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i>>7), uint8(255-i>>8)
	}
	var jpg bytes.Buffer
	if err := jpeg.Encode(&jpg, m, &jpeg.Options{Quality: 85}); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := git420.PreprocessFile(jpg.Bytes()); err != nil {
		t.Fatal(err)
	}
	t.Logf("Go's decoder and resize instead: %v", time.Since(start))
	for i := 0; i < 2; i++ {
		start := time.Now()
		p, err := Decode(context.Background(), jpg.Bytes(), "image/jpeg")
		if err != nil {
			t.Fatal(err)
		}
		decoded := time.Since(start)
		w, h := p.Size()
		strip := make([]byte, 4*w*64)
		for y := 0; y < h; y += 64 {
			p.ReadRows(y, min(64, h-y), strip[:4*w*min(64, h-y)])
		}
		read := time.Since(start) - decoded
		p.Close()
		t.Logf("decode %v, read rows %v", decoded, read)
		start = time.Now()
		res := browserPreprocess(t, &git420, jpg.Bytes(), "image/jpeg")
		t.Logf("%d KB JPEG, 4032×3024 → %d×%d in %v", jpg.Len()>>10, res.Cropped.W, res.Cropped.H, time.Since(start))
		if res.Cropped.W != 420 || res.Cropped.H != 420 {
			t.Fatalf("cropped to %d×%d", res.Cropped.W, res.Cropped.H)
		}
	}
}

// An animated WebP, which Go's decoder refuses, goes through the browser's: its first
// frame, as the still picture it was made from.
func TestAnimatedWebP(t *testing.T) {
	still := encodeWebP(t, 37, 23)
	anim := animate(t, still, 37, 23)
	if _, err := git420.PreprocessFile(anim); !errors.Is(err, imageproc.ErrUnsupported) {
		t.Fatalf("Go's decoder on an animated WebP: %v", err)
	}
	c := fixtureConfig(t)
	want := browserPreprocess(t, c, still, "image/webp")
	got := browserPreprocess(t, c, anim, "image/webp")
	if worst, _ := diff(got.Cropped.Pix, want.Cropped.Pix); worst > 0 {
		t.Errorf("the animation's first frame differs from the still by up to %d levels", worst)
	}
}

func TestUndecodableBytes(t *testing.T) {
	if _, err := Decode(context.Background(), []byte("not a picture"), ""); err == nil {
		t.Fatal("decoded garbage")
	}
}

// encodeWebP has the browser encode a w×h gradient as a (lossy) WebP.
func encodeWebP(t *testing.T, w, h int) []byte {
	t.Helper()
	g := safejs.Global()
	cc, _ := g.Get("OffscreenCanvas")
	canvas, err := cc.New(w, h)
	if err != nil {
		t.Fatal(err)
	}
	ctx, _ := canvas.Call("getContext", "2d")
	img, _ := ctx.Call("createImageData", w, h)
	data, _ := img.Get("data")
	pix := make([]byte, 4*w*h)
	for i := 0; i < w*h; i++ {
		c := color.RGBA{uint8(i % w * 6), uint8(i / w * 10), uint8(i * 3), 255}
		pix[4*i], pix[4*i+1], pix[4*i+2], pix[4*i+3] = c.R, c.G, c.B, c.A
	}
	safejs.CopyBytesToJS(data, pix)
	ctx.Call("putImageData", img, 0, 0)
	opts, _ := safejs.ValueOf(map[string]any{"type": "image/webp", "quality": 0.9})
	p, err := canvas.Call("convertToBlob", opts)
	if err != nil {
		t.Fatal(err)
	}
	blob, err := jsutil.Await(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if ty, _ := blob.Get("type"); func() string { s, _ := ty.String(); return s }() != "image/webp" {
		t.Skip("this browser does not encode WebP")
	}
	p, _ = blob.Call("arrayBuffer")
	buf, err := jsutil.Await(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := jsutil.Bytes(buf)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// animate wraps a still WebP's image chunk as the one frame of an animation
// (RIFF WEBP: VP8X with the animation flag, ANIM, ANMF), as the WebP container
// specification lays it out.
func animate(t *testing.T, still []byte, w, h int) []byte {
	t.Helper()
	if len(still) < 20 || string(still[8:12]) != "WEBP" {
		t.Fatal("not a WebP")
	}
	// The frame is the image's own chunks (ALPH, VP8 or VP8L), without the still's
	// VP8X header and metadata.
	var frameData []byte
	flags := byte(0x02) // animation
	for p := 12; p+8 <= len(still); {
		n := int(binary.LittleEndian.Uint32(still[p+4:]))
		end := min(len(still), p+8+n+n%2)
		switch string(still[p : p+4]) {
		case "ALPH":
			flags |= 0x10
			frameData = append(frameData, still[p:end]...)
		case "VP8 ", "VP8L":
			frameData = append(frameData, still[p:end]...)
		}
		p = end
	}
	chunk := func(fourcc string, payload []byte) []byte {
		b := append([]byte(fourcc), 0, 0, 0, 0)
		binary.LittleEndian.PutUint32(b[4:], uint32(len(payload)))
		b = append(b, payload...)
		if len(payload)%2 == 1 {
			b = append(b, 0)
		}
		return b
	}
	u24 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16)} }
	vp8x := append([]byte{flags, 0, 0, 0}, append(u24(w-1), u24(h-1)...)...)
	anim := []byte{0, 0, 0, 0, 0, 0} // background colour, loop forever
	anmf := append(append(append(u24(0), u24(0)...), append(u24(w-1), u24(h-1)...)...), append(u24(100), 0)...)
	anmf = append(anmf, frameData...)
	body := append([]byte("WEBP"), chunk("VP8X", vp8x)...)
	body = append(body, chunk("ANIM", anim)...)
	body = append(body, chunk("ANMF", anmf)...)
	out := append([]byte("RIFF"), 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(out[4:], uint32(len(body)))
	return append(out, body...)
}
