package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"gitvqa/model/convert"
	"gitvqa/model/fixture"
)

// Every folder with a manifest is listed with its size and task; the default is kept
// unless one is asked for.
func TestIndex(t *testing.T) {
	dir := t.TempDir()
	in, closeIn, err := convert.OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeIn()
	for name, task := range map[string]string{"a-vqa": "vqa", "b-captions": "caption"} {
		if _, err := convert.Convert(in, filepath.Join(dir, name), convert.Options{Task: task, Description: name}); err != nil {
			t.Fatal(err)
		}
	}
	os.Mkdir(filepath.Join(dir, "not-a-model"), 0o755)
	read := func() Index {
		var ix Index
		b, err := os.ReadFile(filepath.Join(dir, "index.json"))
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(b, &ix); err != nil {
			t.Fatal(err)
		}
		return ix
	}
	if err := run([]string{dir}); err != nil {
		t.Fatal(err)
	}
	ix := read()
	if len(ix.Models) != 2 || ix.Default != "models/a-vqa/" {
		t.Fatalf("%+v", ix)
	}
	if m := ix.Models[1]; m.Path != "models/b-captions/" || m.Task != "caption" || m.Bytes <= 0 || m.Description != "b-captions" || m.DType != "int8" {
		t.Fatalf("%+v", m)
	}
	if err := run([]string{"-default", "models/b-captions/", dir}); err != nil {
		t.Fatal(err)
	}
	if err := run([]string{dir}); err != nil || read().Default != "models/b-captions/" {
		t.Fatalf("the default was not kept: %+v %v", read(), err)
	}
	// A default whose folder is gone is not kept: the page would load nothing.
	os.RemoveAll(filepath.Join(dir, "b-captions"))
	if err := run([]string{dir}); err != nil || read().Default != "models/a-vqa/" || len(read().Models) != 1 {
		t.Fatalf("after its folder went: %+v %v", read(), err)
	}
}
