package model_test

import (
	"context"
	"gitvqa/model"
	"math"
	"reflect"
	"sync"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/hf"
)

var (
	tinyOnce  sync.Once
	tinyModel *model.Model
	tinyErr   error
)

func tiny(t testing.TB) *model.Model {
	t.Helper()
	tinyOnce.Do(func() { tinyModel, tinyErr = hf.LoadDir(fixture.TinyDir()) })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tinyModel
}

func cases(t testing.TB) []fixture.Case { return fixture.TinyCases(t) }

func pixels(t testing.TB, m *model.Model, c *fixture.Case) []float32 {
	t.Helper()
	px, err := c.Pixels(&m.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	return px
}

func maxAbsDiff(t testing.TB, got, want []float32) float64 {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d values, want %d", len(got), len(want))
	}
	return fixture.MaxAbsDiff(got, want)
}

// Every stage of every fixture case against Hugging Face's outputs.
func TestMatchesHuggingFace(t *testing.T) {
	m := tiny(t)
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cases(t) {
		t.Run(c.Name, func(t *testing.T) {
			px := pixels(t, m, &c)
			im, tm, err := s.Image(context.Background(), px, model.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if tm.ImageCached {
				t.Fatal("a new picture came from the cache")
			}
			for file, got := range map[string][]float32{"vision_last_hidden_state.npy": im.Vision, "projected_visual_features.npy": im.Projected} {
				want, err := c.Array(file)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxAbsDiff(t, got, want.Float32); d > 1e-4 {
					t.Errorf("%s: max abs error %g > 1e-4", file, d)
				} else {
					t.Logf("%s: max abs error %.2g", file, d)
				}
			}
			last, err := c.Array("logits_last.npy")
			if err != nil {
				t.Fatal(err)
			}
			top5ids, _ := c.Array("step_top5_ids.npy")
			top5logits, _ := c.Array("step_top5_logits.npy")
			var stepErr float64
			ans, err := s.Ask(context.Background(), px, c.Question, model.Options{
				MaxTokens: c.MaxTokens,
				OnLogits: func(step int, logits []float32) {
					if step == 0 {
						if d := maxAbsDiff(t, logits, last.Float32); d > 1e-4 {
							t.Errorf("logits_last: max abs error %g > 1e-4", d)
						} else {
							t.Logf("logits_last: max abs error %.2g", d)
						}
					}
					for r := 0; r < 5; r++ {
						id := top5ids.Int64[step*5+r]
						stepErr = math.Max(stepErr, math.Abs(float64(logits[id]-top5logits.Float32[step*5+r])))
					}
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			if stepErr > 1e-4 {
				t.Errorf("top-5 logits over all steps: max abs error %g > 1e-4", stepErr)
			} else {
				t.Logf("top-5 logits over all steps: max abs error %.2g", stepErr)
			}
			if !reflect.DeepEqual(ans.InputIDs, c.InputIDs) {
				t.Errorf("input ids %v, want %v", ans.InputIDs, c.InputIDs)
			}
			if !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
				t.Errorf("generated ids %v, want %v", ans.GeneratedIDs, c.GeneratedIDs)
			}
			if ans.Text != c.Answer {
				t.Errorf("answer %q, want %q", ans.Text, c.Answer)
			}
			if ans.StoppedBy != c.StoppedBy {
				t.Errorf("stopped by %s, want %s", ans.StoppedBy, c.StoppedBy)
			}
		})
	}
}
