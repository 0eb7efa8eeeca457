package imageproc

import (
	"bytes"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitvqa/model/npy"
)

const fixtures = "../../testdata/tiny"

type fixtureCase struct {
	Name        string `json:"name"`
	ImageSizeWH [2]int `json:"image_size_wh"`
	ResizedHW   [2]int `json:"resized_hw_before_crop"`
}

func loadConfig(t testing.TB) Config {
	b, err := os.ReadFile(filepath.Join(fixtures, "preprocessor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := ParseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func loadCases(t testing.TB) []fixtureCase {
	b, err := os.ReadFile(filepath.Join(fixtures, "cases", "cases.json"))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct{ Cases []fixtureCase }
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	return idx.Cases
}

func TestPreprocessMatchesFixtures(t *testing.T) {
	cfg := loadConfig(t)
	for _, c := range loadCases(t) {
		dir := filepath.Join(fixtures, "cases", c.Name)
		data, err := os.ReadFile(filepath.Join(dir, "image.png"))
		if err != nil {
			t.Fatal(err)
		}
		img, err := Decode(data)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		if img.W != c.ImageSizeWH[0] || img.H != c.ImageSizeWH[1] {
			t.Fatalf("%s: decoded %d×%d, want %v", c.Name, img.W, img.H, c.ImageSizeWH)
		}
		if w, h := cfg.resizedSize(img.W, img.H); h != c.ResizedHW[0] || w != c.ResizedHW[1] {
			t.Errorf("%s: resized to %d×%d (h×w), want %v", c.Name, h, w, c.ResizedHW)
		}
		res, err := cfg.Preprocess(img)
		if err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		want, err := npy.ReadFile(filepath.Join(dir, "preprocessed_uint8.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(res.Cropped.Pix, want.Uint8) {
			diff := 0
			for i := range want.Uint8 {
				if res.Cropped.Pix[i] != want.Uint8[i] {
					diff++
				}
			}
			t.Errorf("%s: preprocessed_uint8 differs in %d of %d bytes", c.Name, diff, len(want.Uint8))
		}
		pv, err := npy.ReadFile(filepath.Join(dir, "pixel_values.npy"))
		if err != nil {
			t.Fatal(err)
		}
		if len(pv.Float32) != len(res.Pixels) {
			t.Fatalf("%s: %d pixel values, want %d", c.Name, len(res.Pixels), len(pv.Float32))
		}
		var worst float64
		for i, v := range pv.Float32 {
			worst = math.Max(worst, math.Abs(float64(v-res.Pixels[i])))
		}
		if worst > 1e-6 {
			t.Errorf("%s: pixel_values max abs error %g > 1e-6", c.Name, worst)
		}
	}
}

// The canvas path gives the same pixels as the file path for an opaque picture.
func TestFromRGBAEqualsDecode(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(fixtures, "cases", "car_97x61", "image.png"))
	if err != nil {
		t.Fatal(err)
	}
	m, err := png.Decode(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b := m.Bounds()
	rgba := image.NewRGBA(b)
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			rgba.Set(x, y, m.At(x, y))
		}
	}
	fromCanvas, err := FromRGBA(b.Dx(), b.Dy(), rgba.Pix)
	if err != nil {
		t.Fatal(err)
	}
	fromFile, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fromCanvas.Pix, fromFile.Pix) {
		t.Fatal("canvas RGBA and decoded PNG differ")
	}
}

// JPEG decoders differ from libjpeg by a level or two; check the path works and stays
// close to the lossless source (a smooth picture, which JPEG keeps well).
func TestJPEGCloseToSource(t *testing.T) {
	m := image.NewNRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			m.Set(x, y, color.NRGBA{uint8(4 * x), uint8(5 * y), uint8(2*x + y), 255})
		}
	}
	var pngBuf, buf bytes.Buffer
	png.Encode(&pngBuf, m)
	data := pngBuf.Bytes()
	if err := jpeg.Encode(&buf, m, &jpeg.Options{Quality: 100}); err != nil {
		t.Fatal(err)
	}
	a, err := Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Decode(data)
	var sum float64
	for i := range a.Pix {
		sum += math.Abs(float64(a.Pix[i]) - float64(b.Pix[i]))
	}
	if mean := sum / float64(len(a.Pix)); mean > 2 {
		t.Fatalf("JPEG pixels differ from the source by %.2f levels on average", mean)
	}
}

func TestBadImages(t *testing.T) {
	cfg := loadConfig(t)
	onePixel := func() []byte {
		var buf bytes.Buffer
		m := image.NewNRGBA(image.Rect(0, 0, 1, 1))
		m.Set(0, 0, color.NRGBA{10, 20, 30, 0})
		png.Encode(&buf, m)
		return buf.Bytes()
	}()
	// 1×1 works (upscaled), and alpha 0 keeps its colour.
	img, err := Decode(onePixel)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Pix, []byte{10, 20, 30}) {
		t.Fatalf("1×1 transparent pixel decoded as %v", img.Pix)
	}
	res, err := cfg.Preprocess(img)
	if err != nil || res.Cropped.W != 32 || res.Cropped.Pix[0] != 10 {
		t.Fatalf("1×1: %v %+v", err, res)
	}
	for name, data := range map[string][]byte{
		"empty":     nil,
		"text":      []byte("hello, not an image"),
		"truncated": onePixel[:len(onePixel)-20],
		"corrupt":   append(append([]byte{}, onePixel[:40]...), bytes.Repeat([]byte{0xff}, 30)...),
	} {
		if _, err := Decode(data); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
	for _, s := range [][2]int{{0, 0}, {0, 5}, {5, 0}} {
		_, err := FromRGBA(s[0], s[1], nil)
		if err == nil || !strings.Contains(err.Error(), "no pixels") {
			t.Errorf("%v canvas: %v", s, err)
		}
	}
	if _, err := FromRGBA(2, 2, make([]byte, 15)); err == nil {
		t.Error("short RGBA buffer accepted")
	}
	if _, err := FromRGBA(1<<14, 1<<14, nil); err == nil {
		t.Error("a 256-megapixel canvas was accepted")
	}
}

