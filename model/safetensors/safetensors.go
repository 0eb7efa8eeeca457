// Package safetensors reads (and, for tests and tools, writes) the safetensors format:
// an 8-byte little-endian header length, a JSON header naming each tensor's dtype, shape
// and byte range, then the raw little-endian data. Every range is checked against the
// file before use, so a truncated or hostile file gives an error, never a panic.
package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"
)

// MaxHeaderBytes bounds the JSON header; real checkpoints use well under 1 MB.
const MaxHeaderBytes = 100 << 20

// Info describes one tensor in the file.
type Info struct {
	Name  string
	DType string // F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL
	Shape []int
	Begin int64 // byte offsets relative to the start of the data section
	End   int64
}

// Elements is the product of the shape.
func (i Info) Elements() int64 {
	n := int64(1)
	for _, d := range i.Shape {
		n *= int64(d)
	}
	return n
}

// File is an opened safetensors file; tensors are read on demand.
type File struct {
	Metadata map[string]string
	tensors  map[string]Info
	names    []string // in data order
	r        io.ReaderAt
	data     int64 // offset of the data section in r
	closer   io.Closer
}

var dtypeSize = map[string]int64{
	"F64": 8, "F32": 4, "F16": 2, "BF16": 2,
	"I64": 8, "I32": 4, "I16": 2, "I8": 1, "U8": 1, "BOOL": 1,
}

// Open opens the file at path.
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("safetensors: %s is not a regular file", path)
	}
	sf, err := New(f, st.Size())
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	sf.closer = f
	return sf, nil
}

// New parses the header of a safetensors file of the given size read through r.
func New(r io.ReaderAt, size int64) (*File, error) {
	if size < 8 {
		return nil, fmt.Errorf("safetensors: file of %d bytes is too short", size)
	}
	var lb [8]byte
	if _, err := r.ReadAt(lb[:], 0); err != nil {
		return nil, fmt.Errorf("safetensors: reading header length: %w", err)
	}
	hlen := binary.LittleEndian.Uint64(lb[:])
	if hlen > MaxHeaderBytes || int64(hlen) > size-8 {
		return nil, fmt.Errorf("safetensors: header length %d does not fit a file of %d bytes (truncated or not a safetensors file)", hlen, size)
	}
	hdr := make([]byte, hlen)
	if _, err := r.ReadAt(hdr, 8); err != nil {
		return nil, fmt.Errorf("safetensors: reading header: %w", err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(hdr, &raw); err != nil {
		return nil, fmt.Errorf("safetensors: header is not valid JSON: %w", err)
	}
	f := &File{tensors: map[string]Info{}, r: r, data: 8 + int64(hlen)}
	dataLen := size - f.data
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &f.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors: bad __metadata__: %w", err)
			}
			continue
		}
		var e struct {
			DType   string  `json:"dtype"`
			Shape   []int64 `json:"shape"`
			Offsets []int64 `json:"data_offsets"`
		}
		if err := json.Unmarshal(msg, &e); err != nil {
			return nil, fmt.Errorf("safetensors: tensor %q: %w", name, err)
		}
		es, ok := dtypeSize[e.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors: tensor %q has unknown dtype %q", name, e.DType)
		}
		if len(e.Offsets) != 2 {
			return nil, fmt.Errorf("safetensors: tensor %q needs two data_offsets", name)
		}
		n := int64(1)
		shape := make([]int, len(e.Shape))
		for i, d := range e.Shape {
			if d < 0 || (d > 0 && n > math.MaxInt32*int64(64)/d) {
				return nil, fmt.Errorf("safetensors: tensor %q has a bad shape %v", name, e.Shape)
			}
			n *= d
			shape[i] = int(d)
		}
		b, end := e.Offsets[0], e.Offsets[1]
		if b < 0 || end < b || end > dataLen {
			return nil, fmt.Errorf("safetensors: tensor %q bytes [%d,%d) lie outside the %d data bytes (truncated file?)", name, b, end, dataLen)
		}
		if end-b != n*es {
			return nil, fmt.Errorf("safetensors: tensor %q has %d bytes, its shape %v of %s needs %d", name, end-b, e.Shape, e.DType, n*es)
		}
		f.tensors[name] = Info{Name: name, DType: e.DType, Shape: shape, Begin: b, End: end}
	}
	for n := range f.tensors {
		f.names = append(f.names, n)
	}
	sort.Slice(f.names, func(i, j int) bool {
		a, b := f.tensors[f.names[i]], f.tensors[f.names[j]]
		if a.Begin != b.Begin {
			return a.Begin < b.Begin
		}
		return a.Name < b.Name
	})
	return f, nil
}

