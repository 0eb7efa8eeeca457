package model_test

import (
	"context"
	"gitvqa/model"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/imageproc"
	"gitvqa/model/tokenize"
)

// The tensor table (the loader run dry) lists what the loader reads: a random source
// built from it loads with nothing missing and nothing unused; and it names exactly the
// fixture checkpoint's parameters, in their shapes.
func TestExpectedTensorsMatchLoader(t *testing.T) {
	tc := tiny(t).Config
	w, err := model.LoadWeights(&tc, model.NewRandomSource(&tc, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(w.Unused) != 0 {
		t.Fatalf("unused %v", w.Unused)
	}
	real, closeSrc, err := hf.OpenCheckpoint(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	var want []string
	for _, n := range real.Names() {
		if !strings.HasSuffix(n, "position_ids") {
			want = append(want, n)
		}
	}
	var got []string
	for _, s := range model.ExpectedTensors(&tc) {
		got = append(got, s.Name)
		if shape, _ := real.Shape(s.Name); !reflect.DeepEqual(shape, s.Shape) {
			t.Errorf("%s: spec %v, checkpoint %v", s.Name, s.Shape, shape)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("spec has %d tensors, the checkpoint %d", len(got), len(want))
	}
}

func TestParameterCount(t *testing.T) {
	count := func(c model.Config) int {
		n := 0
		for _, s := range model.ExpectedTensors(&c) {
			k := 1
			for _, d := range s.Shape {
				k *= d
			}
			n += k
		}
		return n
	}
	if got := count(tiny(t).Config); got != 4121402 {
		t.Errorf("tiny: %d parameters, the fixture says 4,121,402", got)
	}
	if got := count(model.LargeVQAv2Config()); got != 394855482 {
		t.Errorf("large: %d parameters, DESIGN.md says 394,855,482", got)
	}
}

func TestFLOPCounts(t *testing.T) {
	c := model.LargeVQAv2Config()
	f := model.CountFLOPs(&c)
	// DESIGN.md: ≈624–626 GFLOP for the encoder (+projection), ≈90 for the image pass.
	if f.Encoder < 620e9 || f.Encoder > 630e9 || f.ImagePrefill < 85e9 || f.ImagePrefill > 95e9 {
		t.Fatalf("%+v", f)
	}
	if tok := model.TokenFLOPs(&c, 911); tok < 0.14e9 || tok > 0.16e9 {
		t.Fatalf("per token %g", tok)
	}
}

// LoadLargeRandom builds the full-size architecture with random weights.
func loadLargeRandom(tb testing.TB) *model.Model {
	c := model.LargeVQAv2Config()
	vocab, err := os.ReadFile(filepath.Join(fixture.TinyDir(), "vocab.txt"))
	if err != nil {
		tb.Fatal(err)
	}
	tok, err := tokenize.New(vocab)
	if err != nil {
		tb.Fatal(err)
	}
	pre := imageproc.Config{DoResize: true, ShortestEdge: 420, Resample: imageproc.Bicubic, DoCenterCrop: true, CropH: 420, CropW: 420, DoRescale: true, RescaleFactor: 1.0 / 255, DoNormalize: true, Mean: [3]float32{0.48145466, 0.4578275, 0.40821073}, Std: [3]float32{0.26862954, 0.26130258, 0.27577711}}
	m, err := model.New(c, pre, tok, model.NewRandomSource(&c, 42))
	if err != nil {
		tb.Fatal(err)
	}
	return m
}

// BenchmarkFullSizeQuestion runs one question through the full-size architecture
// (random weights, float32) and reports seconds and GFLOP/s per stage. Not part of
// make test: go test -run XXX -bench FullSize -benchtime 1x ./model/
func BenchmarkFullSizeQuestion(b *testing.B) {
	m := loadLargeRandom(b)
	px, err := fixture.Pixels(filepath.Join(fixture.TinyDir(), "cases", "dogs_640x480", "image.png"), &m.Preprocess)
	if err != nil {
		b.Fatal(err)
	}
	f := model.CountFLOPs(&m.Config)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s, err := m.NewSession(nil)
		if err != nil {
			b.Fatal(err)
		}
		ans, err := s.Ask(context.Background(), px, "how many dogs are there?", model.Options{MaxTokens: 10})
		if err != nil {
			b.Fatal(err)
		}
		t := ans.Timings
		steps := len(ans.GeneratedIDs) - 1
		perTok := t.Decode / time.Duration(max(steps, 1))
		tokFlops := model.TokenFLOPs(&m.Config, m.Config.NumImageTokens()+len(ans.InputIDs)+steps/2)
		b.ReportMetric(t.Encode.Seconds(), "encode-s")
		b.ReportMetric(f.Encoder/t.Encode.Seconds()/1e9, "encode-GFLOP/s")
		b.ReportMetric(t.ImagePrefill.Seconds(), "image-pass-s")
		b.ReportMetric(f.ImagePrefill/t.ImagePrefill.Seconds()/1e9, "image-pass-GFLOP/s")
		b.ReportMetric(float64(perTok.Milliseconds()), "token-ms")
		b.ReportMetric(tokFlops/perTok.Seconds()/1e9, "token-GFLOP/s")
		second := time.Now()
		if _, err := s.Ask(context.Background(), px, "what color is the dog?", model.Options{MaxTokens: 10}); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(time.Since(second).Seconds(), "second-question-s")
	}
}
