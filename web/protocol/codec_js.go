//go:build js && wasm

package protocol

import (
	"fmt"
	"reflect"
	"strings"
	"sync"
	"unsafe"

	"github.com/hack-pad/safejs"

	"gitvqa/web/jsutil"
)

// The codec between Messages and the plain objects postMessage carries, both ways, from
// the structs' json tags: numbers, strings, booleans, arrays and objects as themselves;
// []byte as a Uint8Array and []float32 as a Float32Array (transferred when sent, copied
// into Go when received); Port as a MessagePort.

// Encode turns m into {v, type, ...fields} and the buffers and ports to transfer.
func Encode(m Message) (obj safejs.Value, transfer []any, err error) {
	return encode(m, nil)
}

// encode is Encode filling Float32Arrays from spare where it has them.
func encode(m Message, spare *spareArrays) (obj safejs.Value, transfer []any, err error) {
	e := &encoder{spare: spare}
	obj, err = e.value(reflect.ValueOf(m))
	if err != nil {
		return safejs.Undefined(), nil, fmt.Errorf("encoding %s: %w", m.Type(), err)
	}
	if err := obj.Set("v", Version); err != nil {
		return safejs.Undefined(), nil, err
	}
	if err := obj.Set("type", m.Type()); err != nil {
		return safejs.Undefined(), nil, err
	}
	return obj, e.transfer, nil
}

type encoder struct {
	transfer []any
	spare    *spareArrays
}

func global(name string) safejs.Value {
	v, _ := safejs.Global().Get(name)
	return v
}

func (e *encoder) value(v reflect.Value) (safejs.Value, error) {
	if v.Type() == portType {
		if v.IsNil() {
			return safejs.Null(), nil
		}
		p, ok := v.Interface().(*jsPort)
		if !ok {
			return safejs.Undefined(), fmt.Errorf("a %T cannot travel to JavaScript", v.Interface())
		}
		e.transfer = append(e.transfer, p.port)
		return p.port, nil
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() {
			return safejs.Null(), nil
		}
		return e.value(v.Elem())
	case reflect.Struct:
		obj, err := global("Object").New()
		if err != nil {
			return obj, err
		}
		for i := 0; i < v.NumField(); i++ {
			f := v.Type().Field(i)
			name, omit := jsonName(f)
			if omit && v.Field(i).IsZero() {
				continue
			}
			x, err := e.value(v.Field(i))
			if err != nil {
				return obj, fmt.Errorf("%s: %w", name, err)
			}
			if err := obj.Set(name, x); err != nil {
				return obj, err
			}
		}
		return obj, nil
	case reflect.Map:
		obj, err := global("Object").New()
		if err != nil {
			return obj, err
		}
		it := v.MapRange()
		for it.Next() {
			x, err := e.value(it.Value())
			if err != nil {
				return obj, err
			}
			if err := obj.Set(it.Key().String(), x); err != nil {
				return obj, err
			}
		}
		return obj, nil
	case reflect.Slice:
		switch v.Type().Elem().Kind() {
		case reflect.Uint8:
			u8, err := jsutil.Uint8Array(v.Bytes())
			if err != nil {
				return u8, err
			}
			buf, _ := u8.Get("buffer")
			e.transfer = append(e.transfer, buf)
			return u8, nil
		case reflect.Float32:
			f32, err := e.float32Array(v.Interface().([]float32))
			if err != nil {
				return f32, err
			}
			buf, _ := f32.Get("buffer")
			e.transfer = append(e.transfer, buf)
			return f32, nil
		}
		arr, err := global("Array").New(v.Len())
		if err != nil {
			return arr, err
		}
		for i := 0; i < v.Len(); i++ {
			x, err := e.value(v.Index(i))
			if err != nil {
				return arr, err
			}
			if err := arr.SetIndex(i, x); err != nil {
				return arr, err
			}
		}
		return arr, nil
	case reflect.String:
		return safejs.ValueOf(v.String())
	case reflect.Bool:
		return safejs.ValueOf(v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return safejs.ValueOf(float64(v.Int()))
	case reflect.Float32, reflect.Float64:
		return safejs.ValueOf(v.Float())
	}
	return safejs.Undefined(), fmt.Errorf("cannot encode a %s", v.Type())
}

// float32Array copies x into a view on a spare buffer, or a new Float32Array.
func (e *encoder) float32Array(x []float32) (safejs.Value, error) {
	f32, ok := e.spare.take(len(x))
	if !ok {
		var err error
		if f32, err = global("Float32Array").New(len(x)); err != nil || len(x) == 0 {
			return f32, err
		}
	}
	buf, _ := f32.Get("buffer")
	u8, err := jsutil.Uint8ArrayOf(buf)
	if err != nil {
		return f32, err
	}
	_, err = safejs.CopyBytesToJS(u8, unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x)))
	return f32, err
}

