package torchbin

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"strconv"
)

// Tensor is one state-dict entry to write: exactly one of F32 and I64 is set.
type Tensor struct {
	Name  string
	Shape []int
	F32   []float32
	I64   []int64
}

// Write encodes tensors as torch.save does with its zip format (PyTorch ≥ 1.6): an
// OrderedDict pickled (protocol 2) into archive/data.pkl, each tensor's storage in
// archive/data/N. It exists so tests can exercise the pytorch_model.bin path without
// PyTorch.
func Write(w io.Writer, tensors []Tensor) error {
	var pkl bytes.Buffer
	p := pickler{&pkl}
	pkl.Write([]byte{0x80, 2})
	p.global("collections", "OrderedDict")
	pkl.WriteString(")R")
	pkl.WriteByte('(')
	for i, t := range tensors {
		storage, numel := "FloatStorage", len(t.F32)
		if t.F32 == nil {
			storage, numel = "LongStorage", len(t.I64)
		}
		n := 1
		for _, d := range t.Shape {
			n *= d
		}
		if n != numel {
			return fmt.Errorf("torchbin: %q has %d values for shape %v", t.Name, numel, t.Shape)
		}
		p.str(t.Name)
		p.global("torch._utils", "_rebuild_tensor_v2")
		pkl.WriteByte('(')
		pkl.WriteByte('(')
		p.str("storage")
		p.global("torch", storage)
		p.str(strconv.Itoa(i))
		p.str("cpu")
		p.int(numel)
		pkl.WriteString("tQ") // persistent id tuple → BINPERSID
		p.int(0)              // storage offset
		p.tuple(t.Shape)
		stride := make([]int, len(t.Shape))
		s := 1
		for d := len(t.Shape) - 1; d >= 0; d-- {
			stride[d] = s
			s *= t.Shape[d]
		}
		p.tuple(stride)
		pkl.WriteByte(0x89) // requires_grad=False
		p.global("collections", "OrderedDict")
		pkl.WriteString(")R") // backward hooks
		pkl.WriteString("tR")
	}
	pkl.WriteString("u.")

	z := zip.NewWriter(w)
	put := func(name string, data []byte) error {
		f, err := z.CreateHeader(&zip.FileHeader{Name: "archive/" + name, Method: zip.Store})
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		return err
	}
	if err := put("data.pkl", pkl.Bytes()); err != nil {
		return err
	}
	for i, t := range tensors {
		var b []byte
		if t.F32 != nil {
			b = make([]byte, 4*len(t.F32))
			for j, v := range t.F32 {
				binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
			}
		} else {
			b = make([]byte, 8*len(t.I64))
			for j, v := range t.I64 {
				binary.LittleEndian.PutUint64(b[8*j:], uint64(v))
			}
		}
		if err := put("data/"+strconv.Itoa(i), b); err != nil {
			return err
		}
	}
	if err := put("version", []byte("3\n")); err != nil {
		return err
	}
	return z.Close()
}

type pickler struct{ b *bytes.Buffer }

func (p pickler) global(module, name string) { fmt.Fprintf(p.b, "c%s\n%s\n", module, name) }

func (p pickler) str(s string) {
	p.b.WriteByte('X')
	binary.Write(p.b, binary.LittleEndian, uint32(len(s)))
	p.b.WriteString(s)
}

func (p pickler) int(v int) {
	p.b.WriteByte('J')
	binary.Write(p.b, binary.LittleEndian, int32(v))
}

func (p pickler) tuple(v []int) {
	if len(v) == 0 {
		p.b.WriteByte(')')
		return
	}
	p.b.WriteByte('(')
	for _, x := range v {
		p.int(x)
	}
	p.b.WriteByte('t')
}
