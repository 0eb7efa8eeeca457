package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/npy"
)

// The CLI's -json answers and -dump arrays equal the fixtures, case by case.
func TestCLIMatchesFixtures(t *testing.T) {
	cs, err := fixture.Load(filepath.Join(fixture.TinyDir(), "cases"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		t.Run(c.Name, func(t *testing.T) {
			dump := t.TempDir()
			var out, errb bytes.Buffer
			args := []string{"-model", fixture.TinyDir(), "-image", c.Path(c.Image), "-question", c.Question,
				"-max-tokens", strconv.Itoa(c.MaxTokens), "-json", "-dump", dump}
			if err := run(context.Background(), args, &out, &errb); err != nil {
				t.Fatalf("%v\n%s", err, errb.String())
			}
			var r Result
			if err := json.Unmarshal(out.Bytes(), &r); err != nil {
				t.Fatalf("%v: %s", err, out.String())
			}
			if !reflect.DeepEqual(r.InputIDs, c.InputIDs) || !reflect.DeepEqual(r.GeneratedIDs, c.GeneratedIDs) || r.Answer != c.Answer {
				t.Fatalf("got %+v", r)
			}
			for name, tol := range map[string]float64{"preprocessed_uint8.npy": 0, "pixel_values.npy": 1e-6, "projected_visual_features.npy": 1e-4, "logits_last.npy": 1e-4, "vision_last_hidden_state.npy": 1e-4} {
				got, err := npy.ReadFile(filepath.Join(dump, name))
				if err != nil {
					t.Fatal(err)
				}
				want, err := c.Array(name)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got.Shape, want.Shape) {
					t.Fatalf("%s: shape %v, want %v", name, got.Shape, want.Shape)
				}
				if want.Uint8 != nil {
					if !bytes.Equal(got.Uint8, want.Uint8) {
						t.Fatalf("%s differs", name)
					}
					continue
				}
				for i := range want.Float32 {
					if d := math.Abs(float64(got.Float32[i] - want.Float32[i])); d > tol {
						t.Fatalf("%s[%d]: off by %g", name, i, d)
					}
				}
			}
		})
	}
}

func TestCLIPlainAnswerAndErrors(t *testing.T) {
	c := filepath.Join(fixture.TinyDir(), "cases", "dogs_640x480", "image.png")
	var out, errb bytes.Buffer
	if err := run(context.Background(), []string{"-model", fixture.TinyDir(), "-image", c, "-question", "How many dogs are there?"}, &out, &errb); err != nil {
		t.Fatal(err)
	}
	if out.String() != "wild\n" {
		t.Fatalf("answer %q", out.String())
	}
	for _, args := range [][]string{
		{"-model", fixture.TinyDir(), "-image", c},                                                               // no -question
		{"-model", fixture.TinyDir(), "-image", "nope.png", "-question", "x"},                                    // no file
		{"-model", fixture.TinyDir(), "-image", filepath.Join(fixture.TinyDir(), "vocab.txt"), "-question", "x"}, // not an image
		{"-model", "/nonexistent", "-image", c, "-question", "x"},
		{"-model", fixture.TinyDir(), "-image", c, "-question", "x", "-max-tokens", "0"},
		{"-model", fixture.TinyDir(), "-image", c, "-question", strings.Repeat("why? ", 2000)},
		{"-model", fixture.TinyDir(), "-image", "/dev/zero", "-question", "x"}, // never ends: cut at 256 MiB
	} {
		out.Reset()
		errb.Reset()
		if err := run(context.Background(), args, &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}
