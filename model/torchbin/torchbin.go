// Package torchbin reads PyTorch state-dict checkpoints (pytorch_model.bin in torch.save's
// zip format, PyTorch ≥ 1.6) through github.com/nlpodyssey/gopickle, after checking
// that nothing in the file asks for more memory than the file holds (guard.go). The
// whole file is loaded into memory, which is what torch.load does too; prefer
// model.safetensors where a checkpoint ships both.
package torchbin

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// File is a loaded state dict.
type File struct {
	tensors map[string]*pytorch.Tensor
	names   []string
}

// Open loads the checkpoint at path.
func Open(path string) (f *File, err error) {
	defer func() {
		// gopickle trusts the file; a hostile pickle must not take the process down.
		if r := recover(); r != nil {
			f, err = nil, fmt.Errorf("torchbin: %s: malformed checkpoint: %v", path, r)
		}
	}()
	if err := checkMagic(path); err != nil {
		return nil, err
	}
	if err := guard(path); err != nil {
		return nil, fmt.Errorf("torchbin: %s: %w", path, err)
	}
	obj, err := pytorch.Load(path)
	if err != nil {
		return nil, fmt.Errorf("torchbin: %s: %w", path, err)
	}
	f = &File{tensors: map[string]*pytorch.Tensor{}}
	add := func(k, v any) error {
		name, ok := k.(string)
		if !ok {
			return fmt.Errorf("torchbin: %s: state dict key %v is not a string", path, k)
		}
		t, ok := v.(*pytorch.Tensor)
		if !ok {
			return fmt.Errorf("torchbin: %s: %q is not a tensor", path, name)
		}
		f.tensors[name] = t
		f.names = append(f.names, name)
		return nil
	}
	switch d := obj.(type) {
	case *types.OrderedDict:
		for e := d.List.Front(); e != nil; e = e.Next() {
			entry := e.Value.(*types.OrderedDictEntry)
			if err := add(entry.Key, entry.Value); err != nil {
				return nil, err
			}
		}
	case *types.Dict:
		for _, entry := range *d {
			if err := add(entry.Key, entry.Value); err != nil {
				return nil, err
			}
		}
	default:
		return nil, fmt.Errorf("torchbin: %s: top level is %T, not a state dict", path, obj)
	}
	sort.Strings(f.names)
	return f, nil
}

// Torch files start with a zip header, or (before PyTorch 1.6) with the pickled magic
// number 0x1950a86a20f9469cfc6c. That legacy format is refused with a clear message: its
// storages follow the pickles with sizes nothing bounds, and every GIT checkpoint on the
// hub is newer. gopickle loops forever on some other inputs (an empty file among them),
// so anything else is refused up front too.
var (
	zipMagic    = []byte("PK\x03\x04")
	legacyMagic = []byte{0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19}
)

func checkMagic(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	head := make([]byte, len(legacyMagic))
	n, _ := io.ReadFull(f, head)
	if bytes.Equal(head[:n], legacyMagic) {
		return fmt.Errorf("torchbin: %s is in the legacy (PyTorch < 1.6) format, which is not supported: use the checkpoint's model.safetensors, or re-save it with a newer torch.save", path)
	}
	if bytes.HasPrefix(head[:n], zipMagic) {
		return nil
	}
	return fmt.Errorf("torchbin: %s is not a PyTorch checkpoint (%d bytes read)", path, n)
}

// Names lists the tensors, sorted.
func (f *File) Names() []string { return append([]string(nil), f.names...) }

// Shape returns a tensor's shape.
func (f *File) Shape(name string) ([]int, bool) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, false
	}
	return append([]int(nil), t.Size...), true
}

// Float32 returns a floating-point tensor as a dense row-major float32 slice, following
// its storage offset and strides.
func (f *File) Float32(name string) ([]float32, error) {
	t, ok := f.tensors[name]
	if !ok {
		return nil, fmt.Errorf("torchbin: no tensor %q", name)
	}
	var src []float32
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		src = s.Data
	case *pytorch.HalfStorage:
		src = s.Data
	case *pytorch.BFloat16Storage:
		src = s.Data
	case *pytorch.DoubleStorage:
		src = make([]float32, len(s.Data))
		for i, v := range s.Data {
			src[i] = float32(v)
		}
	default:
		return nil, fmt.Errorf("torchbin: tensor %q has storage %T, not a floating-point type", name, t.Source)
	}
	n := 1
	for _, d := range t.Size {
		if d < 0 || (d > 0 && n > len(src)/d) {
			return nil, fmt.Errorf("torchbin: tensor %q has shape %v, more than its storage of %d holds", name, t.Size, len(src))
		}
		n *= d
	}
	if len(t.Stride) != len(t.Size) {
		return nil, fmt.Errorf("torchbin: tensor %q: %d strides for %d dims", name, len(t.Stride), len(t.Size))
	}
	out := make([]float32, n)
	idx := make([]int, len(t.Size))
	for i := range out {
		off := t.StorageOffset
		for d, v := range idx {
			off += v * t.Stride[d]
		}
		if off < 0 || off >= len(src) {
			return nil, fmt.Errorf("torchbin: tensor %q reaches outside its storage", name)
		}
		out[i] = src[off]
		for d := len(idx) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < t.Size[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}
