package convert

import (
	"context"
	"math"
	"os"
	"path/filepath"
	"testing"

	"gitvqa/model"
	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/imageproc"
	"gitvqa/model/tokenize"
)

// TestInt8AgainstFloat32FullSize compares int8 and float32 on the full git-large-vqav2
// architecture with seeded random weights, over several pictures. It takes about ten
// minutes on two cores, so make test leaves it out: run it with make test-large.
func TestInt8AgainstFloat32FullSize(t *testing.T) {
	if os.Getenv("GITVQA_LARGE") == "" {
		t.Skip("set GITVQA_LARGE=1 (make test-large) to run the full-size comparison")
	}
	cfg := model.LargeVQAv2Config()
	vocab, err := os.ReadFile(filepath.Join(fixture.TinyDir(), "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	in, err := randomLargeInputs(cfg, vocab)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	man, err := Convert(in, dir, Options{DType: "int8"})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("int8 folder: %d bytes (%.3f GB) in %d chunks", man.TotalBytes, float64(man.TotalBytes)/1e9, len(man.Chunks))
	q, err := hf.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := tokenize.New(vocab)
	pre, _ := imageproc.ParseConfig(in.Preprocessor)
	f, err := model.New(cfg, pre, tok, in.Weights)
	if err != nil {
		t.Fatal(err)
	}
	fs, _ := f.NewSession(nil)
	qs, _ := q.NewSession(nil)
	var agree, steps int
	for _, name := range []string{"dogs_640x480", "car_97x61", "square_224_accents"} {
		px, err := fixture.Pixels(filepath.Join(fixture.TinyDir(), "cases", name, "image.png"), &pre)
		if err != nil {
			t.Fatal(err)
		}
		var fl, ql [][]float32
		fa, err := fs.Ask(context.Background(), px, "what is in the picture?", model.Options{MaxTokens: 8,
			OnLogits: func(_ int, l []float32) { fl = append(fl, append([]float32(nil), l...)) }})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := qs.Ask(context.Background(), px, "what is in the picture?", model.Options{Force: fa.GeneratedIDs,
			OnLogits: func(_ int, l []float32) { ql = append(ql, append([]float32(nil), l...)) }}); err != nil {
			t.Fatal(err)
		}
		c := CompareRuns(fl, ql)
		spread := 0.0
		for _, v := range fl[0] {
			spread = math.Max(spread, math.Abs(float64(v)))
		}
		t.Logf("%-20s cosine %.6f  max|Δ| %.4f (logits up to %.2f)  top-1 agree %d/%d", name, c.Cosine, c.MaxAbs, spread, c.Agree, c.Steps)
		agree += c.Agree
		steps += c.Steps
		if c.Cosine < 0.999 {
			t.Errorf("%s: cosine %.6f < 0.999", name, c.Cosine)
		}
	}
	t.Logf("top-1 agreement %d/%d", agree, steps)
	if float64(agree) < 0.9*float64(steps) {
		t.Errorf("top-1 agreement %d/%d below 90%%", agree, steps)
	}
}

func randomLargeInputs(cfg model.Config, vocab []byte) (Inputs, error) {
	js, err := jsonMarshal(cfg)
	if err != nil {
		return Inputs{}, err
	}
	return Inputs{
		Config: js,
		Preprocessor: []byte(`{"do_resize":true,"size":{"shortest_edge":420},"resample":3,"do_center_crop":true,` +
			`"crop_size":{"height":420,"width":420},"do_rescale":true,"rescale_factor":0.00392156862745098,"do_normalize":true}`),
		Vocab:   vocab,
		Weights: model.NewRandomSource(&cfg, 42),
	}, nil
}
