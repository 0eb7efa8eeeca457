package imageproc

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The row-streaming preprocessor equals the whole-picture windowed resize it replaced
// (below, as it was), on random pictures of many shapes and every filter: the same
// arithmetic in another order of loops.
func TestStreamEqualsWholePictureResize(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for trial := 0; trial < 300; trial++ {
		w, h := 1+r.Intn(300), 1+r.Intn(300)
		if trial%10 == 0 {
			w, h = 1+r.Intn(3), 1+r.Intn(900)
		}
		img := &RGB{W: w, H: h, Pix: make([]uint8, 3*w*h)}
		r.Read(img.Pix)
		c := Config{DoResize: true, ShortestEdge: 1 + r.Intn(64), Resample: []int{Box, Bilinear, Hamming, Bicubic, Lanczos}[r.Intn(5)],
			DoCenterCrop: r.Intn(4) != 0, DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: clipMean, Std: clipStd}
		c.CropH, c.CropW = 1+r.Intn(64), 1+r.Intn(64)
		if trial%7 == 0 {
			c.ShortestEdge = min(w, h) // no resize in one direction at least
		}
		got, err := c.Preprocess(img)
		if err != nil {
			t.Fatal(err)
		}
		want := referencePreprocess(&c, img)
		if !bytes.Equal(got.Cropped.Pix, want.Pix) {
			t.Fatalf("trial %d: %d×%d, %+v: the stream differs from the whole-picture resize", trial, w, h, c)
		}
	}
}

// referencePreprocess is Preprocess as it was: the whole picture resized in one go.
func referencePreprocess(c *Config, img *RGB) *RGB {
	w, h := img.W, img.H
	if c.DoResize {
		w, h = c.resizedSize(img.W, img.H)
	}
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
	return cropped
}

// resizeWindow resizes src (packed RGB, w×h) to outW×outH with filter f, but
// computes only the output window [x0, x0+cw) × [y0, y0+ch), which must lie inside
// the output. Pillow computes every output pixel from its own weights, so the window
// equals the same region of the full resize while a 1×10000 picture costs no more
// memory than its crop.
func resizeWindow(src []uint8, w, h, outW, outH, x0, y0, cw, ch int, f filter) []uint8 {
	needH := outW != w
	needV := outH != h
	if !needH && !needV {
		out := make([]uint8, cw*ch*3)
		for y := 0; y < ch; y++ {
			copy(out[y*cw*3:(y+1)*cw*3], src[((y0+y)*w+x0)*3:((y0+y)*w+x0+cw)*3])
		}
		return out
	}
	var vert coeffs
	// Source rows the vertical pass reads (all of them when there is none).
	rowFirst, rowLast := y0, y0+ch
	if needV {
		vert = precomputeCoeffs(h, outH, y0, y0+ch, f)
		rowFirst = vert.bounds[0]
		rowLast = vert.bounds[2*(ch-1)] + vert.bounds[2*(ch-1)+1]
	}
	// Horizontal pass over the rows needed, only the window's columns.
	tmp, tw, th := src[rowFirst*w*3:rowLast*w*3], w, rowLast-rowFirst
	tx0 := x0
	if needH {
		hc := precomputeCoeffs(w, outW, x0, x0+cw, f)
		out := make([]uint8, cw*th*3)
		for y := 0; y < th; y++ {
			row := tmp[y*w*3 : (y+1)*w*3]
			for xx := 0; xx < cw; xx++ {
				xmin, xn := hc.bounds[2*xx], hc.bounds[2*xx+1]
				k := hc.kk[xx*hc.ksize : xx*hc.ksize+xn]
				s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
				for x, kv := range k {
					p := row[(xmin+x)*3:]
					s0 += int32(p[0]) * kv
					s1 += int32(p[1]) * kv
					s2 += int32(p[2]) * kv
				}
				o := out[(y*cw+xx)*3:]
				o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
			}
		}
		tmp, tw, tx0 = out, cw, 0
	}
	if !needV {
		out := make([]uint8, cw*ch*3)
		for y := 0; y < ch; y++ {
			copy(out[y*cw*3:(y+1)*cw*3], tmp[(y*tw+tx0)*3:(y*tw+tx0+cw)*3])
		}
		return out
	}
	out := make([]uint8, cw*ch*3)
	for yy := 0; yy < ch; yy++ {
		ymin, yn := vert.bounds[2*yy]-rowFirst, vert.bounds[2*yy+1]
		k := vert.kk[yy*vert.ksize : yy*vert.ksize+yn]
		for xx := 0; xx < cw; xx++ {
			s0, s1, s2 := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
			for y, kv := range k {
				p := tmp[((ymin+y)*tw+tx0+xx)*3:]
				s0 += int32(p[0]) * kv
				s1 += int32(p[1]) * kv
				s2 += int32(p[2]) * kv
			}
			o := out[(yy*cw+xx)*3:]
			o[0], o[1], o[2] = clip8(s0), clip8(s1), clip8(s2)
		}
	}
	return out
}

