package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/model/modelfile"
)

func convertTo(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(append([]string{"-in", fixture.TinyDir(), "-out", dir, "-q"}, args...), &out, &errb); err != nil {
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
		{"-in", "/nonexistent", "-out", t.TempDir()},
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
