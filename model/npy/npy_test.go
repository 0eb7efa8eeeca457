package npy

import (
	"bytes"
	"reflect"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, a := range []*Array{
		{Shape: []int{2, 3}, Float32: []float32{1, 2, 3, 4, 5, 6.5}},
		{Shape: []int{4}, Int64: []int64{101, 2054, -1, 0}},
		{Shape: []int{1, 1, 3}, Uint8: []uint8{0, 128, 255}},
	} {
		var buf bytes.Buffer
		if err := Write(&buf, a); err != nil {
			t.Fatal(err)
		}
		if hdr := buf.Len() - len(buf.Bytes()[buf.Len()-dataBytes(a):]); hdr%64 != 0 {
			t.Fatalf("header of %d bytes is not 64-aligned as numpy writes it", hdr)
		}
		b, err := Read(&buf)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("%+v became %+v", a, b)
		}
	}
}

func TestRejectsWhatItCannotRead(t *testing.T) {
	for name, data := range map[string]string{
		"empty":   "",
		"magic":   "\x93NUMPX\x01\x00",
		"fortran": "\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': True, 'shape': (1,), }",
		"dtype":   "\x93NUMPY\x01\x00\x46\x00{'descr': '<c8', 'fortran_order': False, 'shape': (1,), }",
		"short":   "\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (9,), }",
	} {
		if _, err := Read(bytes.NewReader([]byte(data))); err == nil {
			t.Errorf("%s: read", name)
		}
	}
	if err := Write(&bytes.Buffer{}, &Array{Shape: []int{3}, Float32: []float32{1}}); err == nil {
		t.Error("wrote a shape that does not match the data")
	}
}

func dataBytes(a *Array) int {
	switch {
	case a.Float32 != nil:
		return 4 * len(a.Float32)
	case a.Int64 != nil:
		return 8 * len(a.Int64)
	}
	return len(a.Uint8)
}
