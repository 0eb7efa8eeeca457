//go:build !js

package simd

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// InWazero runs a kernel module (plain SIMD: wazero has no relaxed SIMD) natively, on
// a memory of its own: each operand is copied in, and InOut operands copied back by
// Done. The arithmetic is the module's, as in the browser. close releases the runtime.
func InWazero(wasm []byte) (m Module, close func(), err error) {
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	close = func() { rt.Close(ctx) }
	// The kernel module imports its memory, as in the browser: env.mem comes from
	// this one-line module.
	envWasm := []byte{ // (module (memory (export "mem") 1))
		0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x05, 0x03, 0x01, 0x00, 0x01,
		0x07, 0x07, 0x01, 0x03, 0x6d, 0x65, 0x6d, 0x02, 0x00}
	memMod, err := rt.InstantiateWithConfig(ctx, envWasm, wazero.NewModuleConfig().WithName("env"))
	if err != nil {
		close()
		return nil, nil, err
	}
	mod, err := rt.Instantiate(ctx, wasm)
	if err != nil {
		close()
		return nil, nil, err
	}
	w := &wzMemory{mem: memMod.ExportedMemory("mem"), top: 16}
	fns := map[string]api.Function{}
	for _, n := range Exports {
		if f := mod.ExportedFunction(n); f != nil {
			fns[n] = f
		}
	}
	call := func(name string, args ...any) {
		f := fns[name]
		if f == nil {
			panic(fmt.Sprintf("simd: the module exports no %s", name))
		}
		enc := make([]uint64, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case int32:
				enc[i] = api.EncodeI32(v)
			case uint32:
				enc[i] = uint64(v)
			case float32:
				enc[i] = api.EncodeF32(v)
			default:
				panic(fmt.Sprintf("simd: argument %d of %s is a %T", i, name, a))
			}
		}
		if _, err := f.Call(ctx, enc...); err != nil {
			panic(fmt.Sprintf("simd: %s: %v", name, err))
		}
	}
	return ByName{Memory: w, Call: call}, close, nil
}

// wzMemory bumps an allocation pointer through the module's memory; Done copies the
// InOut operands back and starts over.
type wzMemory struct {
	mem   api.Memory
	top   uint32 // address 0 stays unused
	backs []func()
}

// alloc reserves n bytes (16-aligned), growing the memory as needed.
func (w *wzMemory) alloc(n int) Ptr {
	w.top = (w.top + 15) &^ 15
	addr := w.top
	w.top += uint32(n)
	if need := int(w.top) - int(w.mem.Size()); need > 0 {
		if _, ok := w.mem.Grow(uint32((need + 65535) / 65536)); !ok {
			panic("simd: wazero memory cannot grow")
		}
	}
	return addr
}

func (w *wzMemory) In(v []float32) Ptr {
	addr := w.alloc(4 * len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	w.mem.Write(addr, b)
	return addr
}

func (w *wzMemory) InI8(v []int8) Ptr {
	addr := w.alloc(len(v))
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	w.mem.Write(addr, b)
	return addr
}

func (w *wzMemory) InI32(v []int32) Ptr {
	addr := w.alloc(4 * len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], uint32(x))
	}
	w.mem.Write(addr, b)
	return addr
}

func (w *wzMemory) InU8(v []uint8) Ptr {
	addr := w.alloc(len(v))
	w.mem.Write(addr, v)
	return addr
}

func (w *wzMemory) InOutU8(v []uint8) Ptr {
	addr := w.InU8(v)
	w.backs = append(w.backs, func() {
		b, _ := w.mem.Read(addr, uint32(len(v)))
		copy(v, b)
	})
	return addr
}

func (w *wzMemory) InOut(v []float32) Ptr {
	addr := w.In(v)
	w.backs = append(w.backs, func() {
		b, _ := w.mem.Read(addr, uint32(4*len(v)))
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	})
	return addr
}

func (w *wzMemory) Scratch(n int) Ptr { return w.alloc(4 * n) }

func (w *wzMemory) Done() {
	for _, b := range w.backs {
		b()
	}
	w.backs = nil
	w.top = 16
}
