//go:build js && wasm

// Package webgpu runs the model on the GPU through WebGPU, from the worker's Go
// (through safejs): every kernels.Kernels method as a WGSL compute shader (shaders.go,
// Kernels), and the Backend, which compiles each lowered graph (ops.Lower) into a
// program that keeps its activations in GPU buffers from its first step to its last.
// int8 weights stay int8 in GPU memory and are dequantized in the shader.
package webgpu

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"unsafe"

	"github.com/hack-pad/safejs"

	"gitvqa/web/jsutil"
)

// Buffer usages and map modes (the WebGPU constants, which a worker also has as
// GPUBufferUsage and GPUMapMode).
const (
	usageMapRead  = 0x0001
	usageCopySrc  = 0x0004
	usageCopyDst  = 0x0008
	usageStorage  = 0x0080
	mapModeRead   = 0x0001
	workgroupSize = 64
)

// ErrNoAdapter is returned where the browser has no WebGPU, or only a software adapter
// that was not allowed.
var ErrNoAdapter = errors.New("no WebGPU adapter")

// Device is an open WebGPU device and the kernels' compiled pipelines.
type Device struct {
	device, queue safejs.Value
	// Software is set for a fallback (CPU) adapter such as SwiftShader: correct, slow.
	Software bool
	// Description names the adapter (vendor, architecture) for the ready message.
	Description string
	pipelines   map[string]safejs.Value
	paramBufs   map[string]safejs.Value // by their bytes (params)
	err         error                   // the first JavaScript error, reported by the next call
	// Reads counts the results copied back to Go: each is a wait for the GPU.
	Reads int
	// DP4A says the shaders may use dot4I8Packed (the WGSL language feature
	// packed_4x8_integer_dot_product).
	DP4A bool
	// F16 says the device has shader-f16 (asked for where the adapter offers it): the
	// f16 product (ProductF16) may run.
	F16 bool
	// The batch: the commands since the last flush, in one encoder (and compute pass,
	// while inPass), submitted once: a program's run is a submit every batchSize
	// dispatches, not one a dispatch.
	enc, pass    safejs.Value
	open, inPass bool
	queued       int // dispatches in the batch
	// Tiled picks the shaders that stage their operands in workgroup memory (the int8
	// products, attention's keys): on hardware adapters. SwiftShader runs their barriers
	// slowly.
	Tiled bool
}

// Open asks for an adapter and a device with the largest buffer limits the adapter
// offers (without requiredLimits a device is held to 128 MiB per binding). A fallback
// adapter is refused unless allowSoftware.
func Open(ctx context.Context, allowSoftware bool) (*Device, error) {
	gpu, _ := safejs.Global().Get("navigator")
	gpu, _ = gpu.Get("gpu")
	if gpu.IsUndefined() || gpu.IsNull() {
		return nil, fmt.Errorf("%w: navigator.gpu is missing", ErrNoAdapter)
	}
	p, err := gpu.Call("requestAdapter", map[string]any{"powerPreference": "high-performance"})
	if err != nil {
		return nil, err
	}
	adapter, err := jsutil.Await(ctx, p)
	if err != nil {
		return nil, err
	}
	if adapter.IsNull() || adapter.IsUndefined() {
		return nil, fmt.Errorf("%w: requestAdapter found none", ErrNoAdapter)
	}
	d := &Device{pipelines: map[string]safejs.Value{}, paramBufs: map[string]safejs.Value{}}
	if wf := d.get(gpu, "wgslLanguageFeatures"); !wf.IsUndefined() && !wf.IsNull() {
		has, _ := d.call(wf, "has", "packed_4x8_integer_dot_product").Bool()
		d.DP4A = has
	}
	// A fallback adapter says so (adapter.isFallbackAdapter, since Chromium 13x in
	// adapter.info); Chromium's SwiftShader did not always, so the names of the CPU
	// rasterizers count too.
	d.Software = d.bool(adapter, "isFallbackAdapter")
	if info := d.get(adapter, "info"); !info.IsUndefined() {
		d.Description = strings.TrimSpace(d.str(info, "vendor") + " " + d.str(info, "architecture"))
		if d.str(info, "description") != "" {
			d.Description += " (" + d.str(info, "description") + ")"
		}
		d.Software = d.Software || d.bool(info, "isFallbackAdapter") || softwareName(d.Description)
	}
	d.Tiled = !d.Software
	if d.Software && !allowSoftware {
		return nil, fmt.Errorf("%w: only a software adapter (%s)", ErrNoAdapter, d.Description)
	}
	limits := d.get(adapter, "limits")
	req := map[string]any{}
	for _, name := range []string{"maxStorageBufferBindingSize", "maxBufferSize"} {
		if v := d.get(limits, name); v.Type() == safejs.TypeNumber {
			n, _ := v.Float()
			req[name] = n
		}
	}
	features := []any{}
	if has, _ := d.call(d.get(adapter, "features"), "has", "shader-f16").Bool(); has {
		d.F16 = true
		features = append(features, "shader-f16")
	}
	p, err = adapter.Call("requestDevice", map[string]any{"requiredLimits": req, "requiredFeatures": features})
	if err != nil {
		return nil, err
	}
	if d.device, err = jsutil.Await(ctx, p); err != nil {
		return nil, fmt.Errorf("requestDevice: %w", err)
	}
	d.queue = d.get(d.device, "queue")
	return d, d.err
}

