//go:build js && wasm

// Package backend makes the backends a browser worker runs models on: the WebAssembly
// SIMD kernel module (relaxed SIMD where the browser has it, plain SIMD otherwise),
// self-tested against the Go reference before it is trusted, else Go's own kernels.
// static/worker.js compiles the kernel modules the browser can run; Go asks it to
// instantiate the one chosen over Go's memory (self.gitvqa.useKernels).
package backend

import (
	"context"
	"fmt"

	"github.com/hack-pad/safejs"

	"gitvqa/model"
	"gitvqa/model/kernels/simd"
	"gitvqa/web/protocol"
	"gitvqa/web/webgpu"
)

// New is worker.Worker.NewBackend: the fastest kernel set at most as fast as kernels
// asks (protocol.KernelsAuto or "": any) that this browser runs and that passes its
// self-test, or the GPU when kernels is protocol.KernelsWebGPU and it passes its own.
// note says why a faster one is not used (or which GPU runs).
func New(kernels string, exact bool) (b model.Backend, note string) {
	if kernels == protocol.KernelsWebGPU {
		gpu, why := newWebGPU(exact)
		if gpu != nil {
			return gpu, why
		}
		kernels = protocol.KernelsAuto // the fastest CPU set, saying why not the GPU
		defer func() { note = join(why, note) }()
	}
	order := []string{protocol.KernelsRelaxed, protocol.KernelsSIMD, protocol.KernelsGo}
	for len(order) > 1 && kernels != "" && kernels != protocol.KernelsAuto && order[0] != kernels {
		order = order[1:]
	}
	for _, name := range order {
		if name == protocol.KernelsGo {
			return model.GoBackend(), note
		}
		if err := use(name); err != nil {
			note = join(note, err.Error())
			continue
		}
		k := &simd.Kernels{M: simd.InGoMemory(), Int8: name == protocol.KernelsRelaxed && !exact}
		if err := simd.SelfTest(k); err != nil {
			note = join(note, fmt.Sprintf("the %s kernels failed their self-test: %v", name, err))
			continue
		}
		if k.SplitDot {
			note = join(note, "int8 products by the split dot (faster here than the fused one)")
		}
		return model.CPU(name, k, !k.Int8), note
	}
	return model.GoBackend(), note
}

// newWebGPU opens the GPU and holds its shaders to the Go reference, or says why not:
// then the CPU sets run. Unless exact, activations go to int8 for dot4I8Packed where
// the GPU has it. A software adapter (SwiftShader) is taken, as asked for, and named: it
// is for correctness, not speed.
func newWebGPU(exact bool) (model.Backend, string) {
	d, err := webgpu.Open(context.Background(), true)
	if err != nil {
		return nil, fmt.Sprintf("WebGPU is not available here (%v): running on the CPU", err)
	}
	k := webgpu.NewKernels(d)
	k.Int8 = !exact && d.DP4A
	note := "WebGPU on " + d.Description
	err = webgpu.SelfTest(k)
	if err != nil && k.Int8 && k.Err == nil {
		// WGSL may divide less exactly than Go, so a row can quantize a step apart: keep
		// the GPU, with float activations.
		note += fmt.Sprintf(", float activations (the int8 path disagreed: %v)", err)
		k.Int8 = false
		err = webgpu.SelfTest(k)
	} else if k.Int8 {
		note += ", int8 activations (dot4I8Packed)"
	}
	if err != nil {
		d.Close()
		return nil, fmt.Sprintf("WebGPU (%s) failed its self-test (%v): running on the CPU", d.Description, err)
	}
	if d.Software {
		note += ": a software adapter, for correctness, not speed"
	}
	return webgpu.NewBackend(k), note
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}

// use routes Go's kernel imports to the named module, instantiated over Go's memory.
func use(name string) error {
	boot, err := safejs.Global().Get("gitvqa")
	if err != nil {
		return err
	}
	v, err := boot.Call("useKernels", name)
	if err != nil {
		return fmt.Errorf("the %s kernels: %w", name, err)
	}
	if msg, _ := v.String(); v.Type() == safejs.TypeString && msg != "" {
		return fmt.Errorf("the %s kernels: %s", name, msg)
	}
	return nil
}
