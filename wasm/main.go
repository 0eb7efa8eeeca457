//go:build js && wasm

// Command wasm is the browser worker's Go side (built as static/gitvqa.wasm and
// booted by static/worker.js). It is glue: postMessage events become
// protocol.Messages for web/worker, its replies go back as objects; web/backend makes
// the kernel backends, web/chunkstore keeps the models.
package main

import (
	"context"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/hack-pad/safejs"

	"gitvqa/web/backend"
	"gitvqa/web/browserimage"
	"gitvqa/web/chunkstore"
	"gitvqa/web/jsutil"
	"gitvqa/web/protocol"
	"gitvqa/web/worker"
)

func main() {
	mainAt := now()
	// Wasm memory never shrinks and Go's GC lets the heap reach twice the live data:
	// a soft limit keeps a full-size model (≈0.4 GB of weights) well inside a tab.
	debug.SetMemoryLimit(1536 << 20)
	// The weights are most of the heap and live for good: collecting at 1.25× the live
	// heap instead of 2× keeps the memory near the model's size, for little work (they
	// hold no pointers to scan).
	debug.SetGCPercent(10)

	self := safejs.Global()
	boot, err := self.Get("gitvqa")
	if err != nil || boot.IsUndefined() {
		panic("worker.js did not set up self.gitvqa")
	}
	w := &worker.Worker{
		Post:        func(m protocol.Message) { post(self, m) },
		Yield:       func() { yield(boot) },
		OpenCache:   func(ctx context.Context) (worker.Cache, error) { return chunkstore.Open(ctx) },
		FreeSpace:   chunkstore.FreeSpace,
		Hash:        chunkstore.Hash,
		NewBackend:  backend.New,
		MemoryBytes: func() int64 { return memoryBytes(boot) },
		BootPhases:  func() []protocol.Phase { return bootPhases(boot, mainAt) },
		DecodePicture: func(ctx context.Context, data []byte, mime string) (worker.Picture, error) {
			return browserimage.Decode(ctx, data, mime)
		},
	}
	decoder := &protocol.Decoder{}
	handle, err := safejs.FuncOf(func(_ safejs.Value, args []safejs.Value) any {
		if len(args) == 0 {
			return nil
		}
		m, err := decoder.Decode(args[0])
		if err != nil {
			w.Post(protocol.Error{Code: protocol.CodeBadMessage, Message: err.Error()})
			return nil
		}
		w.Handle(m) // never blocks: model work runs on its own goroutine
		return nil
	})
	if err != nil {
		panic(err)
	}
	if _, err := boot.Call("started", handle.Value()); err != nil {
		panic(fmt.Errorf("worker.js: %w", err))
	}
	w.Post(protocol.Started{})
	select {}
}

// yield returns to the event loop so that cancel messages get through: Go's wasm
// scheduler hands control back to JavaScript while every goroutine sleeps.
// yield lets the worker's event loop run (a cancel, a peer's partial sums) and comes
// back at once: worker.js answers with a message to itself, not a timer.
func yield(boot safejs.Value) {
	p, err := boot.Call("yieldNow")
	if err != nil {
		time.Sleep(time.Millisecond)
		return
	}
	jsutil.Await(context.Background(), p)
}

func post(self safejs.Value, m protocol.Message) {
	obj, transfer, err := protocol.Encode(m)
	if err != nil {
		obj, transfer, _ = protocol.Encode(protocol.Error{Code: protocol.CodeInternal, Message: err.Error()})
	}
	self.Call("postMessage", obj, transfer)
}

// memoryBytes is what the Go instance's memory has grown to (it never shrinks).
func memoryBytes(boot safejs.Value) int64 {
	v, err := boot.Call("memoryBytes")
	if err != nil {
		return 0
	}
	f, _ := v.Float()
	return int64(f)
}

// now is the worker's clock (performance.now(), ms).
func now() float64 {
	p, _ := safejs.Global().Get("performance")
	v, _ := p.Call("now")
	f, _ := v.Float()
	return f
}

// bootPhases reads how worker.js started the runtime; mainAt is when main began.
func bootPhases(boot safejs.Value, mainAt float64) []protocol.Phase {
	b, err := boot.Get("boot")
	if err != nil || b.Type() != safejs.TypeObject {
		return nil
	}
	var out []protocol.Phase
	for _, p := range [][2]string{{"compile", "compileMs"}, {"instantiate", "instantiateMs"}} {
		v, _ := b.Get(p[1])
		f, _ := v.Float()
		out = append(out, protocol.Phase{Name: p[0], Ms: f})
	}
	run, _ := b.Get("runAt")
	if at, err := run.Float(); err == nil {
		out = append(out, protocol.Phase{Name: "Go runtime and package init", Ms: mainAt - at})
	}
	return out
}
