// vqa.js — visual question answering in the browser, with Microsoft's GIT model.
//
//   import { GitVQA } from './vqa.js';
//   const vqa = await GitVQA.load({ model: 'models/git-large-vqav2/', onProgress });
//   const r = await vqa.ask(imageOrCanvasOrBlob, 'what color is the bus?', { onToken, signal, maxTokens });
//   r.text, r.ids, r.timings
//   await GitVQA.cache.list(); await GitVQA.cache.delete(url); await GitVQA.cache.clear();
//
// Everything runs in a Web Worker (worker.js + gitvqa.wasm); the model's chunks are kept
// in IndexedDB so the next visit starts offline. Pictures never leave the machine.
import { protocol as P } from './protocol.js';

/** An error from the worker; `code` is one of protocol.js's Code* values. */
export class VQAError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'VQAError';
    this.code = code;
  }
}

const here = new URL('.', import.meta.url);

export class GitVQA {
  /**
   * Starts a worker and loads a model folder (its manifest.json and chunks).
   * @param {{model?: string, onProgress?: Function, workerURL?: string|URL, exact?: boolean, workers?: number}} options
   *   onProgress({phase, loaded, total, fromCache}) — phase is download|verify|load.
   *   workers: how many workers share the image encoder (default: one per core, at most
   *   4). The first answers as soon as it is ready; the others join in the background
   *   (see .sharing) and each holds its share of the encoder's weights.
   *   exact: keep activations in float32 with int8 weights (slower; by default, where the
   *   browser has relaxed SIMD, activations are quantized to 7 bits per row, as ONNX
   *   Runtime's q8 models do).
   * @returns {Promise<GitVQA>} resolved when the model is ready (see .info).
   */
  static async load({ model = 'models/git-large-vqav2/', onProgress, workerURL, exact = false, workers } = {}) {
    const manifestURL = new URL(model.endsWith('.json') ? model : model.replace(/\/?$/, '/manifest.json'), document.baseURI).href;
    // Ask the browser to keep our storage (only a page can ask, not a worker).
    if (navigator.storage && navigator.storage.persist) {
      navigator.storage.persist().catch(() => {});
    }
    const url = workerURL || new URL('worker.js', here);
    const worker = new Worker(url);
    const vqa = new GitVQA(worker);
    vqa.info = await new Promise((resolve, reject) => {
      vqa._loading = { resolve, reject, onProgress };
      worker.postMessage({ v: P.Version, type: P.Load, manifestURL, exact });
    });
    const want = Math.max(1, Math.min(workers ?? Math.min(navigator.hardwareConcurrency || 1, 4), vqa.info.model.maxWorkers || 1));
    /** Resolves to the number of workers sharing the image encoder, once they do. */
    vqa.sharing = want > 1 ? vqa._startShards(url, manifestURL, exact, want) : Promise.resolve(1);
    return vqa;
  }

  // _startShards starts count-1 shard workers, each loading its share of the image
  // encoder (from IndexedDB: the first worker stored the model), and connects them to
  // the main worker by MessageChannels. If any fails, the main worker goes on alone.
  async _startShards(url, manifestURL, exact, count) {
    this.workers = 1;
    const ports = [];
    const started = [];
    for (let index = 1; index < count; index++) {
      const shard = new Worker(url);
      this._shards.push(shard);
      const channel = new MessageChannel();
      ports.push(channel.port1);
      started.push(new Promise((resolve, reject) => {
        shard.onmessage = (e) => {
          const m = e.data;
          if (m?.type === P.Ready) resolve();
          if (m?.type === P.Error) reject(new VQAError(m.code, m.message));
        };
        shard.onerror = (e) => reject(new VQAError(P.CodeInternal, e.message || 'a shard worker failed'));
      }));
      shard.postMessage({ v: P.Version, type: P.Shard, manifestURL, index, count, exact, port: channel.port2 }, [channel.port2]);
    }
    try {
      await Promise.all(started);
    } catch (err) {
      this._dropShards();
      return 1;
    }
    // A shard that dies later: the main worker stops waiting for it and goes on alone.
    for (const shard of this._shards) shard.onerror = () => this._dropShards();
    return new Promise((resolve) => {
      this._peersReady = (n) => { this.workers = n; resolve(n); };
      this._worker.postMessage({ v: P.Version, type: P.Peers, ports }, ports);
    });
  }

