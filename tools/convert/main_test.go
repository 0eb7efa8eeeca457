package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/modelfile"
	"gitvqa/model/safetensors"
)

func convertTo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append([]string{"-in", fixture.TinyDir(), "-out", dir, "-q", "-task", "vqa"}, args...), &out, &errb); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	return out.String()
}

func files(t *testing.T, dir string) map[string][]byte {
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string][]byte{}
	for _, e := range entries {
		b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		m[e.Name()] = b
	}
	return m
}

func TestDeterministicAndReportsSize(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	out := convertTo(t, a, "-chunk-mib", "1")
	convertTo(t, b, "-chunk-mib", "1")
	if !strings.Contains(out, "bytes (0.005 GB)") || !strings.Contains(out, "int8 per output channel") {
		t.Fatalf("summary %q", out)
	}
	fa, fb := files(t, a), files(t, b)
	if len(fa) != len(fb) || len(fa) < 3 {
		t.Fatalf("%d files vs %d", len(fa), len(fb))
	}
	for name, data := range fa {
		if !bytes.Equal(data, fb[name]) {
			t.Fatalf("%s differs between two conversions", name)
		}
	}
}

// Converting again into the same folder replaces it completely: no stale chunks.
func TestReconvertRemovesStaleChunks(t *testing.T) {
	dir := t.TempDir()
	convertTo(t, dir, "-chunk-mib", "1")
	convertTo(t, dir, "-chunk-mib", "2", "-group", "32")
	m, err := modelfile.ReadManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if m.Group != 32 || len(files(t, dir)) != len(m.Chunks)+2 {
		t.Fatalf("group %d, %d files for %d chunks", m.Group, len(files(t, dir)), len(m.Chunks))
	}
}

func TestRandomTiny(t *testing.T) {
	dir := t.TempDir()
	var out, errb bytes.Buffer
	tiny := fixture.TinyDir()
	args := []string{"-random", filepath.Join(tiny, "config.json"), "-vocab", filepath.Join(tiny, "vocab.txt"), "-seed", "7", "-out", dir, "-dtype", "f32", "-q"}
	if err := run(args, &out, &errb); err != nil {
		t.Fatalf("%v %s", err, errb.String())
	}
	if _, err := modelfile.ReadManifest(dir); err != nil {
		t.Fatal(err)
	}
}

func TestBadFlags(t *testing.T) {
	for _, args := range [][]string{
		{"-out", t.TempDir()},
		{"-in", fixture.TinyDir()},
		{"-in", fixture.TinyDir(), "-random", "large", "-out", t.TempDir()},
		{"-in", fixture.TinyDir(), "-out", t.TempDir(), "-dtype", "int4"},
		{"-in", fixture.TinyDir(), "-out", t.TempDir(), "-chunk-mib", "0"},
		{"-in", "/nonexistent", "-out", t.TempDir(), "-task", "vqa"},
		// A folder whose name does not say the task (testdata/tiny): it must be given.
		{"-in", fixture.TinyDir(), "-out", t.TempDir()},
		{"-in", fixture.TinyDir(), "-out", t.TempDir(), "-task", "both"},
		{"-random", "huge", "-vocab", filepath.Join(fixture.TinyDir(), "vocab.txt"), "-out", t.TempDir()},
		// Nothing defaults to a file of this checkout: a built binary has none.
		{"-random", "large", "-out", t.TempDir()},
	} {
		var out, errb bytes.Buffer
		if err := run(append(args, "-q"), &out, &errb); err == nil {
			t.Errorf("%q: no error", args)
		}
	}
}

// hfCopy links the tiny checkpoint's files into a new folder, writing over the ones
// given (nil: leave the file out).
func hfCopy(t *testing.T, over map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	entries, _ := os.ReadDir(fixture.TinyDir())
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if b, ok := over[e.Name()]; ok {
			if b != nil {
				os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
			}
			continue
		}
		os.Symlink(filepath.Join(fixture.TinyDir(), e.Name()), filepath.Join(dir, e.Name()))
	}
	return dir
}

// A conversion that fails, for any reason, leaves the folder it was writing into as it
// was: the model there keeps loading, and nothing of the failed run is left.
func TestFailedConversionKeepsTheWorkingFolder(t *testing.T) {
	dir := t.TempDir()
	convertTo(t, dir, "-chunk-mib", "1")
	before := files(t, dir)
	vocab, _ := os.ReadFile(filepath.Join(fixture.TinyDir(), "vocab.txt"))
	short := vocab[:bytes.LastIndex(vocab[:len(vocab)-1], []byte("\n"))+1] // one token fewer
	st, _ := os.ReadFile(filepath.Join(fixture.TinyDir(), "model.safetensors"))
	// A checkpoint without the last decoder layer's output LayerNorm: the conversion
	// has written most chunks when it finds out.
	f, err := safetensors.Open(filepath.Join(fixture.TinyDir(), "model.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var kept []safetensors.Tensor
	for _, n := range f.Names() {
		if n != "git.encoder.layer.1.output.LayerNorm.weight" {
			info, _ := f.Info(n)
			raw, _ := f.Raw(n)
			kept = append(kept, safetensors.Tensor{Name: n, DType: info.DType, Shape: info.Shape, Data: raw})
		}
	}
	f.Close()
	var missing bytes.Buffer
	if err := safetensors.Write(&missing, kept, nil); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		in   string
		want string
	}{
		"a vocabulary shorter than the config's": {hfCopy(t, map[string][]byte{"vocab.txt": short}), "vocab.txt has 30521 tokens, config.json says 30522"},
		"a truncated checkpoint":                 {hfCopy(t, map[string][]byte{"model.safetensors": st[:len(st)/2]}), "safetensors"},
		"no weights at all":                      {hfCopy(t, map[string][]byte{"model.safetensors": nil}), "neither model.safetensors nor pytorch_model.bin"},
		"a tensor missing halfway":               {hfCopy(t, map[string][]byte{"model.safetensors": missing.Bytes()}), `no tensor "git.encoder.layer.1.output.LayerNorm.weight"`},
	} {
		var out, errb bytes.Buffer
		err := run([]string{"-in", c.in, "-out", dir, "-q", "-chunk-mib", "2", "-task", "vqa"}, &out, &errb)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
		after := files(t, dir)
		if len(after) != len(before) {
			t.Errorf("%s: %d files before, %d after", name, len(before), len(after))
		}
		for f, b := range before {
			if !bytes.Equal(after[f], b) {
				t.Errorf("%s: %s changed", name, f)
			}
		}
	}
	if _, err := hf.LoadDir(dir); err != nil {
		t.Fatalf("the folder no longer loads: %v", err)
	}
}
