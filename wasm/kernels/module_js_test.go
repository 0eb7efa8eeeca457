//go:build js && wasm

package kernels_test

import (
	"math"
	"os"
	"syscall/js"
	"testing"
	"unsafe"

	"gitvqa/wasm/kernels"
	"gitvqa/wasm/kernels/ktest"
)

// jsMemory runs the kernel module in this browser on a WebAssembly.Memory of its own
// (Go's cannot be handed over from inside a test), copying buffers in and out: the
// module's arithmetic as the worker runs it, relaxed SIMD included.
type jsMemory struct {
	t     testing.TB
	mem   js.Value
	fns   js.Value
	top   int
	backs []func()
}

func newJSMemory(t *testing.T, file string) *jsMemory {
	bin, err := os.ReadFile("../../static/" + file)
	if err != nil {
		t.Fatalf("%v (make site builds the kernel modules)", err)
	}
	mem := js.Global().Get("WebAssembly").Get("Memory").New(map[string]any{"initial": 256})
	u8 := js.Global().Get("Uint8Array").New(len(bin))
	js.CopyBytesToJS(u8, bin)
	module := js.Global().Get("WebAssembly").Get("Module").New(u8)
	inst := js.Global().Get("WebAssembly").Get("Instance").New(module, map[string]any{"env": map[string]any{"mem": mem}})
	return &jsMemory{t: t, mem: mem, fns: inst.Get("exports"), top: 16}
}

func (m *jsMemory) alloc(n int) int {
	m.top = (m.top + 15) &^ 15
	a := m.top
	m.top += n
	if size := m.mem.Get("buffer").Get("byteLength").Int(); m.top > size {
		m.mem.Call("grow", (m.top-size+65535)/65536)
	}
	return a
}

func (m *jsMemory) view(addr, n int) js.Value {
	return js.Global().Get("Uint8Array").New(m.mem.Get("buffer"), addr, n)
}

func bytesOf(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func (m *jsMemory) In(s []float32) uint32 {
	a := m.alloc(4 * len(s))
	js.CopyBytesToJS(m.view(a, 4*len(s)), bytesOf(s))
	return uint32(a)
}

func (m *jsMemory) InI8(s []int8) uint32 {
	a := m.alloc(len(s))
	if len(s) > 0 {
		js.CopyBytesToJS(m.view(a, len(s)), unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)))
	}
	return uint32(a)
}

func (m *jsMemory) InOut(s []float32) uint32 {
	a := m.In(s)
	m.backs = append(m.backs, func() { js.CopyBytesToGo(bytesOf(s), m.view(int(a), 4*len(s))) })
	return uint32(a)
}

func (m *jsMemory) Scratch(n int) uint32 { return uint32(m.alloc(4 * n)) }

func (m *jsMemory) Call(name string, args ...uint64) {
	floats := map[int]bool{}
	for _, i := range kernels.FloatArgs[name] {
		floats[i] = true
	}
	vals := make([]any, len(args))
	for i, a := range args {
		if floats[i] {
			vals[i] = float64(math.Float32frombits(uint32(a)))
		} else {
			vals[i] = int32(uint32(a))
		}
	}
	m.fns.Get(name).Invoke(vals...)
}

func (m *jsMemory) Done() {
	for _, b := range m.backs {
		b()
	}
	m.backs, m.top = nil, 16
}

// Both kernel modules, in this browser, against the Go reference.
func TestModulesInBrowser(t *testing.T) {
	t.Run("plain", func(t *testing.T) { ktest.Run(t, kernels.Accel{M: newJSMemory(t, "kernels.wasm")}) })
	t.Run("relaxed", func(t *testing.T) {
		ktest.Run(t, kernels.Accel{M: newJSMemory(t, "kernels-relaxed.wasm"), Int8: true})
	})
}
