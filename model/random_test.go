package model_test

import (
	"context"
	"fmt"
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

// Every image checkpoint of the hub at full size, random weights: it loads, and it
// answers (or, for a captioning model, describes) a picture. Checkpoints of one
// architecture (base at 224, base at 480, large at 224, large at 420) run once; the
// image-token counts are the hub configs' (patches of the crop, plus the class token).
func TestEveryCheckpointFullSize(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the four full-size architectures take a minute and a half")
	}
	vocab, err := os.ReadFile(filepath.Join(fixture.TinyDir(), "vocab.txt"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := tokenize.New(vocab)
	if err != nil {
		t.Fatal(err)
	}
	picture := filepath.Join(fixture.TinyDir(), "cases", "dogs_640x480", "image.png")
	wantTokens := map[string]int{"microsoft/git-base-vqav2": 901, "microsoft/git-base-textvqa": 901, "microsoft/git-large-vqav2": 901,
		"microsoft/git-large-textvqa": 901, "microsoft/git-base": 197, "microsoft/git-base-coco": 197, "microsoft/git-base-textcaps": 197,
		"microsoft/git-large": 257, "microsoft/git-large-coco": 257, "microsoft/git-large-textcaps": 257}
	ran := map[string]string{} // architecture → the checkpoint that ran it
	for _, c := range model.Checkpoints() {
		if n := c.Config.NumImageTokens(); n != wantTokens[c.Repo] {
			t.Errorf("%s: %d image tokens, want %d", c.Repo, n, wantTokens[c.Repo])
		}
		arch := fmt.Sprintf("%+v %+v", c.Config, c.Preprocess)
		if first, ok := ran[arch]; ok {
			t.Logf("%s: the architecture of %s", c.Repo, first)
			continue
		}
		ran[arch] = c.Repo
		t.Run(c.Repo, func(t *testing.T) {
			m, err := model.New(c.Config, c.Preprocess, tok, model.NewRandomSource(&c.Config, 7))
			if err != nil {
				t.Fatal(err)
			}
			px, err := fixture.Pixels(picture, &m.Preprocess)
			if err != nil {
				t.Fatal(err)
			}
			if len(px) != 3*c.Preprocess.CropH*c.Preprocess.CropW {
				t.Fatalf("%d pixel values for a %d px crop", len(px), c.Preprocess.CropH)
			}
			s, err := m.NewSession(nil)
			if err != nil {
				t.Fatal(err)
			}
			question := map[string]string{model.TaskVQA: "what is in the picture?", model.TaskCaption: ""}[c.Task]
			ans, err := s.Ask(context.Background(), px, question, model.Options{MaxTokens: 1})
			if err != nil {
				t.Fatal(err)
			}
			if len(ans.GeneratedIDs) != 1 || ans.Timings.Encode <= 0 {
				t.Fatalf("answer %+v", ans)
			}
			t.Logf("%s (%s): %d image tokens, encoder %v", c.Repo, c.Task, m.Config.NumImageTokens(), ans.Timings.Encode.Round(time.Millisecond))
		})
	}
	if len(ran) != 4 {
		t.Errorf("%d architectures, want 4: %v", len(ran), ran)
	}
}

func TestFLOPCounts(t *testing.T) {
	c := model.LargeVQAv2Config()
	f := model.CountFLOPs(&c)
	// DESIGN.md: ≈624–626 GFLOP for the encoder (+projection); the image pass ≈90 for six
	// whole layers, ≈78 with the last one's keys and values alone.
	if f.Encoder < 620e9 || f.Encoder > 630e9 || f.ImagePrefill < 76e9 || f.ImagePrefill > 80e9 {
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
	m, err := model.New(c, imageproc.CLIP(420), tok, model.NewRandomSource(&c, 42))
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
