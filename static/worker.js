// The Web Worker: boots Go's wasm_exec.js and gitvqa.wasm, then hands every message to
// the Go runtime (wasm/main.go). Messages that arrive while it boots are queued.
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

async function boot() {
  const go = new Go();
  const url = new URL('gitvqa.wasm', self.location.href);
  let result;
  try {
    result = await WebAssembly.instantiateStreaming(fetch(url), go.importObject);
  } catch (streamErr) {
    // A host that serves .wasm with the wrong MIME type breaks streaming compilation;
    // compiling from bytes still works.
    const resp = await fetch(url);
    if (!resp.ok) throw new Error(`${url}: ${resp.status} ${resp.statusText}`);
    result = await WebAssembly.instantiate(await resp.arrayBuffer(), go.importObject);
  }
  go.run(result.instance).then(() => {
    self.postMessage({ v: 1, type: 'error', code: 'internal', message: 'the Go runtime exited' });
  });
}

boot().catch((err) => {
  self.postMessage({ v: 1, type: 'error', code: 'load_failed', message: `could not start the runtime: ${err.message || err}` });
});
