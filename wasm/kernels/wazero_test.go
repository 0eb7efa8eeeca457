//go:build !js

package kernels_test

import (
	"context"
	"encoding/binary"
	"gitvqa/wasm/kernels"
	"math"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// wz is a Memory over the module running in wazero (natively, SIMD included): each
// buffer is copied into the module's memory, and InOut buffers copied back by Done. The
// browser passes Go's own memory instead; the arithmetic is the same module's.
type wz struct {
	t     testing.TB
	ctx   context.Context
	mem   api.Memory
	fn    map[string]api.Function
	top   uint32
	backs []func()
}

func newWZ(t testing.TB) *wz {
	t.Helper()
	ctx := context.Background()
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(api.CoreFeaturesV2))
	t.Cleanup(func() { rt.Close(ctx) })
	envWasm, err := kernels.Assemble(`(module (memory (export "mem") 1))`, false)
	if err != nil {
		t.Fatal(err)
	}
	env, err := rt.InstantiateWithConfig(ctx, envWasm, wazero.NewModuleConfig().WithName("env"))
	if err != nil {
		t.Fatal(err)
	}
	bin, err := kernels.Assemble(kernels.Source, false)
	if err != nil {
		t.Fatal(err)
	}
	mod, err := rt.Instantiate(ctx, bin)
	if err != nil {
		t.Fatal(err)
	}
	w := &wz{t: t, ctx: ctx, mem: env.ExportedMemory("mem"), fn: map[string]api.Function{}}
	for _, n := range kernels.Names {
		if kernels.RelaxedOnly[n] {
			continue // wazero has no relaxed SIMD
		}
		if w.fn[n] = mod.ExportedFunction(n); w.fn[n] == nil {
			t.Fatalf("the module exports no %s", n)
		}
	}
	w.top = 16 // address 0 stays unused
	return w
}

// alloc reserves n bytes (16-aligned), growing the memory as needed.
func (w *wz) alloc(n int) uint32 {
	w.top = (w.top + 15) &^ 15
	addr := w.top
	w.top += uint32(n)
	if need := int(w.top) - int(w.mem.Size()); need > 0 {
		if _, ok := w.mem.Grow(uint32((need + 65535) / 65536)); !ok {
			w.t.Fatal("wazero memory cannot grow")
		}
	}
	return addr
}

func (w *wz) In(v []float32) uint32 {
	addr := w.alloc(4 * len(v))
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	w.mem.Write(addr, b)
	return addr
}

func (w *wz) InI8(v []int8) uint32 {
	addr := w.alloc(len(v))
	b := make([]byte, len(v))
	for i, x := range v {
		b[i] = byte(x)
	}
	w.mem.Write(addr, b)
	return addr
}

func (w *wz) InOut(v []float32) uint32 {
	addr := w.In(v)
	w.backs = append(w.backs, func() {
		b, ok := w.mem.Read(addr, uint32(4*len(v)))
		if !ok {
			w.t.Fatal("read outside memory")
		}
		for i := range v {
			v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
		}
	})
	return addr
}

func (w *wz) Scratch(n int) uint32 { return w.alloc(4 * n) }

func (w *wz) Call(name string, args ...uint64) {
	if _, err := w.fn[name].Call(w.ctx, args...); err != nil {
		w.t.Fatalf("%s: %v", name, err)
	}
}

func (w *wz) Done() {
	for _, b := range w.backs {
		b()
	}
	w.backs = nil
	w.top = 16
}
