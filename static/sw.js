// A service worker so that the page itself opens offline on a second visit (the model's
// chunks are in IndexedDB). Network first, so a deploy is seen at once; the cache answers
// only when the network does not. Model files are not touched here.
const CACHE = 'gitvqa-shell-v1';
const SHELL = ['./', 'index.html', 'app.js', 'vqa.js', 'protocol.js', 'style.css', 'worker.js', 'wasm_exec.js', 'gitvqa.wasm',
  'kernels.wasm', 'kernels-relaxed.wasm'];

self.addEventListener('install', (e) => {
  e.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener('activate', (e) => {
  e.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

// The page asks whether every file of the shell is stored before it tells the user the
// model works offline: with a tight quota the model may fit and the shell not.
self.addEventListener('message', (e) => {
  if (e.data?.type !== 'shell-status' || !e.ports[0]) return;
  e.waitUntil(caches.open(CACHE).then(async (c) => {
    let cached = 0;
    for (const f of SHELL) if (await c.match(f)) cached++;
    e.ports[0].postMessage({ cached, total: SHELL.length });
  }));
});

self.addEventListener('fetch', (e) => {
  const url = new URL(e.request.url);
  if (e.request.method !== 'GET' || url.origin !== location.origin) return;
  const shellFile = SHELL.some((f) => url.pathname.endsWith('/' + f.replace('./', '')) || (f === './' && url.pathname.endsWith('/')));
  if (!shellFile) return; // models: the worker and IndexedDB handle them
  e.respondWith(
    fetch(e.request)
      .then((resp) => {
        if (resp.ok) {
          const copy = resp.clone();
          caches.open(CACHE).then((c) => c.put(e.request, copy));
        }
        return resp;
      })
      .catch(() => caches.match(e.request, { ignoreSearch: true })),
  );
});
