//go:build js && wasm

// Command wasm is the browser worker's Go side (built as static/gitvqa.wasm and
// booted by static/worker.js). It only translates: postMessage events into
// worker.Requests, worker.Messages back into objects; web/worker does the rest.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"runtime/debug"
	"time"
	"unsafe"

	"github.com/hack-pad/safejs"

	"gitvqa/model/kernel"
	wkernels "gitvqa/wasm/kernels"
	"gitvqa/web/chunkstore"
	"gitvqa/web/download"
	"gitvqa/web/jsutil"
	"gitvqa/web/protocol"
	"gitvqa/web/simd"
	"gitvqa/web/worker"
)

func main() {
	// Wasm memory never shrinks and Go's GC lets the heap reach twice the live data:
	// a soft limit keeps a full-size model (≈0.4 GB of weights) well inside a tab.
	debug.SetMemoryLimit(1536 << 20)

	self := safejs.Global()
	kernels := "go"
	int8Available := false
	if v := simd.Variant(); v != "" {
		int8Available = v == "relaxed"
		acc := simd.New(v == "relaxed")
		if err := simd.SelfTest(acc); err != nil {
			kernels = "go (the " + v + " SIMD kernels failed their self-test: " + err.Error() + ")"
		} else {
			kernel.SetAccel(acc)
			kernels = v + "-simd"
		}
	}
	w := &worker.Worker{
		Kernels: kernels,
		SetExact: func(exact bool) {
			if a, ok := kernel.CurrentAccel().(wkernels.Accel); ok {
				a.Int8 = int8Available && !exact
				kernel.SetAccel(a)
			}
		},
		MemoryBytes: func() int64 {
			boot, _ := self.Get("gitvqa")
			v, err := boot.Call("memoryBytes")
			if err != nil {
				return 0
			}
			f, _ := v.Float()
			return int64(f)
		},
		Post:      func(m worker.Message) { post(self, m) },
		Yield:     yield,
		OpenCache: func(ctx context.Context) (download.Cache, error) { return chunkstore.Open(ctx) },
		FreeSpace: freeSpace,
	}
	handle, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) == 0 {
			return nil
		}
		req, err := decode(args[0])
		if err == nil {
			err = decodePorts(args[0], &req, w)
		}
		if err != nil {
			w.Post(worker.Message{"type": protocol.Error, "code": protocol.CodeBadMessage, "message": err.Error(), "v": protocol.Version})
			return nil
		}
		w.Handle(req) // never blocks: model work runs on its own goroutine
		return nil
	})
	if err != nil {
		panic(err)
	}
	boot, err := self.Get("gitvqa")
	if err == nil {
		_, err = boot.Call("started", handle.Value())
	}
	if err != nil {
		panic(fmt.Errorf("worker.js did not set up self.gitvqa: %w", err))
	}
	select {}
}

// yield returns to the event loop so that cancel messages get through: Go's wasm
// scheduler hands control back to JavaScript while every goroutine sleeps.
func yield() { time.Sleep(time.Millisecond) }

func post(self safejs.Value, m worker.Message) {
	js, err := json.Marshal(m)
	if err != nil {
		js, _ = json.Marshal(worker.Message{"type": protocol.Error, "code": protocol.CodeInternal, "message": err.Error(), "v": protocol.Version})
	}
	jsonObj, _ := safejs.Global().Get("JSON")
	obj, err := jsonObj.Call("parse", string(js))
	if err != nil {
		return
	}
	self.Call("postMessage", obj)
}

func str(v safejs.Value, p string) string {
	x, err := v.Get(p)
	if err != nil || x.Type() != safejs.TypeString {
		return ""
	}
	s, _ := x.String()
	return s
}

func num(v safejs.Value, p string) int {
	x, err := v.Get(p)
	if err != nil || x.Type() != safejs.TypeNumber {
		return 0
	}
	n, _ := x.Int()
	return n
}

func boolean(v safejs.Value, p string) bool {
	x, err := v.Get(p)
	if err != nil {
		return false
	}
	b, _ := x.Truthy()
	return b
}

// decode reads a page message. Image buffers are copied into Go here, inside the
// event handler, so the page may reuse them at once.
func decode(v safejs.Value) (worker.Request, error) {
	if v.Type() != safejs.TypeObject {
		return worker.Request{}, fmt.Errorf("a message must be an object, not %s", v.Type())
	}
	r := worker.Request{
		V: num(v, "v"), Type: str(v, "type"), ID: num(v, "id"), ManifestURL: str(v, "manifestURL"), Exact: boolean(v, "exact"),
		Question: str(v, "question"), MaxTokens: num(v, "maxTokens"), Caption: boolean(v, "caption"),
		Profile: boolean(v, "profile"),
	}
	img, err := v.Get("image")
	if err != nil || img.IsUndefined() || img.IsNull() {
		return r, nil
	}
	im := &worker.Image{Width: num(img, "width"), Height: num(img, "height"), Type: str(img, "type")}
	if b, err := img.Get("bytes"); err == nil && !b.IsUndefined() && !b.IsNull() {
		if im.Bytes, err = jsutil.Bytes(b); err != nil {
			return r, fmt.Errorf("image bytes: %w", err)
		}
		if im.Bytes == nil {
			im.Bytes = []byte{}
		}
	} else if px, err := img.Get("rgba"); err == nil && !px.IsUndefined() && !px.IsNull() {
		if im.RGBA, err = jsutil.Bytes(px); err != nil {
			return r, fmt.Errorf("image pixels: %w", err)
		}
	}
	r.Image = im
	return r, nil
}

