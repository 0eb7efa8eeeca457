//go:build !js

package kernels_test

import (
	"context"
	"gitvqa/wasm/kernels"
	"math"
	"path/filepath"
	"reflect"
	"testing"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/kernel"
)

type result struct {
	ids    []int
	text   string
	logits []float32   // the first step's
	steps  [][]float32 // every step's
}

// fixtureModels loads the fixture's cases, its float32 model, and the same converted to int8.
func fixtureModels(t *testing.T) (cases []fixture.Case, f32, q8 *model.Model) {
	t.Helper()
	cases, err := fixture.Load(filepath.Join(fixture.TinyDir(), "cases"))
	if err != nil {
		t.Fatal(err)
	}
	if f32, err = model.LoadDir(fixture.TinyDir()); err != nil {
		t.Fatal(err)
	}
	in, closeSrc, err := convert.OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	dir := t.TempDir()
	if _, err := convert.Convert(in, dir, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	if q8, err = model.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	return cases, f32, q8
}

// answerAll answers each case; force, when set, teacher-forces case i's tokens.
func answerAll(t *testing.T, m *model.Model, cases []fixture.Case, force [][]int) []result {
	t.Helper()
	s, err := m.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	var out []result
	for _, c := range cases {
		px, err := c.Pixels(&m.Preprocess)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		var f []int
		if force != nil {
			f = force[len(out)]
		}
		ans, err := s.Ask(context.Background(), px, c.Question, model.Options{MaxNewTokens: c.MaxNewTokens, Force: f,
			OnLogits: func(step int, l []float32) {
				if step == 0 {
					r.logits = append([]float32(nil), l...)
				}
				r.steps = append(r.steps, append([]float32(nil), l...))
			}})
		if err != nil {
			t.Fatal(err)
		}
		r.ids, r.text = ans.GeneratedIDs, ans.Text
		out = append(out, r)
	}
	return out
}

// The whole model with the SIMD kernels doing the work: every fixture case answered as
// Hugging Face does, float32 and int8, and the int8 answers equal to the Go kernels'.
func TestModelOnSIMDKernels(t *testing.T) {
	cases, f32, q8 := fixtureModels(t)
	goQ8 := answerAll(t, q8, cases, nil)

	kernel.SetAccel(kernels.Accel{M: newWZ(t)})
	defer kernel.SetAccel(nil)
	simdF32 := answerAll(t, f32, cases, nil)
	simdQ8 := answerAll(t, q8, cases, nil)
	for i, c := range cases {
		if !reflect.DeepEqual(simdF32[i].ids, c.GeneratedIDs) || simdF32[i].text != c.Answer {
			t.Errorf("%s (f32): %v %q, want %v", c.Name, simdF32[i].ids, simdF32[i].text, c.GeneratedIDs)
		}
		want, _ := c.Array("logits_last.npy")
		var worst float64
		for j, v := range want.Float32 {
			worst = math.Max(worst, math.Abs(float64(v-simdF32[i].logits[j])))
		}
		if worst > 1e-4 {
			t.Errorf("%s: first logits off by %g", c.Name, worst)
		}
		if !reflect.DeepEqual(simdQ8[i].ids, goQ8[i].ids) {
			t.Errorf("%s (int8): SIMD %v, Go %v", c.Name, simdQ8[i].ids, goQ8[i].ids)
		}
	}
}