// softwareName says whether an adapter's description names a CPU implementation:
// SwiftShader, Mesa's llvmpipe or lavapipe, Microsoft's WARP.
func softwareName(description string) bool {
	d := strings.ToLower(description)
	for _, name := range []string{"swiftshader", "llvmpipe", "lavapipe", "microsoft basic render"} {
		if strings.Contains(d, name) {
			return true
		}
	}
	return false
}

// begin opens the error scopes of a batch of GPU work: WebGPU reports a shader's
// validation failure, or a buffer it could not allocate, through them (not as an
// exception), and a result read back after such a failure would be zeros.
func (d *Device) begin() {
	d.call(d.device, "pushErrorScope", "out-of-memory")
	d.call(d.device, "pushErrorScope", "validation")
}

// end submits the batch and closes begin's scopes, returning the first error they
// caught (a pass's commands are validated when its encoder is finished, inside them).
func (d *Device) end() error {
	d.flush()
	for _, kind := range []string{"validation", "out-of-memory"} {
		p := d.call(d.device, "popErrorScope")
		if d.err != nil {
			return d.err
		}
		v, err := jsutil.Await(context.Background(), p)
		if err != nil {
			d.fail(err)
			return err
		}
		if !v.IsNull() && !v.IsUndefined() {
			msg, _ := d.get(v, "message").String()
			d.fail(fmt.Errorf("WebGPU %s error: %s", kind, msg))
			return d.err
		}
	}
	return nil
}

// compiles compiles a shader for an optional path and says whether the device took it,
// without counting a refusal as the device's failure: the path is then dropped, and the
// rest of the GPU kept.
func (d *Device) compiles(name, wgsl string) error {
	// internal: a shader that validates and that the backend's compiler then refuses
	scopes := []string{"validation", "internal"}
	for _, s := range scopes {
		d.call(d.device, "pushErrorScope", s)
	}
	d.pipeline(name, wgsl)
	var errs []error
	for range scopes {
		v, err := jsutil.Await(context.Background(), d.call(d.device, "popErrorScope"))
		if err == nil && !v.IsNull() && !v.IsUndefined() {
			msg, _ := d.get(v, "message").String()
			err = errors.New(strings.TrimSpace(strings.SplitN(msg, "\n", 3)[0])) // the compiler's first line
		}
		errs = append(errs, err)
	}
	err := errors.Join(errs...)
	if err != nil {
		delete(d.pipelines, name)
	}
	return err
}

// Close destroys the device.
func (d *Device) Close() { d.call(d.device, "destroy") }

func (d *Device) fail(err error) {
	if err != nil && d.err == nil {
		d.err = err
	}
}

func (d *Device) get(v safejs.Value, name string) safejs.Value {
	r, err := v.Get(name)
	d.fail(err)
	return r
}

func (d *Device) call(v safejs.Value, name string, args ...any) safejs.Value {
	r, err := v.Call(name, args...)
	d.fail(err)
	return r
}

func (d *Device) bool(v safejs.Value, name string) bool {
	b, _ := d.get(v, name).Bool()
	return b
}

