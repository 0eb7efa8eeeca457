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
	"time"

	"github.com/hack-pad/safejs"

	"gitvqa/model"
	"gitvqa/model/kernels"
	"gitvqa/model/kernels/simd"
	"gitvqa/web/protocol"
	"gitvqa/web/webgpu"
)

// New is worker.Worker.NewBackend: with protocol.KernelsAuto (or ""), the GPU where a
// hardware adapter passes its self-test and outruns the CPU (webgpu.Outruns), else the
// fastest CPU set that this browser runs and that passes its self-test; with
// protocol.KernelsCPU that CPU set; with a CPU set's name, the fastest at most as fast;
// with protocol.KernelsWebGPU the GPU, a software adapter included, where it passes its
// self-test. workers is how many workers the page would share the CPU's work among. note
// says why a faster set is not used, or which GPU runs.
func New(asked string, exact bool, workers int) (b model.Backend, note string) {
	if asked != protocol.KernelsAuto && asked != "" && asked != protocol.KernelsWebGPU {
		cpu, _, note := newCPU(asked, exact)
		return cpu, note
	}
	cpu, ck, note := newCPU(protocol.KernelsCPU, exact)
	gpu, why := newWebGPU(exact, asked == protocol.KernelsWebGPU)
	if gpu == nil {
		return cpu, join(why.String(), note)
	}
	gpu.K.Fallback = fallback(ck, gpu.Exact())
	if asked == protocol.KernelsWebGPU {
		return gpu, why.String()
	}
	pick, weighed := webgpu.Outruns(gpu.K, ck, max(workers, 1))
	if pick {
		return gpu, why.String() + ", " + weighed
	}
	gpu.K.D.Close()
	return cpu, join(fmt.Sprintf("the CPU runs: %s, %s", why.String(), weighed), note)
}

// fallback is what the GPU's kernels fall back to: the CPU's, kept exact where the GPU
// is (a lost device must not change what info.exact says).
func fallback(cpu kernels.Kernels, exact bool) kernels.Kernels {
	if k, ok := cpu.(*simd.Kernels); ok && exact && k.Int8 {
		f := *k
		f.Int8 = false
		return &f
	}
	return cpu
}

// newCPU is the fastest CPU set at most as fast as asked, with its kernels (to
// weigh the GPU against) and why a faster one is not used.
func newCPU(asked string, exact bool) (model.Backend, kernels.Kernels, string) {
	order := []string{protocol.KernelsRelaxed, protocol.KernelsSIMD, protocol.KernelsGo}
	for len(order) > 1 && asked != "" && asked != protocol.KernelsAuto && asked != protocol.KernelsCPU && order[0] != asked {
		order = order[1:]
	}
	note := ""
	for _, name := range order {
		if name == protocol.KernelsGo {
			break
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
		return model.CPU(name, k, !k.Int8), k, note
	}
	return model.GoBackend(), &kernels.Go{}, note
}

// gpuNote says what the GPU backend is, or why there is none.
type gpuNote struct {
	adapter, detail string
	err             error // why there is no GPU backend
}

func (n gpuNote) String() string {
	if n.err != nil {
		return n.err.Error()
	}
	return "WebGPU on " + n.adapter + n.detail
}

// openTimeout bounds the wait for a WebGPU adapter and device.
const openTimeout = 10 * time.Second

// newWebGPU opens the GPU and holds its shaders to the Go reference, or says why not:
// then the CPU sets run. Unless exact, activations go to int8 for dot4I8Packed where
// the GPU has it. A software adapter (SwiftShader) is taken where allowSoftware (as a
// forced 'webgpu' asks) and named: it is for correctness, not speed.
func newWebGPU(exact, allowSoftware bool) (*webgpu.Backend, gpuNote) {
	// A browser whose adapter never answers must not hold the load: 'auto' asks every
	// browser.
	ctx, cancel := context.WithTimeout(context.Background(), openTimeout)
	defer cancel()
	d, err := webgpu.Open(ctx, allowSoftware)
	if err != nil {
		return nil, gpuNote{err: fmt.Errorf("WebGPU is not available here (%v): running on the CPU", err)}
	}
	k := webgpu.NewKernels(d)
	k.Int8 = !exact
	note := gpuNote{adapter: d.Description}
	err = webgpu.SelfTest(k)
	if err != nil && k.Int8 && d.DP4A && k.Err == nil {
		// WGSL may divide less exactly than Go, so a row can quantize a step apart: keep
		// the GPU, with float activations.
		note.detail = fmt.Sprintf(", float activations (the int8 path disagreed: %v)", err)
		k.Int8 = false
		err = webgpu.SelfTest(k)
	}
	if err != nil {
		d.Close()
		return nil, gpuNote{err: fmt.Errorf("WebGPU (%s) failed its self-test (%v): running on the CPU", d.Description, err)}
	}
	// a hardware GPU's fastest product path, timed (none to choose on SwiftShader)
	if timed := k.Choose(); timed != "" {
		note.detail += ", " + timed
		if k.Err != nil {
			d.Close()
			return nil, gpuNote{err: fmt.Errorf("WebGPU (%s) failed while its products were timed (%s): running on the CPU", d.Description, timed)}
		}
	} else if !k.Exact() {
		note.detail += ", int8 activations (dot4I8Packed)"
	}
	if d.Software {
		note.detail += ": a software adapter, for correctness, not speed"
	}
	return webgpu.NewBackend(k), note
}

func join(a, b string) string {
	if a == "" || b == "" {
		return a + b
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