  _dropShards() {
    for (const shard of this._shards) shard.terminate();
    if (this._shards.length) this._worker.postMessage({ v: P.Version, type: P.Peers, ports: [] });
    this._shards = [];
    this.workers = 1;
  }

  constructor(worker) {
    this._worker = worker;
    this._shards = [];
    /** How many workers share the image encoder now. */
    this.workers = 1;
    this._nextId = 1;
    this._asks = new Map();
    worker.onmessage = (e) => this._receive(e.data);
    worker.onerror = (e) => this._fail(new VQAError(P.CodeInternal, e.message || 'the worker failed'));
  }

  _fail(err) {
    if (this._loading) {
      this._loading.reject(err);
      this._loading = null;
    }
    for (const a of this._asks.values()) a.reject(err);
    this._asks.clear();
  }

  _receive(m) {
    if (!m || m.v !== P.Version) return;
    const ask = m.id ? this._asks.get(m.id) : null;
    switch (m.type) {
      case P.Progress:
        if (ask) ask.onProgress?.(m);
        else this._loading?.onProgress?.(m);
        break;
      case P.Ready:
        this._loading?.resolve(m);
        this._loading = null;
        break;
      case P.PeersReady:
        this._peersReady?.(m.workers);
        break;
      case P.Token:
        ask?.onToken?.(m.text, m);
        break;
      case P.Answer:
        if (ask) {
          this._asks.delete(m.id);
          ask.resolve({ text: m.text, ids: m.ids, inputIds: m.inputIds, stoppedBy: m.stoppedBy, timings: m.timings, profile: m.profile });
        }
        break;
      case P.Error: {
        const err = new VQAError(m.code, m.message);
        if (ask) {
          this._asks.delete(m.id);
          ask.reject(err);
        } else if (this._loading) {
          this._loading.reject(err);
          this._loading = null;
        }
        break;
      }
    }
  }

  /**
   * Answers a question about a picture.
   * @param image a File/Blob, ArrayBuffer/Uint8Array (encoded bytes), canvas,
   *   OffscreenCanvas, ImageData, ImageBitmap, <img> or <video>.
   * @param {string} question an empty question is refused; use caption() for a caption.
   * @param {{onToken?: Function, onProgress?: Function, signal?: AbortSignal, maxTokens?: number}} options
   *   onToken(textSoFar) streams the answer; signal cancels it.
   */
  async ask(image, question, options = {}) {
    return this._ask(image, question, false, options);
  }

  /** Describes a picture (GIT's captioning: an empty prompt). */
  async caption(image, options = {}) {
    return this._ask(image, '', true, options);
  }

  async _ask(image, question, caption, { onToken, onProgress, signal, maxTokens = 20, profile = false } = {}) {
    if (signal?.aborted) throw new VQAError(P.CodeCancelled, 'cancelled');
    const { payload, transfer } = await imagePayload(image);
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._asks.set(id, { resolve, reject, onToken, onProgress });
      signal?.addEventListener('abort', () => this._worker.postMessage({ v: P.Version, type: P.Cancel, id }), { once: true });
      this._worker.postMessage({ v: P.Version, type: P.Ask, id, image: payload, question: String(question ?? ''), maxTokens, caption, profile }, transfer);
    });
  }

  /** Stops the workers. */
  close() {
    for (const shard of this._shards) shard.terminate();
    this._worker.terminate();
    this._fail(new VQAError(P.CodeCancelled, 'closed'));
  }
}