func (d *Device) str(v safejs.Value, name string) string {
	s, _ := d.get(v, name).String()
	return s
}

// pipeline compiles a kernel's shader once.
func (d *Device) pipeline(name, wgsl string) safejs.Value {
	if p, ok := d.pipelines[name]; ok {
		return p
	}
	module := d.call(d.device, "createShaderModule", map[string]any{"code": wgsl, "label": name})
	p := d.call(d.device, "createComputePipeline", map[string]any{
		"layout": "auto", "label": name,
		"compute": map[string]any{"module": module, "entryPoint": "main"},
	})
	d.pipelines[name] = p
	return p
}

// buffer is a storage buffer holding b (at least 4 bytes: WebGPU refuses empty ones).
func (d *Device) buffer(b []byte, extra int) safejs.Value {
	size := (max(len(b), 4) + 3) &^ 3
	buf := d.call(d.device, "createBuffer", map[string]any{"size": size, "usage": usageStorage | usageCopySrc | usageCopyDst | extra})
	if len(b) > 0 {
		u8, err := jsutil.Uint8Array(b)
		d.fail(err)
		d.call(d.queue, "writeBuffer", buf, 0, u8)
	}
	return buf
}

// empty is a storage buffer of size bytes, zeros, nothing uploaded.
func (d *Device) empty(size int) safejs.Value {
	return d.call(d.device, "createBuffer", map[string]any{"size": (max(size, 4) + 3) &^ 3, "usage": usageStorage | usageCopySrc | usageCopyDst})
}

func f32Bytes(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func i8Bytes(s []int8) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s))
}

// params is a params buffer holding v (see paramBytes), made once for each distinct v
// and kept: a program's steps ask for the same ones on every run. Callers must not
// destroy it. The distinct values are few: the shapes' sizes (a decoder step's
// attention adds one a position, the same for every layer).
func (d *Device) params(v ...any) safejs.Value {
	b := paramBytes(v...)
	if p, ok := d.paramBufs[string(b)]; ok {
		return p
	}
	p := d.buffer(b, 0)
	d.paramBufs[string(b)] = p
	return p
}

// paramBytes packs a kernel's sizes (u32) and float arguments (bitcast) for binding 0.
func paramBytes(v ...any) []byte {
	out := make([]uint32, len(v))
	for i, x := range v {
		switch x := x.(type) {
		case int:
			out[i] = uint32(x)
		case float32:
			out[i] = math.Float32bits(x)
		}
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*len(out))
}

// dispatch adds a kernel over x × y workgroups, the buffers bound in order, to the batch.
func (d *Device) dispatch(name, wgsl string, x, y int, bufs ...safejs.Value) {
	p := d.pipeline(name, wgsl)
	entries := make([]any, len(bufs))
	for i, b := range bufs {
		entries[i] = map[string]any{"binding": i, "resource": map[string]any{"buffer": b}}
	}
	layout := d.call(p, "getBindGroupLayout", 0)
	group := d.call(d.device, "createBindGroup", map[string]any{"layout": layout, "entries": entries})
	if !d.inPass {
		d.pass, d.inPass = d.call(d.encoder(), "beginComputePass"), true
	}
	d.call(d.pass, "setPipeline", p)
	d.call(d.pass, "setBindGroup", 0, group)
	d.call(d.pass, "dispatchWorkgroups", max(x, 1), max(y, 1))
	if d.queued++; d.queued >= batchSize {
		d.flush()
	}
}

// batchSize is how many dispatches a submit carries at most: each submit costs the
// browser's bookkeeping, and one at the very end would leave the GPU idle while a whole
// program (the vision stack's 480 dispatches: 20 a layer) is encoded.
const batchSize = 32

// encoder is the batch's command encoder, outside any compute pass (for copies).
func (d *Device) encoder() safejs.Value {
	if d.inPass {
		d.call(d.pass, "end")
		d.inPass = false
	}
	if !d.open {
		d.enc, d.open = d.call(d.device, "createCommandEncoder"), true
	}
	return d.enc
}

