package convert

import (
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"testing"

	"gitvqa/model"
	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/modelfile"
)

func hfInputs(t testing.TB) Inputs {
	t.Helper()
	in, closeSrc, err := OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	if c, ok := t.(interface{ Cleanup(func()) }); ok {
		c.Cleanup(closeSrc)
	}
	return in
}

var folders sync.Map // options → converted folder, shared by the tests

func converted(t *testing.T, o Options) *model.Model {
	t.Helper()
	key := fmt.Sprintf("%s/%d", o.DType, o.Group)
	if m, ok := folders.Load(key); ok {
		return m.(*model.Model)
	}
	dir := t.TempDir()
	o.ChunkBytes = 1 << 20 // several chunks, tensors straddling them
	if _, err := Convert(hfInputs(t), dir, o); err != nil {
		t.Fatal(err)
	}
	m, err := hf.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	folders.Store(key, m)
	return m
}

type run struct {
	ids    []int
	text   string
	logits [][]float32 // per step
}

// ask answers c's question; force, when set, teacher-forces those tokens.
func ask(t *testing.T, m *model.Model, c *fixture.Case, force []int) run {
	t.Helper()
	px, err := c.Pixels(&m.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(nil)
	if err != nil {
		t.Fatal(err)
	}
	var r run
	ans, err := s.Ask(context.Background(), px, c.Question, model.Options{
		MaxTokens: c.MaxTokens,
		Force:     force,
		OnLogits:  func(_ int, l []float32) { r.logits = append(r.logits, append([]float32(nil), l...)) },
	})
	if err != nil {
		t.Fatal(err)
	}
	r.ids, r.text = ans.GeneratedIDs, ans.Text
	return r
}

func cases(t *testing.T) []fixture.Case { return fixture.TinyCases(t) }

// A float32 folder answers exactly as the Hugging Face folder it came from.
func TestF32FolderEqualsCheckpoint(t *testing.T) {
	ref, err := hf.LoadDir(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	f32 := converted(t, Options{DType: "f32"})
	for _, c := range cases(t) {
		want := ask(t, ref, &c, nil)
		got := ask(t, f32, &c, nil)
		if !reflect.DeepEqual(got.ids, c.GeneratedIDs) || got.text != c.Answer {
			t.Errorf("%s: %v %q, want %v %q", c.Name, got.ids, got.text, c.GeneratedIDs, c.Answer)
		}
		if d := fixture.MaxAbsDiff(got.logits[0], want.logits[0]); d > 1e-5 {
			t.Errorf("%s: last logits differ by %g > 1e-5", c.Name, d)
		}
	}
}

// Compare is the int8-vs-float32 report for one case: the first logits' cosine
// similarity and max abs error, and how many steps pick the same top-1 token when both
// models are fed the float32 model's tokens.
type Compare struct {
	Cosine, MaxAbs float64
	Agree, Steps   int
	FirstTokenSame bool
}

// CompareRuns measures q (int8) against f (float32, its own greedy run).
func CompareRuns(f, q [][]float32) Compare {
	c := Compare{Cosine: fixture.Cosine(q[0], f[0]), MaxAbs: fixture.MaxAbsDiff(q[0], f[0]), Steps: len(f)}
	for i := range f {
		if fixture.Argmax(q[i]) == fixture.Argmax(f[i]) {
			c.Agree++
		}
	}
	c.FirstTokenSame = fixture.Argmax(q[0]) == fixture.Argmax(f[0])
	return c
}

// int8 against float32 on the fixtures.
//
// Bounds: symmetric int8 rounds each weight by at most half a step, max|w|/254; for
// Gaussian rows that is ≈1% of a weight's spread, and the errors of a dot product add up
// like noise, not in one direction. Measured on the tiny model, the first logits (spread
// ≈ ±3.5) stay within 0.048 and at cosine ≥ 0.99991 of float32; the bounds below allow
// about 1.6× that. The tiny model's random logits are nearly flat (its best and second
// token differ by as little as 1.5e-3, fixtures README), so an error of 0.05 does flip
// a near-tie now and then: 3 of 79 steps measured, at most 10% allowed. A real
// checkpoint's answers are far from ties; random weights are not the real distribution.
func TestInt8AgainstFloat32OnFixtures(t *testing.T) {
	f32 := converted(t, Options{DType: "f32"})
	for _, o := range []Options{{DType: "int8"}, {DType: "int8", Group: 64}} {
		q := converted(t, o)
		var agree, steps int
		worstCos, worstAbs := 1.0, 0.0
		for _, c := range cases(t) {
			f := ask(t, f32, &c, nil)
			r := ask(t, q, &c, f.ids)
			cmp := CompareRuns(f.logits, r.logits)
			t.Logf("group %d %-22s cosine %.6f  max|Δ| %.4f  top-1 agree %d/%d", o.Group, c.Name, cmp.Cosine, cmp.MaxAbs, cmp.Agree, cmp.Steps)
			agree += cmp.Agree
			steps += cmp.Steps
			worstCos = math.Min(worstCos, cmp.Cosine)
			worstAbs = math.Max(worstAbs, cmp.MaxAbs)
		}
		t.Logf("group %d: worst cosine %.6f, worst max|Δ| %.4f, top-1 agreement %d/%d (%.1f%%)", o.Group, worstCos, worstAbs, agree, steps, 100*float64(agree)/float64(steps))
		if worstCos < 0.9995 || worstAbs > 0.08 || float64(agree) < 0.9*float64(steps) {
			t.Errorf("group %d: int8 drifts from float32 more than expected", o.Group)
		}
	}
}

// A folder whose manifest lost a tensor, or comes from a newer format, is refused
// with a clear error.
func TestBadFoldersAreRefused(t *testing.T) {
	dir := t.TempDir()
	m, err := Convert(hfInputs(t), dir, Options{ChunkBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	write := func(edit func(*modelfile.Manifest)) {
		mm := *m
		mm.Tensors = append([]modelfile.Tensor(nil), m.Tensors...)
		edit(&mm)
		b, _ := json.Marshal(&mm)
		os.WriteFile(filepath.Join(dir, "manifest.json"), b, 0o644)
	}
	write(func(mm *modelfile.Manifest) { mm.Tensors = mm.Tensors[1:] })
	if _, err := hf.LoadDir(dir); err == nil || !strings.Contains(err.Error(), `no tensor "git.image_encoder.vision_model.embeddings.patch_embedding.weight"`) {
		t.Fatalf("missing tensor: %v", err)
	}
	write(func(mm *modelfile.Manifest) { mm.Version = 9 })
	if _, err := hf.LoadDir(dir); err == nil || !strings.Contains(err.Error(), "version 9 is not supported") {
		t.Fatalf("future version: %v", err)
	}
	write(func(*modelfile.Manifest) {})
	if _, err := hf.LoadDir(dir); err != nil {
		t.Fatalf("restored manifest: %v", err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, m.Chunks[2].File))
	b[100] ^= 0x40
	os.WriteFile(filepath.Join(dir, m.Chunks[2].File), b, 0o644)
	if _, err := hf.LoadDir(dir); err == nil || !strings.Contains(err.Error(), "sha256 mismatch") {
		t.Fatalf("altered chunk: %v", err)
	}
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// A file that never ends (here a symlink to /dev/zero) is cut off at its kind's cap
// and refused, costing a bounded amount of memory.
func TestEndlessFilesAreRefused(t *testing.T) {
	if _, err := os.Stat("/dev/zero"); err != nil {
		t.Skip("no /dev/zero")
	}
	folder := t.TempDir()
	in, closeSrc, err := OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	m, err := Convert(in, folder, Options{DType: "f32", ChunkBytes: 1 << 20})
	closeSrc()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		dir, file, want string
	}{
		{"", "config.json", "goes on past the 1048576 bytes"},
		{"", "preprocessor_config.json", "goes on past the 1048576 bytes"},
		{"", "vocab.txt", "goes on past the 16777216 bytes"},
		{"", "model.safetensors", "not a regular file"},
		{folder, "manifest.json", "goes on past the 16777216 bytes"},
		{folder, m.Chunks[0].File, fmt.Sprintf("expected %d", m.Chunks[0].Bytes)},
	} {
		t.Run(c.file, func(t *testing.T) {
			from := c.dir
			if from == "" {
				from = fixture.TinyDir()
			}
			dir := t.TempDir() // the folder, its files linked
			entries, _ := os.ReadDir(from)
			for _, e := range entries {
				os.Symlink(filepath.Join(from, e.Name()), filepath.Join(dir, e.Name()))
			}
			os.Remove(filepath.Join(dir, c.file))
			if err := os.Symlink("/dev/zero", filepath.Join(dir, c.file)); err != nil {
				t.Fatal(err)
			}
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, err := hf.LoadDir(dir)
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 200<<20 {
				t.Fatalf("allocated %d MB refusing an endless %s", grew>>20, c.file)
			}
		})
	}
}