// Decoder turns received objects into Messages. With Reuse, every []float32 it decodes
// shares one buffer: for a port whose messages take turns (a request, then its
// answer), so that no 4 MB allocation per layer is left for the GC.
type Decoder struct {
	Reuse  bool
	floats []float32
	spare  *spareArrays // where received Float32Arrays go once copied, if anywhere
}

// spareArrays holds the buffers of the Float32Arrays a port received, their values
// already copied into Go, for its next messages to fill and transfer back instead of
// new arrays: the exchange between workers sends two 3.7 MB arrays a block, and filling
// a fresh one costs ≈2.4 ms of page faults here, a used one 0.4 ms. A message gets the
// smallest kept buffer it fits in, as a view from its start, and the buffer travels
// whole: so a port that receives larger messages than it sends (the main worker, whose
// image pass gets each shard's keys and values with its sum) hands its larger buffers
// over, and the other side has them for its larger answers.
type spareArrays struct {
	mu      sync.Mutex
	buffers []safejs.Value
}

// spareMin is the smallest array worth keeping (64 KiB), spareMax how many buffers are
// kept (the smallest goes when one more comes).
const spareMin, spareMax = 1 << 14, 4

// put keeps v's buffer (v n floats long), unless it is small or kept already.
func (s *spareArrays) put(v safejs.Value, n int) {
	if s == nil || n < spareMin {
		return
	}
	buf, err := v.Get("buffer")
	if err != nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, b := range s.buffers {
		if b.Equal(buf) { // two arrays of one message on one buffer
			return
		}
	}
	s.buffers = append(s.buffers, buf)
	if len(s.buffers) > spareMax {
		smallest := 0
		for i, b := range s.buffers {
			if byteLength(b) < byteLength(s.buffers[smallest]) {
				smallest = i
			}
		}
		s.buffers = append(s.buffers[:smallest], s.buffers[smallest+1:]...)
	}
}