// PreprocessFile, which streams PNG rows, equals Decode then Preprocess on every PNG
// of Go's test suite (all colour types and bit depths, transparency, interlaced ones
// that fall back to a whole decode) and fails where it fails.
func TestPreprocessFileEqualsDecodeThenPreprocess(t *testing.T) {
	var files []string
	for _, pattern := range []string{"src/image/png/testdata/*.png", "src/image/png/testdata/pngsuite/*.png"} {
		m, _ := filepath.Glob(filepath.Join(runtime.GOROOT(), pattern))
		files = append(files, m...)
	}
	if len(files) < 30 {
		t.Fatalf("found %d test pictures in GOROOT", len(files))
	}
	for _, edge := range []int{7, 100} {
		c := Config{DoResize: true, ShortestEdge: edge, Resample: Bicubic, DoCenterCrop: true, CropH: edge - 2, CropW: edge - 1,
			DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: clipMean, Std: clipStd}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			got, gotErr := c.PreprocessFile(data)
			img, wantErr := Decode(data)
			var want *Result
			if wantErr == nil {
				want, wantErr = c.Preprocess(img)
			}
			if (gotErr == nil) != (wantErr == nil) {
				t.Errorf("%s: streamed %v, whole %v", filepath.Base(f), gotErr, wantErr)
				continue
			}
			if gotErr == nil && !bytes.Equal(got.Cropped.Pix, want.Cropped.Pix) {
				t.Errorf("%s (edge %d): the streamed picture differs", filepath.Base(f), edge)
			}
		}
	}
}

// bombPNG writes a PNG of w×h pixels of colour type ct (2: RGB, 6: RGBA) at the bit
// depth, all zeros: a few hundred KB that decode to hundreds of MB.
func bombPNG(t *testing.T, w, h, depth int, ct byte) []byte {
	t.Helper()
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		var n [4]byte
		binary.BigEndian.PutUint32(n[:], uint32(len(data)))
		b.Write(n[:])
		crc := crc32.NewIEEE()
		crc.Write([]byte(typ))
		crc.Write(data)
		b.WriteString(typ)
		b.Write(data)
		binary.BigEndian.PutUint32(n[:], crc.Sum32())
		b.Write(n[:])
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], uint32(w))
	binary.BigEndian.PutUint32(ihdr[4:], uint32(h))
	ihdr[8], ihdr[9] = byte(depth), ct
	chunk("IHDR", ihdr)
	var z bytes.Buffer
	zw, _ := zlib.NewWriterLevel(&z, zlib.BestSpeed)
	channels := map[byte]int{2: 3, 6: 4}[ct]
	row := make([]byte, 1+w*channels*depth/8)
	for y := 0; y < h; y++ {
		zw.Write(row)
	}
	zw.Close()
	chunk("IDAT", z.Bytes())
	chunk("IEND", nil)
	return b.Bytes()
}

// A small file that decodes to a huge picture costs the resampler's few rows, not the
// picture: an 8192×8192 16-bit RGBA PNG (512 MB decoded) within a few MB.
func TestPictureBombsCostLittleMemory(t *testing.T) {
	c := Config{DoResize: true, ShortestEdge: 420, Resample: Bicubic, DoCenterCrop: true, CropH: 420, CropW: 420,
		DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: clipMean, Std: clipStd}
	for _, p := range []struct {
		name  string
		depth int
		ct    byte
	}{{"8-bit RGB", 8, 2}, {"16-bit RGBA", 16, 6}} {
		data := bombPNG(t, 8192, 8192, p.depth, p.ct)
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		res, err := c.PreprocessFile(data)
		runtime.ReadMemStats(&after)
		if err != nil {
			t.Fatalf("%s: %v", p.name, err)
		}
		if res.Cropped.W != 420 || res.Cropped.H != 420 {
			t.Fatalf("%s: %d×%d", p.name, res.Cropped.W, res.Cropped.H)
		}
		alloc := after.TotalAlloc - before.TotalAlloc
		t.Logf("%s, %d KB file: %.1f MB allocated in all", p.name, len(data)>>10, float64(alloc)/(1<<20))
		if alloc > 16<<20 {
			t.Errorf("%s: %d MB allocated for a 420×420 result", p.name, alloc>>20)
		}
	}
}

// A valid picture this decoder cannot read is called unsupported, not corrupt.
func TestAnimatedWebPIsUnsupportedNotCorrupt(t *testing.T) {
	vp8x := []byte{0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0} // flags: animation; canvas 1×1 (stored minus one)
	anim := []byte{0, 0, 0, 0, 0, 0}                // background colour, loop count
	body := append([]byte("WEBPVP8X"), le32(len(vp8x))...)
	body = append(append(body, vp8x...), []byte("ANIM")...)
	body = append(append(body, le32(len(anim))...), anim...)
	data := append(append([]byte("RIFF"), le32(len(body))...), body...)
	_, err := Decode(data)
	if err == nil || !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), "animated WebP") {
		t.Fatalf("animated WebP: %v", err)
	}
}

func le32(n int) []byte {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, uint32(n))
	return b
}

// Settings that would turn every pixel into an infinity are refused when the
// preprocessor is read.
func TestOutOfRangeNormalisationIsRefused(t *testing.T) {
	for _, js := range []string{`{"image_std":[1e-45,0.26,0.27]}`, `{"image_std":[0,0.26,0.27]}`, `{"image_mean":[1e30,0,0]}`, `{"rescale_factor":1e30}`} {
		if _, err := ParseConfig([]byte(js)); err == nil || !strings.Contains(err.Error(), "out of range") {
			t.Errorf("%s: %v", js, err)
		}
	}
}
