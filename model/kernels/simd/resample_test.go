package simd_test

import (
	"bytes"
	"math/rand"
	"testing"

	"gitvqa/model/imageproc"
	"gitvqa/model/kernels/simd"
)

// checkResample holds the module's horizontal pass to Go's: the same bytes after
// preprocessing, on odd sizes, up and down, with each filter's support.
func checkResample(t *testing.T, k *simd.Kernels) {
	t.Helper()
	r := rand.New(rand.NewSource(1))
	for _, size := range [][2]int{{1, 1}, {5, 7}, {97, 61}, {301, 129}, {1000, 37}, {4, 600}} {
		w, h := size[0], size[1]
		rgba := make([]byte, 4*w*h)
		r.Read(rgba)
		for _, f := range []int{imageproc.Bicubic, imageproc.Bilinear, imageproc.Lanczos, imageproc.Box} {
			for _, edge := range []int{3, 32, 224} {
				c := imageproc.Config{DoResize: true, ShortestEdge: edge, Resample: f, DoCenterCrop: true, CropH: edge, CropW: edge - 1}
				want, err := c.PreprocessRGBA(w, h, rgba, nil)
				if err != nil {
					t.Fatal(err)
				}
				got, err := c.PreprocessRGBA(w, h, rgba, k)
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(got.Cropped.Pix, want.Cropped.Pix) {
					t.Errorf("%d×%d, filter %d, edge %d: the module's horizontal pass differs from Go's", w, h, f, edge)
				}
			}
		}
	}
}
