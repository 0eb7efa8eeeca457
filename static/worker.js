// The Web Worker: boots Go's wasm_exec.js, gitvqa.wasm and the SIMD kernel module, then
// hands every message to the Go runtime (wasm/main.go). Messages that arrive while it
// boots are queued.
/* global Go */
importScripts('wasm_exec.js');

const queue = [];
self.onmessage = (e) => queue.push(e.data);

self.gitvqa = {
  // Called by Go once it listens.
  started(handle) {
    self.onmessage = (e) => handle(e.data);
    for (const m of queue.splice(0)) handle(m);
    self.postMessage({ v: 1, type: 'started' });
  },
};

async function compile(name) {
  const url = new URL(name, self.location.href);
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch (streamErr) {
    // A host that serves .wasm with the wrong MIME type breaks streaming compilation;
    // compiling from bytes still works.
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${url}: ${resp.status} ${resp.statusText}`);
    return WebAssembly.compile(await resp.arrayBuffer());
  }
}

async function boot() {
  const go = new Go();
  const goModule = await compile('gitvqa.wasm');
  // Go imports each SIMD kernel (web/simd) from "gitvqa": one trampoline each into the
  // kernel module, which is instantiated after Go's own instance because it imports Go's
  // memory. Go calls only kernels the loaded module has.
  let kernels = {};
  go.importObject.gitvqa = {};
  for (const imp of WebAssembly.Module.imports(goModule)) {
    if (imp.module === 'gitvqa') go.importObject.gitvqa[imp.name] = (...args) => kernels[imp.name](...args);
  }
  const instance = await WebAssembly.instantiate(goModule, go.importObject);
  // What the Go instance's memory has grown to (wasm memory never shrinks).
  self.gitvqa.memoryBytes = () => instance.exports.mem.buffer.byteLength;
  // Relaxed SIMD (fused multiply-add, int8 dot products) where the browser has it, else
  // plain SIMD, else none: Go then keeps its own kernels. A module using an instruction
  // the browser lacks fails to compile, which is the feature test.
  self.gitvqaKernels = { variant: '' };
  for (const [variant, file] of [['relaxed', 'kernels-relaxed.wasm'], ['simd', 'kernels.wasm']]) {
    try {
      const k = await WebAssembly.instantiate(await compile(file), { env: { mem: instance.exports.mem } });
      kernels = k.exports;
      self.gitvqaKernels = { variant };
      break;
    } catch (err) {
      self.gitvqaKernels.error = String(err.message || err);
    }
  }
  go.run(instance).then(() => {
    self.postMessage({ v: 1, type: 'error', code: 'internal', message: 'the Go runtime exited' });
  });
}

boot().catch((err) => {
  self.postMessage({ v: 1, type: 'error', code: 'load_failed', message: `could not start the runtime: ${err.message || err}` });
});
