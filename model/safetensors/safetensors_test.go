package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"reflect"
	"strings"
	"testing"
)

func encode(t testing.TB, ts []Tensor) []byte {
	var buf bytes.Buffer
	if err := Write(&buf, ts, map[string]string{"format": "pt"}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	data := encode(t, []Tensor{F32("b", []int{2, 2}, []float32{1, -2, 3.5, 0}), F32("a", []int{}, []float32{9})})
	if len(data)%8 != 0 && (8+int(binary.LittleEndian.Uint64(data)))%8 != 0 {
		t.Fatal("header not padded to 8 bytes")
	}
	f, err := New(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["format"] != "pt" {
		t.Fatalf("metadata %v", f.Metadata)
	}
	if !reflect.DeepEqual(f.Names(), []string{"b", "a"}) {
		t.Fatalf("names in data order: %v", f.Names())
	}
	v, err := f.Float32("b")
	if err != nil || !reflect.DeepEqual(v, []float32{1, -2, 3.5, 0}) {
		t.Fatalf("%v %v", v, err)
	}
	if _, err := f.Float32("zzz"); err == nil {
		t.Fatal("missing tensor read")
	}
}

func TestHalfPrecision(t *testing.T) {
	for bits, want := range map[uint16]float32{0x3c00: 1, 0xc000: -2, 0x7bff: 65504, 0x0001: 5.9604645e-8, 0x8000: float32(math.Copysign(0, -1)), 0x3555: 0.33325195} {
		if got := Float16(bits); got != want {
			t.Errorf("Float16(%#x) = %g, want %g", bits, got, want)
		}
	}
	if !math.IsInf(float64(Float16(0x7c00)), 1) || !math.IsNaN(float64(Float16(0x7e00))) {
		t.Error("inf/nan")
	}
	data := encode(t, []Tensor{
		{Name: "h", DType: "F16", Shape: []int{2}, Data: []byte{0x00, 0x3c, 0x00, 0xc0}},
		{Name: "b", DType: "BF16", Shape: []int{1}, Data: []byte{0x80, 0x3f}},
	})
	f, err := New(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := f.Float32("h"); !reflect.DeepEqual(v, []float32{1, -2}) {
		t.Fatalf("F16 %v", v)
	}
	if v, _ := f.Float32("b"); !reflect.DeepEqual(v, []float32{1}) {
		t.Fatalf("BF16 %v", v)
	}
}

func TestMalformedFiles(t *testing.T) {
	good := encode(t, []Tensor{F32("w", []int{2}, []float32{1, 2})})
	header := func(js string) []byte {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint64(b, uint64(len(js)))
		return append(append(b, js...), make([]byte, 8)...)
	}
	for name, c := range map[string]struct {
		data []byte
		want string
	}{
		"empty":          {nil, "too short"},
		"truncated":      {good[:len(good)-1], "outside"},
		"huge header":    {[]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, '{', '}'}, "header length"},
		"not json":       {header("{nope"), "not valid JSON"},
		"unknown dtype":  {header(`{"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}}`), "unknown dtype"},
		"size mismatch":  {header(`{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}`), "needs 12"},
		"negative dim":   {header(`{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}`), "bad shape"},
		"reversed range": {header(`{"w":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}}`), "outside"},
		"one offset":     {header(`{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}`), "two data_offsets"},
		"overflow":       {header(`{"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}}`), "bad shape"},
	} {
		_, err := New(bytes.NewReader(c.data), int64(len(c.data)))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
}

func FuzzReader(f *testing.F) {
	f.Add(encode(f, []Tensor{F32("w", []int{2, 1}, []float32{1, 2})}))
	f.Add(encode(f, []Tensor{{Name: "h", DType: "F16", Shape: []int{1}, Data: []byte{0, 0x3c}}, {Name: "i", DType: "I64", Shape: []int{}, Data: make([]byte, 8)}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		sf, err := New(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		for _, n := range sf.Names() {
			info, _ := sf.Info(n)
			raw, err := sf.Raw(n)
			if err != nil {
				t.Fatalf("%s: accepted header, unreadable data: %v", n, err)
			}
			if int64(len(raw)) != info.End-info.Begin {
				t.Fatalf("%s: %d bytes", n, len(raw))
			}
			if v, err := sf.Float32(n); err == nil && int64(len(v)) != info.Elements() {
				t.Fatalf("%s: %d values for %d elements", n, len(v), info.Elements())
			}
		}
	})
}