// jsPort is a worker.Port over a MessagePort.
type jsPort struct{ port safejs.Value }

func (p jsPort) Post(m worker.Message, x []float32) {
	js, err := json.Marshal(m)
	if err != nil {
		return
	}
	jsonObj, _ := safejs.Global().Get("JSON")
	obj, err := jsonObj.Call("parse", string(js))
	if err != nil {
		return
	}
	var transfer []any
	if x != nil {
		f32, err := float32Array(x)
		if err != nil {
			return
		}
		obj.Set("x", f32)
		buf, _ := f32.Get("buffer")
		transfer = append(transfer, buf)
	}
	p.port.Call("postMessage", obj, transfer)
}

// float32Array copies x into a new Float32Array.
func float32Array(x []float32) (safejs.Value, error) {
	ctor, err := safejs.Global().Get("Float32Array")
	if err != nil {
		return safejs.Undefined(), err
	}
	f32, err := ctor.New(len(x))
	if err != nil {
		return safejs.Undefined(), err
	}
	if len(x) > 0 {
		buf, _ := f32.Get("buffer")
		u8, err := jsutil.Uint8ArrayOf(buf)
		if err != nil {
			return safejs.Undefined(), err
		}
		safejs.CopyBytesToJS(u8, unsafe.Slice((*byte)(unsafe.Pointer(&x[0])), 4*len(x)))
	}
	return f32, nil
}

// float32s copies a Float32Array into Go, reusing buf when it is large enough.
func float32s(v safejs.Value, buf []float32) ([]float32, error) {
	n, err := v.Length()
	if err != nil {
		return nil, err
	}
	out := buf[:0]
	if cap(out) < n {
		out = make([]float32, n)
	}
	out = out[:n]
	if n == 0 {
		return out, nil
	}
	jsBuf, _ := v.Get("buffer")
	u8, err := jsutil.Uint8ArrayOf(jsBuf)
	if err != nil {
		return nil, err
	}
	off, _ := v.Get("byteOffset")
	o, _ := off.Int()
	view, err := u8.Call("subarray", o, o+4*n)
	if err != nil {
		return nil, err
	}
	safejs.CopyBytesToGo(unsafe.Slice((*byte)(unsafe.Pointer(&out[0])), 4*n), view)
	return out, nil
}

// decodePorts wires the MessagePorts of shard and peers messages: each port's messages
// (block requests to a shard, partial sums to the main worker) become Requests too.
func decodePorts(v safejs.Value, r *worker.Request, w *worker.Worker) error {
	listen := func(port safejs.Value, f func(worker.Request)) error {
		// Messages on a port take turns (a request, then its answer), so one buffer
		// serves them all: no 4 MB allocation per layer for the GC to collect.
		var buf []float32
		h, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
			if len(args) == 0 {
				return nil
			}
			data, err := args[0].Get("data")
			if err != nil {
				return nil
			}
			req, err := decode(data)
			if err != nil {
				return nil
			}
			if x, err := data.Get("x"); err == nil && !x.IsUndefined() && !x.IsNull() {
				if req.Data, err = float32s(x, buf); err != nil {
					return nil
				}
				buf = req.Data
			}
			req.Seq, req.Kind, req.Layer, req.Error = num(data, "seq"), str(data, "kind"), num(data, "layer"), str(data, "error")
			if ms, err := data.Get("ms"); err == nil && ms.Type() == safejs.TypeNumber {
				req.Ms, _ = ms.Float()
			}
			f(req)
			return nil
		})
		if err != nil {
			return err
		}
		return port.Set("onmessage", h.Value())
	}
	switch r.Type {
	case protocol.Shard:
		r.Index, r.Count = num(v, "index"), num(v, "count")
		port, err := v.Get("port")
		if err != nil || port.IsUndefined() {
			return fmt.Errorf("a shard message needs its port")
		}
		reply := jsPort{port}
		return listen(port, func(req worker.Request) {
			req.Reply = reply
			w.Handle(req)
		})
	case protocol.Peers:
		ports, err := v.Get("ports")
		if err != nil {
			return err
		}
		n, err := ports.Length()
		if err != nil {
			return fmt.Errorf("peers needs an array of ports")
		}
		for i := 0; i < n; i++ {
			port, _ := ports.Index(i)
			r.Ports = append(r.Ports, jsPort{port})
			peer := i
			if err := listen(port, func(req worker.Request) {
				req.Peer = peer
				w.Handle(req)
			}); err != nil {
				return err
			}
		}
	}
	return nil
}

// freeSpace asks navigator.storage.estimate() how much more the origin may store.
func freeSpace(ctx context.Context) (int64, error) {
	nav, err := safejs.Global().Get("navigator")
	if err != nil {
		return 0, err
	}
	storage, err := nav.Get("storage")
	if err != nil || storage.IsUndefined() {
		return 0, fmt.Errorf("navigator.storage is not available")
	}
	p, err := storage.Call("estimate")
	if err != nil {
		return 0, err
	}
	est, err := jsutil.Await(ctx, p)
	if err != nil {
		return 0, err
	}
	quota, usage := num64(est, "quota"), num64(est, "usage")
	return quota - usage, nil
}

func num64(v safejs.Value, p string) int64 {
	x, err := v.Get(p)
	if err != nil {
		return 0
	}
	f, _ := x.Float()
	return int64(f)
}
