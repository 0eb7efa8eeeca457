package torchbin

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func TestWriteThenRead(t *testing.T) {
	path := filepath.Join(t.TempDir(), "pytorch_model.bin")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	in := []Tensor{
		{Name: "a.weight", Shape: []int{2, 3}, F32: []float32{1, 2, 3, 4, 5, 6}},
		{Name: "a.position_ids", Shape: []int{1, 4}, I64: []int64{0, 1, 2, 3}},
		{Name: "scalar", Shape: []int{}, F32: []float32{7}},
	}
	if err := Write(f, in); err != nil {
		t.Fatal(err)
	}
	f.Close()
	r, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Names(); !reflect.DeepEqual(got, []string{"a.position_ids", "a.weight", "scalar"}) {
		t.Fatalf("names %v", got)
	}
	if s, _ := r.Shape("a.weight"); !reflect.DeepEqual(s, []int{2, 3}) {
		t.Fatalf("shape %v", s)
	}
	v, err := r.Float32("a.weight")
	if err != nil || !reflect.DeepEqual(v, in[0].F32) {
		t.Fatalf("values %v %v", v, err)
	}
	if _, err := r.Float32("a.position_ids"); err == nil {
		t.Fatal("an int64 tensor read as float32")
	}
	if _, err := r.Float32("missing"); err == nil {
		t.Fatal("a missing tensor read")
	}
}

func TestCorruptFiles(t *testing.T) {
	dir := t.TempDir()
	for name, data := range map[string][]byte{
		"empty":   nil,
		"garbage": []byte("PK\x03\x04 this is not a zip"),
		"text":    []byte("hello"),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, data, 0o644)
		if _, err := Open(p); err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}