// take hands out a view of n floats on the smallest kept buffer that holds them.
func (s *spareArrays) take(n int) (safejs.Value, bool) {
	if s == nil || n < spareMin {
		return safejs.Undefined(), false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	best := -1
	for i, b := range s.buffers {
		if size := byteLength(b); size >= 4*n && (best < 0 || size < byteLength(s.buffers[best])) {
			best = i
		}
	}
	if best < 0 {
		return safejs.Undefined(), false
	}
	buf := s.buffers[best]
	s.buffers = append(s.buffers[:best], s.buffers[best+1:]...)
	v, err := global("Float32Array").New(buf, 0, n)
	return v, err == nil
}

// drop lets every kept buffer go.
func (s *spareArrays) drop() {
	s.mu.Lock()
	s.buffers = nil
	s.mu.Unlock()
}

func byteLength(buf safejs.Value) int {
	n, _ := buf.Get("byteLength")
	i, _ := n.Int()
	return i
}

// Decode reads one message, checking its version and type.
func (d *Decoder) Decode(v safejs.Value) (Message, error) {
	if v.Type() != safejs.TypeObject {
		return nil, fmt.Errorf("a message must be an object, not %s", v.Type())
	}
	ver, _ := v.Get("v")
	if n, err := ver.Int(); err != nil || ver.Type() != safejs.TypeNumber || n != Version {
		return nil, fmt.Errorf("protocol version %v, this worker speaks %d", describe(ver), Version)
	}
	t, _ := v.Get("type")
	typ, _ := t.String()
	m := New(typ)
	if m == nil {
		return nil, fmt.Errorf("unknown message type %q", typ)
	}
	if err := d.into(reflect.ValueOf(m).Elem(), v); err != nil {
		return nil, fmt.Errorf("%s message: %w", typ, err)
	}
	return reflect.ValueOf(m).Elem().Interface().(Message), nil
}

func describe(v safejs.Value) string {
	if v.IsUndefined() {
		return "missing"
	}
	s, _ := global("String").Invoke(v)
	str, _ := s.String()
	return str
}

func (d *Decoder) into(dst reflect.Value, v safejs.Value) error {
	if v.IsUndefined() || v.IsNull() {
		return nil // absent: the zero value
	}
	if dst.Type() == portType {
		dst.Set(reflect.ValueOf(Port(&jsPort{port: v})))
		return nil
	}
	want := func(t safejs.Type) error {
		if v.Type() != t {
			return fmt.Errorf("want %s, got %s", article(t), article(v.Type()))
		}
		return nil
	}
	switch dst.Kind() {
	case reflect.Pointer:
		p := reflect.New(dst.Type().Elem())
		if err := d.into(p.Elem(), v); err != nil {
			return err
		}
		dst.Set(p)
	case reflect.Struct:
		if err := want(safejs.TypeObject); err != nil {
			return err
		}
		for i := 0; i < dst.NumField(); i++ {
			name, _ := jsonName(dst.Type().Field(i))
			x, err := v.Get(name)
			if err != nil {
				return err
			}
			if err := d.into(dst.Field(i), x); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
		}
	case reflect.Map:
		if err := want(safejs.TypeObject); err != nil {
			return err
		}
		keys, err := global("Object").Call("keys", v)
		if err != nil {
			return err
		}
		n, _ := keys.Length()
		m := reflect.MakeMapWithSize(dst.Type(), n)
		for i := 0; i < n; i++ {
			k, _ := keys.Index(i)
			ks, _ := k.String()
			x, _ := v.Get(ks)
			e := reflect.New(dst.Type().Elem()).Elem()
			if err := d.into(e, x); err != nil {
				return fmt.Errorf("%s: %w", ks, err)
			}
			m.SetMapIndex(reflect.ValueOf(ks), e)
		}
		dst.Set(m)
	case reflect.Slice:
		switch dst.Type().Elem().Kind() {
		case reflect.Uint8:
			b, err := jsutil.Bytes(v)
			if err != nil {
				return err
			}
			if b == nil {
				b = []byte{}
			}
			dst.SetBytes(b)
			return nil
		case reflect.Float32:
			f, err := d.float32s(v)
			if err != nil {
				return err
			}
			dst.Set(reflect.ValueOf(f))
			return nil
		}
		n, err := v.Length()
		if err != nil {
			return fmt.Errorf("want an array, got %s", article(v.Type()))
		}
		s := reflect.MakeSlice(dst.Type(), n, n)
		for i := 0; i < n; i++ {
			x, _ := v.Index(i)
			if err := d.into(s.Index(i), x); err != nil {
				return fmt.Errorf("[%d]: %w", i, err)
			}
		}
		dst.Set(s)
	case reflect.String:
		if err := want(safejs.TypeString); err != nil {
			return err
		}
		s, _ := v.String()
		dst.SetString(s)
	case reflect.Bool:
		b, _ := v.Truthy()
		dst.SetBool(b)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if err := want(safejs.TypeNumber); err != nil {
			return err
		}
		f, _ := v.Float()
		if f != float64(int64(f)) {
			return fmt.Errorf("want a whole number, got %g", f)
		}
		dst.SetInt(int64(f))
	case reflect.Float32, reflect.Float64:
		if err := want(safejs.TypeNumber); err != nil {
			return err
		}
		f, _ := v.Float()
		dst.SetFloat(f)
	default:
		return fmt.Errorf("cannot decode into a %s", dst.Type())
	}
	return nil
}

func article(t safejs.Type) string {
	if s := t.String(); strings.IndexByte("aeiou", s[0]) >= 0 {
		return "an " + s
	}
	return "a " + t.String()
}

// float32s copies a Float32Array into Go.
func (d *Decoder) float32s(v safejs.Value) ([]float32, error) {
	if ok, _ := v.InstanceOf(global("Float32Array")); !ok {
		return nil, fmt.Errorf("want a Float32Array, got %s", article(v.Type()))
	}
	n, err := v.Length()
	if err != nil {
		return nil, err
	}
	var out []float32
	if d.Reuse {
		if cap(d.floats) < n {
			d.floats = make([]float32, n)
		}
		out = d.floats[:n]
	} else {
		out = make([]float32, n)
	}
	if n == 0 {
		return out, nil
	}
	buf, _ := v.Get("buffer")
	off, _ := v.Get("byteOffset")
	o, _ := off.Int()
	view, err := global("Uint8Array").New(buf, o, 4*n)
	if err != nil {
		return nil, err
	}
	if _, err = safejs.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n), view); err == nil {
		d.spare.put(v, n)
	}
	return out, err
}

// jsPort is a Port over a MessagePort.
type jsPort struct {
	port      safejs.Value
	listen    safejs.Func
	listening bool        // listen is set, to release
	spare     spareArrays // what Listen received, for Post to send back
}

// PortOf wraps a MessagePort.
func PortOf(v safejs.Value) Port { return &jsPort{port: v} }

func (p *jsPort) Post(m Message) error {
	obj, transfer, err := encode(m, &p.spare)
	if err != nil {
		return err
	}
	// The port itself is never among what a message on it transfers.
	_, err = p.port.Call("postMessage", obj, transfer)
	return err
}

func (p *jsPort) Listen(f func(Message)) {
	d := &Decoder{Reuse: true, spare: &p.spare}
	h, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) == 0 {
			return nil
		}
		data, err := args[0].Get("data")
		if err != nil {
			return nil
		}
		m, err := d.Decode(data)
		if err != nil {
			f(Error{Code: CodeBadMessage, Message: err.Error()})
			return nil
		}
		f(m)
		return nil
	})
	if err != nil {
		return
	}
	if p.listening {
		p.listen.Release()
	}
	p.listen, p.listening = h, true
	p.port.Set("onmessage", h.Value())
}

func (p *jsPort) Close() {
	p.port.Set("onmessage", safejs.Null())
	p.port.Call("close")
	if p.listening {
		p.listen.Release()
		p.listening = false
	}
	p.spare.drop()
}
