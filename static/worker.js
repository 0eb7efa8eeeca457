// The Web Worker: boots Go's wasm_exec.js and gitvqa.wasm, compiles the SIMD kernel
// modules this browser can run, then hands every message to the Go runtime
// (wasm/main.go). Messages that arrive while it boots are queued. Before Go is up there
// is no protocol yet: a failure to boot is posted as {bootError}.
/* global Go */
importScripts('wasm_exec.js');

const queue = [];
self.onmessage = (e) => queue.push(e.data);

async function compile(name) {
  const url = new URL(name, self.location.href);
  try {
    return await WebAssembly.compileStreaming(fetch(url));
  } catch (err) {
    // A module this browser cannot run fails the same way from bytes: no second try.
    if (err instanceof WebAssembly.CompileError) throw err;
    // A host that serves .wasm with the wrong MIME type breaks streaming compilation;
    // compiling from bytes still works.
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${url}: ${resp.status} ${resp.statusText}`);
    return WebAssembly.compile(await resp.arrayBuffer());
  }
}

async function boot() {
  const t0 = performance.now();
  const go = new Go();
  const goModule = compile('gitvqa.wasm');
  // The kernel modules, by the names web/backend asks for. A module using an
  // instruction the browser lacks fails to compile: that is the feature test.
  const kernelModules = {};
  const kernelErrors = {};
  const compiling = [['relaxed-simd', 'kernels-relaxed.wasm'], ['simd', 'kernels.wasm']].map(([name, file]) =>
    compile(file).then((m) => { kernelModules[name] = m; }, (err) => { kernelErrors[name] = String(err.message || err); }));
  // Go imports each SIMD kernel (model/kernels/simd) from "gitvqa": one trampoline each
  // into the kernel module in use, which is instantiated after Go's own instance because
  // it imports Go's memory. Go calls only kernels the module in use has.
  let kernels = {};
  const module = await goModule;
  const compiled = performance.now();
  go.importObject.gitvqa = {};
  for (const imp of WebAssembly.Module.imports(module)) {
    if (imp.module === 'gitvqa') go.importObject.gitvqa[imp.name] = (...args) => kernels[imp.name](...args);
  }
  const instance = await WebAssembly.instantiate(module, go.importObject);
  await Promise.all(compiling);
  const instantiated = performance.now();
  const tick = new MessageChannel();
  const ticks = [];
  tick.port1.onmessage = () => ticks.shift()?.();
  self.gitvqa = {
    // How the start went, for the ready message: ms since the worker began.
    boot: { compileMs: compiled - t0, instantiateMs: instantiated - compiled, startedAt: instantiated },
    // Called by Go once it listens.
    started(handle) {
      self.onmessage = (e) => handle(e.data);
      for (const m of queue.splice(0)) handle(m);
    },
    // Instantiates a kernel module over Go's memory and routes Go's kernel calls to it;
    // returns '' or why it cannot.
    useKernels(name) {
      const m = kernelModules[name];
      if (!m) return kernelErrors[name] || `no module ${name}`;
      try {
        kernels = new WebAssembly.Instance(m, { env: { mem: instance.exports.mem } }).exports;
        return '';
      } catch (err) {
        return String(err.message || err);
      }
    },
    // A turn of the event loop for Go to yield with (between layers and tokens), so
    // that a cancel or a peer's reply is heard: a message to ourselves, not a timer
    // (setTimeout waits ≥1 ms, 4 ms once nested).
    yieldNow: () => new Promise((resolve) => { ticks.push(resolve); tick.port2.postMessage(0); }),
    // What the Go instance's memory has grown to (wasm memory never shrinks).
    memoryBytes: () => instance.exports.mem.buffer.byteLength,
  };
  self.gitvqa.boot.runAt = performance.now();
  go.run(instance).then(() => self.postMessage({ bootError: 'the Go runtime exited' }));
}

boot().catch((err) => self.postMessage({ bootError: `could not start the runtime: ${err.message || err}` }));