// flush submits the batch. WebGPU orders a pass's dispatches and the copies after it as
// encoded, with the barriers between them that their buffers need; queue.writeBuffer
// calls (uploads, params) run before the batch, so each buffer a batch uses is written
// once before it.
func (d *Device) flush() {
	if !d.open {
		return
	}
	d.call(d.queue, "submit", []any{d.call(d.encoder(), "finish")})
	d.open, d.queued = false, 0
}

// dispatchGemmNT runs C = A·Bᵀ (m × n, over k; p: its params, see gemmNTWGSL), in
// tiles on hardware GPUs.
func (d *Device) dispatchGemmNT(m, n int, p, a, b, c safejs.Value) {
	if d.Tiled {
		d.dispatch("gemm_nt_tiled", gemmNTTiledWGSL, (n+15)/16, (m+15)/16, p, a, b, c)
		return
	}
	d.dispatch("gemm_nt", gemmNTWGSL, groups(n), m, p, a, b, c)
}

// dispatchAttention runs the attention shader for m query rows over nk keys in heads
// of dh values (p: its params, see attentionWGSL).
func (d *Device) dispatchAttention(m, nk, heads, dh int, p, q, k, v, o safejs.Value) {
	name, wgsl, rows := attentionShader(m, nk, dh, d.Tiled)
	d.dispatch(name, wgsl, (m+rows-1)/rows, heads, p, q, k, v, o)
}

// dispatchFlat runs an elementwise kernel over n values: workgroups of 64 in rows of at
// most 65535 (WebGPU's limit a dimension), which its shader flattens back.
func (d *Device) dispatchFlat(name, wgsl string, n int, bufs ...safejs.Value) {
	d.dispatchGroups(name, wgsl, groups(n), bufs...)
}

// dispatchGroups runs g workgroups in rows of at most 65535, which the shader flattens
// back (wg.y·65535 + wg.x).
func (d *Device) dispatchGroups(name, wgsl string, g int, bufs ...safejs.Value) {
	d.dispatch(name, wgsl, min(g, 65535), (g+65534)/65535, bufs...)
}

// read copies buf's first len(out) floats back into out.
func (d *Device) read(buf safejs.Value, out []float32) error { return d.readAll(buf, out, nil) }

// copy adds a copy of n floats of src from float offset so into dst at float offset do
// to the batch.
func (d *Device) copy(src safejs.Value, so int, dst safejs.Value, do, n int) {
	d.call(d.encoder(), "copyBufferToBuffer", src, 4*so, dst, 4*do, 4*n)
}

// readAll copies buf's first len(out) floats into out and each stretch of rows into its
// Go buffer, through one staging buffer: one wait for the GPU.
func (d *Device) readAll(buf safejs.Value, out []float32, more []cacheRows) error {
	d.Reads++
	type piece struct {
		dst []float32
		at  int // bytes into the staging buffer
	}
	pieces := []piece{{out, 0}}
	size := (4*len(out) + 3) &^ 3
	enc := d.encoder() // after whatever the batch holds, submitted with it
	for _, r := range more {
		pieces = append(pieces, piece{r.goData[r.offset : r.offset+r.n], size})
		size += 4 * r.n
	}
	staging := d.call(d.device, "createBuffer", map[string]any{"size": max(size, 4), "usage": usageMapRead | usageCopyDst})
	if len(out) > 0 {
		d.call(enc, "copyBufferToBuffer", buf, 0, staging, 0, 4*len(out))
	}
	for i, r := range more {
		d.call(enc, "copyBufferToBuffer", r.gpu, 4*r.offset, staging, pieces[i+1].at, 4*r.n)
	}
	d.flush()
	if d.err != nil {
		return d.err
	}
	p := d.call(staging, "mapAsync", mapModeRead)
	if _, err := jsutil.Await(context.Background(), p); err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	mapped := d.call(staging, "getMappedRange")
	u8, err := safejs.Global().Get("Uint8Array")
	d.fail(err)
	for _, pc := range pieces {
		if len(pc.dst) == 0 {
			continue
		}
		view, err := u8.New(mapped, pc.at, 4*len(pc.dst))
		d.fail(err)
		_, err = safejs.CopyBytesToGo(f32Bytes(pc.dst), view)
		d.fail(err)
	}
	d.call(staging, "unmap")
	d.call(staging, "destroy")
	return d.err
}

func groups(n int) int { return (n + workgroupSize - 1) / workgroupSize }
