// Package npy reads and writes the subset of NumPy's .npy format the fixtures use:
// format 1.0/2.0, C order, little-endian, no pickle; dtypes uint8, int64, float32.
package npy

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// Array is a decoded .npy file. Exactly one of the data slices is set.
type Array struct {
	Shape   []int
	Uint8   []uint8
	Int64   []int64
	Float32 []float32
}

// Len is the number of elements the shape describes.
func (a *Array) Len() int {
	n := 1
	for _, d := range a.Shape {
		n *= d
	}
	return n
}

var magic = []byte("\x93NUMPY")

var (
	descrRe = regexp.MustCompile(`'descr'\s*:\s*'([^']*)'`)
	orderRe = regexp.MustCompile(`'fortran_order'\s*:\s*(True|False)`)
	shapeRe = regexp.MustCompile(`'shape'\s*:\s*\(([^)]*)\)`)
)

// Read parses an .npy file from r.
func Read(r io.Reader) (*Array, error) {
	pre := make([]byte, 8)
	if _, err := io.ReadFull(r, pre); err != nil {
		return nil, fmt.Errorf("npy: short header: %w", err)
	}
	if !bytes.Equal(pre[:6], magic) {
		return nil, fmt.Errorf("npy: not a .npy file")
	}
	var hlen int
	switch pre[6] {
	case 1:
		b := make([]byte, 2)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("npy: short header: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint16(b))
	case 2, 3:
		b := make([]byte, 4)
		if _, err := io.ReadFull(r, b); err != nil {
			return nil, fmt.Errorf("npy: short header: %w", err)
		}
		hlen = int(binary.LittleEndian.Uint32(b))
		if hlen > 1<<20 {
			return nil, fmt.Errorf("npy: header of %d bytes is too large", hlen)
		}
	default:
		return nil, fmt.Errorf("npy: unsupported format version %d", pre[6])
	}
	h := make([]byte, hlen)
	if _, err := io.ReadFull(r, h); err != nil {
		return nil, fmt.Errorf("npy: short header: %w", err)
	}
	hs := string(h)
	d := descrRe.FindStringSubmatch(hs)
	o := orderRe.FindStringSubmatch(hs)
	s := shapeRe.FindStringSubmatch(hs)
	if d == nil || o == nil || s == nil {
		return nil, fmt.Errorf("npy: malformed header %q", hs)
	}
	if o[1] != "False" {
		return nil, fmt.Errorf("npy: Fortran order is not supported")
	}
	a := &Array{Shape: []int{}}
	for _, f := range strings.Split(s[1], ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("npy: bad shape %q", s[1])
		}
		a.Shape = append(a.Shape, n)
	}
	n := a.Len()
	var err error
	switch d[1] {
	case "|u1", "<u1", "u1":
		a.Uint8 = make([]uint8, n)
		_, err = io.ReadFull(r, a.Uint8)
	case "<i8":
		a.Int64 = make([]int64, n)
		err = binary.Read(r, binary.LittleEndian, a.Int64)
	case "<f4":
		a.Float32 = make([]float32, n)
		err = binary.Read(r, binary.LittleEndian, a.Float32)
	default:
		return nil, fmt.Errorf("npy: unsupported dtype %q", d[1])
	}
	if err != nil {
		return nil, fmt.Errorf("npy: short data: %w", err)
	}
	return a, nil
}

// ReadFile parses the .npy file at path.
func ReadFile(path string) (*Array, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	a, err := Read(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return a, nil
}

// Write encodes a as format 1.0, the way numpy.save does.
func Write(w io.Writer, a *Array) error {
	var descr string
	var data []byte
	switch {
	case a.Uint8 != nil:
		descr, data = "|u1", a.Uint8
	case a.Int64 != nil:
		descr = "<i8"
		data = make([]byte, 8*len(a.Int64))
		for i, v := range a.Int64 {
			binary.LittleEndian.PutUint64(data[8*i:], uint64(v))
		}
	case a.Float32 != nil:
		descr = "<f4"
		data = make([]byte, 4*len(a.Float32))
		for i, v := range a.Float32 {
			binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(v))
		}
	default:
		return fmt.Errorf("npy: empty array")
	}
	if a.Len() != len(data)/elemSize(descr) {
		return fmt.Errorf("npy: shape %v does not match %d elements", a.Shape, len(data)/elemSize(descr))
	}
	dims := make([]string, len(a.Shape))
	for i, d := range a.Shape {
		dims[i] = strconv.Itoa(d)
	}
	shape := strings.Join(dims, ", ")
	if len(a.Shape) == 1 {
		shape += ","
	}
	h := fmt.Sprintf("{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, shape)
	// Pad so that magic+version+len+header+newline is a multiple of 64, as numpy does.
	total := len(magic) + 2 + 2 + len(h) + 1
	h += strings.Repeat(" ", (64-total%64)%64) + "\n"
	hdr := append([]byte{}, magic...)
	hdr = append(hdr, 1, 0, byte(len(h)), byte(len(h)>>8))
	hdr = append(hdr, h...)
	if _, err := w.Write(hdr); err != nil {
		return err
	}
	_, err := w.Write(data)
	return err
}

// WriteFile writes a to path.
func WriteFile(path string, a *Array) error {
	var buf bytes.Buffer
	if err := Write(&buf, a); err != nil {
		return err
	}
	return os.WriteFile(path, buf.Bytes(), 0o644)
}

func elemSize(descr string) int {
	switch descr {
	case "<i8":
		return 8
	case "<f4":
		return 4
	}
	return 1
}
