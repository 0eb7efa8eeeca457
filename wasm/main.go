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

	"github.com/hack-pad/safejs"

	"gitvqa/web/chunkstore"
	"gitvqa/web/download"
	"gitvqa/web/jsutil"
	"gitvqa/web/protocol"
	"gitvqa/web/worker"
)

func main() {
	// Wasm memory never shrinks and Go's GC lets the heap reach twice the live data:
	// a soft limit keeps a full-size model (≈0.4 GB of weights) well inside a tab.
	debug.SetMemoryLimit(1536 << 20)

	self := safejs.Global()
	w := &worker.Worker{
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
		V: num(v, "v"), Type: str(v, "type"), ID: num(v, "id"), ManifestURL: str(v, "manifestURL"),
		Question: str(v, "question"), MaxTokens: num(v, "maxTokens"), Caption: boolean(v, "caption"),
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