// imagePayload turns what the page has into what the worker takes: encoded bytes for
// files (decoded in Go exactly as Pillow does; the browser's decoder would
// premultiply alpha and may apply colour profiles), or RGBA pixels at the picture's
// natural size for canvases, video frames and the like. Nothing is resampled here.
async function imagePayload(image) {
  if (image instanceof Blob) {
    const bytes = await image.arrayBuffer();
    return { payload: { bytes, type: image.type }, transfer: [bytes] };
  }
  if (image instanceof ArrayBuffer) {
    const bytes = image.slice(0);
    return { payload: { bytes }, transfer: [bytes] };
  }
  if (ArrayBuffer.isView(image)) {
    const bytes = image.buffer.slice(image.byteOffset, image.byteOffset + image.byteLength);
    return { payload: { bytes }, transfer: [bytes] };
  }
  let data;
  if (typeof ImageData !== 'undefined' && image instanceof ImageData) {
    data = image;
  } else if (isCanvas(image)) {
    data = pixelsOf(image, image.width, image.height);
  } else if (typeof HTMLVideoElement !== 'undefined' && image instanceof HTMLVideoElement) {
    data = pixelsOf(image, image.videoWidth, image.videoHeight);
  } else if (typeof HTMLImageElement !== 'undefined' && image instanceof HTMLImageElement) {
    await image.decode?.().catch(() => {});
    const bitmap = await createImageBitmap(image, { premultiplyAlpha: 'none', colorSpaceConversion: 'none' });
    data = pixelsOf(bitmap, bitmap.width, bitmap.height);
    bitmap.close();
  } else if (typeof ImageBitmap !== 'undefined' && image instanceof ImageBitmap) {
    data = pixelsOf(image, image.width, image.height);
  } else {
    throw new VQAError(P.CodeBadImage, 'not a picture: pass a File, Blob, canvas, ImageData, ImageBitmap, <img> or <video>');
  }
  const rgba = data.data.buffer.slice(0);
  return { payload: { width: data.width, height: data.height, rgba }, transfer: [rgba] };
}

function isCanvas(x) {
  return (typeof HTMLCanvasElement !== 'undefined' && x instanceof HTMLCanvasElement) ||
    (typeof OffscreenCanvas !== 'undefined' && x instanceof OffscreenCanvas);
}

function pixelsOf(source, width, height) {
  if (!width || !height) return { width: width || 0, height: height || 0, data: new Uint8ClampedArray(0) };
  if (isCanvas(source) && source.getContext) {
    const ctx = source.getContext('2d');
    if (ctx) return ctx.getImageData(0, 0, width, height);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

// ---- the cache: the IndexedDB schema of web/chunkstore ----------------------------

const DB = { name: 'gitvqa', version: 1, chunks: 'chunks', models: 'models' };

function openDB() {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB.name, DB.version);
    req.onupgradeneeded = () => {
      const db = req.result;
      if (!db.objectStoreNames.contains(DB.chunks)) db.createObjectStore(DB.chunks);
      if (!db.objectStoreNames.contains(DB.models)) db.createObjectStore(DB.models);
    };
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function done(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function chunkKeys(record) {
  const m = JSON.parse(record.manifest);
  return [m.tokenizer.sha256, ...m.chunks.map((c) => c.sha256)];
}

GitVQA.cache = {
  /** Cached models: [{url, bytes, complete, updated: Date, description}]. */
  async list() {
    const db = await openDB();
    try {
      const all = await done(db.transaction(DB.models).objectStore(DB.models).getAll());
      return all.map((r) => {
        let description = '';
        try { description = JSON.parse(r.manifest).description || ''; } catch { /* ignore */ }
        return { url: r.url, bytes: r.bytes, complete: r.complete, updated: new Date(r.updated), description };
      });
    } finally {
      db.close();
    }
  },

  /** Removes a model (by manifest URL or folder URL) and the chunks no other model uses. */
  async delete(url) {
    const want = new URL(url.endsWith('.json') ? url : url.replace(/\/?$/, '/manifest.json'), document.baseURI).href;
    const db = await openDB();
    try {
      const tx = db.transaction([DB.models, DB.chunks], 'readwrite');
      const models = tx.objectStore(DB.models);
      const all = await done(models.getAll());
      const keep = new Set();
      let found = null;
      for (const r of all) {
        if (r.url === want) found = r;
        else chunkKeys(r).forEach((k) => keep.add(k));
      }
      if (found) {
        models.delete(want);
        for (const k of chunkKeys(found)) if (!keep.has(k)) tx.objectStore(DB.chunks).delete(k);
      }
      await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
      return Boolean(found);
    } finally {
      db.close();
    }
  },

  /** Removes every cached model. */
  async clear() {
    const db = await openDB();
    try {
      const tx = db.transaction([DB.models, DB.chunks], 'readwrite');
      tx.objectStore(DB.models).clear();
      tx.objectStore(DB.chunks).clear();
      await new Promise((resolve, reject) => { tx.oncomplete = resolve; tx.onerror = () => reject(tx.error); });
    } finally {
      db.close();
    }
  },

  /** What this site stores, from navigator.storage.estimate(): {usage, quota}. */
  async estimate() {
    return navigator.storage?.estimate ? navigator.storage.estimate() : { usage: 0, quota: 0 };
  },
};