// Close releases the underlying file when Open opened it.
func (f *File) Close() error {
	if f.closer != nil {
		return f.closer.Close()
	}
	return nil
}

// Names lists the tensors in data order.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Info returns a tensor's description.
func (f *File) Info(name string) (Info, bool) {
	i, ok := f.tensors[name]
	return i, ok
}

// Raw returns a tensor's bytes as stored.
func (f *File) Raw(name string) ([]byte, error) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	buf := make([]byte, i.End-i.Begin)
	if _, err := f.r.ReadAt(buf, f.data+i.Begin); err != nil {
		return nil, fmt.Errorf("safetensors: reading %q: %w", name, err)
	}
	return buf, nil
}

// Float32 returns a floating-point tensor converted to float32 (F32, F16, BF16, F64).
func (f *File) Float32(name string) ([]float32, error) {
	i, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("safetensors: no tensor %q", name)
	}
	raw, err := f.Raw(name)
	if err != nil {
		return nil, err
	}
	out := make([]float32, i.Elements())
	switch i.DType {
	case "F32":
		for k := range out {
			out[k] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*k:]))
		}
	case "F16":
		for k := range out {
			out[k] = Float16(binary.LittleEndian.Uint16(raw[2*k:]))
		}
	case "BF16":
		for k := range out {
			out[k] = math.Float32frombits(uint32(binary.LittleEndian.Uint16(raw[2*k:])) << 16)
		}
	case "F64":
		for k := range out {
			out[k] = float32(math.Float64frombits(binary.LittleEndian.Uint64(raw[8*k:])))
		}
	default:
		return nil, fmt.Errorf("safetensors: tensor %q is %s, not a floating-point type", name, i.DType)
	}
	return out, nil
}

// Float16 converts IEEE 754 half-precision bits to float32.
func Float16(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0 && mant == 0:
		return math.Float32frombits(sign)
	case exp == 0: // subnormal
		return float32(math.Copysign(float64(mant)*math.Pow(2, -24), float64(int32(sign)>>31|1)))
	case exp == 31:
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | mant<<13)
}

// Tensor is one entry to write.
type Tensor struct {
	Name  string
	DType string
	Shape []int
	Data  []byte // little-endian, len = elements × dtype size
}

// F32 makes a float32 Tensor.
func F32(name string, shape []int, data []float32) Tensor {
	b := make([]byte, 4*len(data))
	for i, v := range data {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(v))
	}
	return Tensor{Name: name, DType: "F32", Shape: shape, Data: b}
}

// Write encodes tensors in the given order, header padded with spaces to 8 bytes as
// the reference implementation does.
func Write(w io.Writer, tensors []Tensor, metadata map[string]string) error {
	hdr := map[string]any{}
	if metadata != nil {
		hdr["__metadata__"] = metadata
	}
	var off int64
	for _, t := range tensors {
		n := int64(len(t.Data))
		shape := t.Shape
		if shape == nil {
			shape = []int{}
		}
		hdr[t.Name] = map[string]any{"dtype": t.DType, "shape": shape, "data_offsets": []int64{off, off + n}}
		off += n
	}
	js, err := json.Marshal(hdr)
	if err != nil {
		return err
	}
	js = append(js, bytes.Repeat([]byte(" "), (8-len(js)%8)%8)...)
	var lb [8]byte
	binary.LittleEndian.PutUint64(lb[:], uint64(len(js)))
	if _, err := w.Write(lb[:]); err != nil {
		return err
	}
	if _, err := w.Write(js); err != nil {
		return err
	}
	for _, t := range tensors {
		if _, err := w.Write(t.Data); err != nil {
			return err
		}
	}
	return nil
}
