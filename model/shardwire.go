package model

import (
	"encoding/binary"
	"fmt"
	"unsafe"

	"gitvqa/model/kernels"
)

// A shard's share of a vision layer travels to its worker as one buffer: each tensor in
// the order of VisionLayer's fields, a vector as its length then its float32s, a matrix
// as rows, cols, group (0: float32) then its values and scales, every field 4-byte
// aligned. Decoding makes views of the buffer, not copies: the worker that receives a
// shard holds its weights once.

// EncodeShardLayer appends a layer's share to buf.
func EncodeShardLayer(buf []byte, l *VisionLayer) []byte {
	w := wire{buf}
	w.norm(l.Norm1)
	for _, x := range []*Linear{&l.Q, &l.K, &l.V, &l.O} {
		w.linear(x)
	}
	w.norm(l.Norm2)
	w.linear(&l.FC1)
	w.linear(&l.FC2)
	return w.b
}

// DecodeShardLayer reads a layer's share; its weights are views of b.
func DecodeShardLayer(b []byte) (VisionLayer, error) {
	r := &reader{b: b}
	var l VisionLayer
	l.Norm1 = r.norm()
	for _, x := range []*Linear{&l.Q, &l.K, &l.V, &l.O} {
		*x = r.linear()
	}
	l.Norm2 = r.norm()
	l.FC1 = r.linear()
	l.FC2 = r.linear()
	if r.err == nil && r.off != len(b) {
		r.err = fmt.Errorf("shard layer: %d bytes left over", len(b)-r.off)
	}
	return l, r.err
}

// EncodeShardDecoderLayer appends a decoder layer's share (ShardDecoderLayer) to buf:
// its linear layers in the order of DecoderLayer's fields (the norms stay behind).
func EncodeShardDecoderLayer(buf []byte, l *DecoderLayer) []byte {
	w := wire{buf}
	for _, x := range []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.FFNIn, &l.FFNOut} {
		w.linear(x)
	}
	return w.b
}

// DecodeShardDecoderLayer reads a decoder layer's share; its weights are views of b.
func DecodeShardDecoderLayer(b []byte) (DecoderLayer, error) {
	r := &reader{b: b}
	var l DecoderLayer
	for _, x := range []*Linear{&l.Q, &l.K, &l.V, &l.O, &l.FFNIn, &l.FFNOut} {
		*x = r.linear()
	}
	if r.err == nil && r.off != len(b) {
		r.err = fmt.Errorf("shard layer: %d bytes left over", len(b)-r.off)
	}
	return l, r.err
}

type wire struct{ b []byte }

func (w *wire) u32(v int) { w.b = binary.LittleEndian.AppendUint32(w.b, uint32(v)) }

func (w *wire) raw(p unsafe.Pointer, n int) {
	if n > 0 {
		w.b = append(w.b, unsafe.Slice((*byte)(p), n)...)
	}
	for len(w.b)%4 != 0 {
		w.b = append(w.b, 0)
	}
}

func (w *wire) f32s(v []float32) {
	w.u32(len(v))
	if len(v) > 0 {
		w.raw(unsafe.Pointer(&v[0]), 4*len(v))
	}
}

func (w *wire) norm(n Norm) { w.f32s(n.Gamma); w.f32s(n.Beta) }

func (w *wire) linear(l *Linear) {
	m := &l.W
	w.u32(m.Rows)
	w.u32(m.Cols)
	if !m.Quantized() {
		w.u32(0)
		w.f32s(m.F32)
	} else {
		w.u32(m.Group)
		w.u32(len(m.Q8))
		if len(m.Q8) > 0 {
			w.raw(unsafe.Pointer(&m.Q8[0]), len(m.Q8))
		}
		w.f32s(m.Scales)
	}
	w.f32s(l.B)
}

type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) u32() int {
	if r.err != nil || r.off+4 > len(r.b) {
		r.fail()
		return 0
	}
	v := int(binary.LittleEndian.Uint32(r.b[r.off:]))
	r.off += 4
	return v
}

func (r *reader) fail() {
	if r.err == nil {
		r.err = fmt.Errorf("shard layer: truncated at byte %d of %d", r.off, len(r.b))
	}
}

// take returns the next n bytes, advancing past their padding.
func (r *reader) take(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.fail()
		return nil
	}
	p := r.b[r.off : r.off+n : r.off+n]
	r.off += (n + 3) &^ 3
	return p
}

func (r *reader) f32s() []float32 {
	n := r.u32()
	if n == 0 || r.err != nil {
		return nil
	}
	return viewF32(r.take(4 * n))
}

func (r *reader) norm() Norm { return Norm{Gamma: r.f32s(), Beta: r.f32s()} }

func (r *reader) linear() Linear {
	m := kernels.Matrix{Rows: r.u32(), Cols: r.u32()}
	if g := r.u32(); g == 0 {
		m.F32 = r.f32s()
	} else {
		m.Group = g
		if n := r.u32(); n > 0 {
			q := r.take(n)
			if q != nil {
				m.Q8 = unsafe.Slice((*int8)(unsafe.Pointer(&q[0])), n)
			}
		}
		m.Scales = r.f32s()
	}
	l := Linear{W: m, B: r.f32s()}
	if r.err == nil && (m.Rows*m.Cols != len(m.F32)+len(m.Q8) || l.B != nil && len(l.B) != m.Rows) {
		r.err = fmt.Errorf("shard layer: a %d×%d matrix with %d values", m.Rows, m.Cols, len(m.F32)+len(m.Q8))
	}
	return l
}

// viewF32 is b as float32s: in place when aligned (the buffer is 4-aligned as Go
// allocates it, and so are its fields), else a copy.
func viewF32(b []byte) []float32 {
	if len(b) == 0 {
		return nil
	}
	if uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return out
}

func float32frombits(u uint32) float32 { return *(*float32)(unsafe.Pointer(&u)) }