// A long thin picture resizes to a long strip; only its crop is computed.
func TestExtremeAspectRatio(t *testing.T) {
	cfg := loadConfig(t)
	img := &RGB{W: 20000, H: 1, Pix: bytes.Repeat([]byte{200, 100, 50}, 20000)}
	res, err := cfg.Preprocess(img)
	if err != nil {
		t.Fatal(err)
	}
	if res.Cropped.W != 32 || res.Cropped.H != 32 {
		t.Fatalf("crop %d×%d", res.Cropped.W, res.Cropped.H)
	}
	for i := 0; i < len(res.Cropped.Pix); i += 3 {
		if p := res.Cropped.Pix[i : i+3]; p[0] != 200 || p[1] != 100 || p[2] != 50 {
			t.Fatalf("a uniform picture resized to %v at %d", p, i/3)
		}
	}
}

// resizeWindow must equal the same window of the full resize, for every filter.
func TestWindowEqualsFullResize(t *testing.T) {
	src := make([]uint8, 37*23*3)
	for i := range src {
		src[i] = uint8(i * 7919 % 251)
	}
	for id, f := range filters {
		for _, out := range [][2]int{{50, 30}, {20, 11}, {37, 60}, {12, 23}} {
			full := resizeWindow(src, 37, 23, out[0], out[1], 0, 0, out[0], out[1], f)
			x0, y0, cw, ch := out[0]/3, out[1]/4, out[0]/2, out[1]/2
			win := resizeWindow(src, 37, 23, out[0], out[1], x0, y0, cw, ch, f)
			for y := 0; y < ch; y++ {
				a := full[((y0+y)*out[0]+x0)*3 : ((y0+y)*out[0]+x0+cw)*3]
				if !bytes.Equal(a, win[y*cw*3:(y+1)*cw*3]) {
					t.Fatalf("filter %d, size %v: window row %d differs", id, out, y)
				}
			}
		}
	}
}

func TestParseConfigForms(t *testing.T) {
	c, err := ParseConfig([]byte(`{"size": 420, "crop_size": 420, "resample": 3, "feature_extractor_type": "CLIPFeatureExtractor"}`))
	if err != nil || c.ShortestEdge != 420 || c.CropH != 420 || c.CropW != 420 {
		t.Fatalf("integer sizes: %+v %v", c, err)
	}
	for _, bad := range []string{`{"resample": 0}`, `{"resample": 9}`, `{"size": {"longest_edge": 3}}`, `{"image_std": [0,1,1]}`, `{"image_mean": [1]}`, `{"do_convert_rgb": false}`, `[`} {
		if _, err := ParseConfig([]byte(bad)); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}

func FuzzPreprocess(f *testing.F) {
	cfg := loadConfig(f)
	for _, name := range []string{"car_97x61", "palette_33x33_caption", "rgba_40x40", "gray_50x80"} {
		data, err := os.ReadFile(filepath.Join(fixtures, "cases", name, "image.png"))
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		img, err := Decode(data)
		if err != nil {
			return
		}
		res, err := cfg.Preprocess(img)
		if err != nil {
			t.Fatalf("decoded %d×%d but preprocessing failed: %v", img.W, img.H, err)
		}
		if len(res.Pixels) != 3*32*32 {
			t.Fatalf("%d pixel values", len(res.Pixels))
		}
	})
}

// Pictures read from a canvas in strips (PreprocessStrips, the browser decoder's path)
// equal the whole picture preprocessed, for pictures shorter and taller than a strip,
// with and without resizing and cropping; only rows the crop needs are asked for.
func TestPreprocessStripsEqualsPreprocess(t *testing.T) {
	for _, size := range [][2]int{{5, 7}, {97, 61}, {130, 300}, {301, 129}} {
		w, h := size[0], size[1]
		rgba := make([]byte, 4*w*h)
		for i := range rgba {
			rgba[i] = byte(i*7 + i/(4*w)*13)
		}
		for _, edge := range []int{3, 32, 480} {
			c := Config{DoResize: edge != 480, ShortestEdge: edge, Resample: Bicubic, DoCenterCrop: true, CropH: edge - 1, CropW: edge,
				DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: clipMean, Std: clipStd}
			img, err := FromRGBA(w, h, rgba)
			if err != nil {
				t.Fatal(err)
			}
			want, err := c.Preprocess(img)
			if err != nil {
				t.Fatal(err)
			}
			next := -1
			got, err := c.PreprocessStrips(w, h, func(y0, n int, dst []byte) error {
				if y0 < next || n < 1 || n > StripRows || len(dst) != 4*w*n {
					t.Fatalf("%d×%d: asked for rows %d+%d into %d bytes after row %d", w, h, y0, n, len(dst), next)
				}
				next = y0 + n
				copy(dst, rgba[4*w*y0:])
				return nil
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Cropped.Pix, want.Cropped.Pix) {
				t.Errorf("%d×%d, edge %d: strips differ from the whole picture", w, h, edge)
			}
		}
	}
	c := Config{DoResize: true, ShortestEdge: 8, Resample: Bicubic, DoCenterCrop: true, CropH: 8, CropW: 8}
	if _, err := c.PreprocessStrips(10, 10, func(int, int, []byte) error { return ErrUnsupported }, nil); !errors.Is(err, ErrUnsupported) {
		t.Errorf("a failed read: %v", err)
	}
}
