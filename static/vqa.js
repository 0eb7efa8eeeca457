// vqa.js — visual question answering in the browser, with Microsoft's GIT model.
//
//   import { GitVQA } from './vqa.js';
//   const vqa = await GitVQA.load({ model: 'models/git-large-vqav2/', onProgress });
//   const r = await vqa.ask(imageOrCanvasOrBlob, 'what color is the bus?', { onToken, signal, maxTokens });
//   r.text, r.ids, r.timings
//   await GitVQA.cache.list(); await GitVQA.cache.delete(url); await GitVQA.cache.clear();
//
// The messages to and from the worker are protocol.js's (generated from web/protocol).
//
// Everything runs in a Web Worker (worker.js + gitvqa.wasm); the model's chunks are kept
// in IndexedDB so the next visit starts offline. Pictures never leave the machine.
import { protocol as P } from './protocol.js';

// The constants (error codes, phases, kernel sets) for pages to compare with.
export { P as protocol };

/** An error from the worker; `code` is one of protocol.js's Code* values. */
export class VQAError extends Error {
  constructor(code, message) {
    super(message);
    this.name = 'VQAError';
    this.code = code;
  }
}

// Where worker.js, wasm_exec.js and the .wasm files are: beside this module unless the
// page says otherwise (a bundler that inlines this module into its own chunk cannot move
// them with it; see the README's "Install").
// (import.meta.url through a variable: bundlers rewrite new URL('…', import.meta.url)
// into a copied asset, here a copy of this very file.)
const moduleURL = import.meta.url;
const here = new URL('.', moduleURL);
const workerOf = (assetsURL) =>
  new URL('worker.js', new URL(String(assetsURL || GitVQA.assetsURL || here).replace(/\/?$/, '/'), document.baseURI));

export class GitVQA {
  /**
   * Starts a worker and loads a model folder (its manifest.json and chunks).
   * @param {{model?: string, onProgress?: Function, assetsURL?: string|URL, workerURL?: string|URL, exact?: boolean, workers?: number, kernels?: string, device?: string, stallMs?: number}} options
   *   onProgress({phase, loaded, total, fromCache}) — bytes; phase is download|verify|load.
   *   assetsURL: the folder of worker.js, wasm_exec.js and the .wasm files (default:
   *   GitVQA.assetsURL, else this module's folder); workerURL names worker.js itself.
   *   workers: how many workers share a picture's encoder and image pass (default: one per core, at most
   *   4; at most 2 in WebKit, whose core count is rounded up). The first answers as soon as it is ready; the others join in the background
   *   (see .sharing) and each holds its share of the encoder's and decoder's weights.
   *   exact: keep activations in float32 with int8 weights (slower; by default, where the
   *   browser has relaxed SIMD, activations are quantized to 7 bits per row, as ONNX
   *   Runtime's q8 models do).
   *   kernels: 'auto' (default: the fastest set that passes its self-test here), or a
   *   slower one to force: 'simd' (no relaxed SIMD) or 'go'.
   *   device: 'auto' (default: the GPU where a hardware adapter passes its self-test and
   *   runs a probe product faster than the CPU's workers together would; else the CPU),
   *   'cpu', or 'webgpu' (forced, a software adapter included): the shaders, after a
   *   self-test against the Go reference; where WebGPU is missing or disagrees the CPU
   *   runs. info.kernels says what runs ('webgpu' on the GPU), info.kernelsNote why.
   *   stallMs: how long a download may go without a byte before it is retried (default
   *   20000); after a few tries the load fails with a VQAError (code load_failed).
   * @returns {Promise<GitVQA>} resolved when the model is ready (see .info).
   */
  static async load({ model = 'models/git-large-vqav2/', onProgress, assetsURL, workerURL, exact = false, workers, kernels = P.KernelsAuto, device = 'auto', stallMs } = {}) {
    const manifestURL = manifestOf(model);
    if (device === 'webgpu') kernels = P.KernelsWebGPU;
    else if (device === 'cpu' && (kernels === P.KernelsWebGPU || kernels === P.KernelsAuto)) kernels = P.KernelsCPU;
    else if (device !== 'auto' && device !== 'cpu') throw new VQAError(P.CodeBadMessage, `device ${device}: want 'auto', 'webgpu' or 'cpu'`);
    const url = workerURL || workerOf(assetsURL);
    const vqa = new GitVQA(new Worker(url));
    // workers: what the GPU is weighed against on 'auto'
    const load = { manifestURL, exact, kernels, workers: workers ?? defaultWorkers() };
    try {
      vqa.info = await new Promise((resolve, reject) => {
        vqa._loading = { resolve, reject, onProgress };
        vqa._send({ type: P.Load, ...load, stallMs });
      });
    } catch (err) {
      vqa.close(); // a failed load leaves no worker behind
      throw err;
    }
    askToPersist(vqa.info);
    const want = Math.max(1, Math.min(workers ?? defaultWorkers(), vqa.info.model.maxWorkers || 1));
    /** Resolves to the number of workers sharing the image encoder, once they do. */
    // The shards run what the main worker runs (not what was asked for: a GPU that failed
    // its self-test there leaves the CPU sets).
    vqa.sharing = want > 1 ? vqa._startShards(url, { ...load, kernels: vqa.info.kernels }, want) : Promise.resolve(1);
    return vqa;
  }

  // _startShards starts count-1 shard workers and connects them to the main worker by
  // MessageChannels; the main worker sends each its share of the image encoder (they read
  // nothing themselves) and says when they all hold it. If any fails, the main worker
  // goes on alone.
  async _startShards(url, load, count) {
    this.workers = 1;
    const ports = [];
    for (let index = 1; index < count; index++) {
      const shard = new Worker(url);
      this._shards.push(shard);
      const channel = new MessageChannel();
      ports.push(channel.port1);
      shard.onmessage = (e) => {
        const m = e.data;
        if (m?.type === P.ShardReady) this.shardInfo.push(m);
        if (m?.type === P.Error || m?.bootError) this._dropShards();
      };
      shard.onerror = () => this._dropShards();
      post(shard, { type: P.Shard, exact: load.exact, kernels: load.kernels, index, count, port: channel.port2 }, [channel.port2]);
    }
    return new Promise((resolve) => {
      this._peersReady = (n) => {
        if (n === 1 && this._shards.length) this._dropShards();
        this.workers = n;
        resolve(n);
      };
      this._send({ type: P.Peers, ports }, ports);
    });
  }

  _dropShards() {
    for (const shard of this._shards) shard.terminate();
    if (this._shards.length) this._send({ type: P.Peers, ports: [] });
    this._shards = [];
    this.workers = 1;
  }

  constructor(worker) {
    this._worker = worker;
    this._shards = [];
    /** How many workers share a picture's encoder and image pass now. */
    this.workers = 1;
    /** The shard workers' ready messages: {index, kernels, phases, loadMs, memoryBytes}. */
    this.shardInfo = [];
    this._nextId = 1;
    this._pending = new Map(); // asks and cache calls by id
    this._closed = false;
    worker.onmessage = (e) => this._receive(e.data);
    worker.onerror = (e) => this._fail(new VQAError(P.CodeInternal, e.message || 'the worker failed'));
    live.add(this);
  }

  _send(m, transfer = []) {
    post(this._worker, m, transfer);
  }

  _fail(err) {
    if (this._loading) {
      this._loading.reject(err);
      this._loading = null;
    }
    for (const p of this._pending.values()) p.reject(err);
    this._pending.clear();
  }

  _receive(m) {
    if (m?.bootError) {
      this._fail(new VQAError(P.CodeLoadFailed, m.bootError));
      return;
    }
    if (!m || m.v !== P.Version) return;
    const pending = m.id ? this._pending.get(m.id) : null;
    const settle = () => this._pending.delete(m.id);
    switch (m.type) {
      case P.LoadProgress:
        this._loading?.onProgress?.(m);
        break;
      case P.Ready:
        this._loading?.resolve(m);
        this._loading = null;
        break;
      case P.PeersReady:
        this._peersReady?.(m.workers);
        break;
      case P.Progress:
        pending?.onProgress?.(m);
        break;
      case P.Token:
        pending?.onToken?.(m.text, m);
        break;
      case P.Answer:
        if (pending) {
          settle();
          pending.resolve({ text: m.text, ids: m.ids, inputIds: m.inputIds, stoppedBy: m.stoppedBy, timings: m.timings, profile: m.profile, logits: m.logits });
        }
        break;
      case P.CacheModels:
      case P.CacheDone:
        if (pending) {
          settle();
          pending.resolve(m);
        }
        break;
      case P.Error: {
        const err = new VQAError(m.code, m.message);
        if (pending) {
          settle();
          pending.reject(err);
        } else if (this._loading) {
          this._loading.reject(err);
          this._loading = null;
        }
        break;
      }
    }
  }

  // _call sends a message with a new id and resolves with its reply.
  _call(m, handlers = {}, transfer = []) {
    if (this._closed) return Promise.reject(new VQAError(P.CodeCancelled, 'closed'));
    const id = this._nextId++;
    return new Promise((resolve, reject) => {
      this._pending.set(id, { resolve, reject, ...handlers });
      handlers.signal?.addEventListener('abort', () => this._send({ type: P.Cancel, id }), { once: true });
      this._send({ ...m, id }, transfer);
    });
  }

  /**
   * Answers a question about a picture.
   * @param image a File/Blob, ArrayBuffer/Uint8Array (encoded bytes), canvas,
   *   OffscreenCanvas, ImageData, ImageBitmap, <img> or <video>.
   * @param {string} question an empty question is refused; use caption() for a caption.
   * @param {{onToken?: Function, onProgress?: Function, signal?: AbortSignal, maxTokens?: number}} options
   *   onToken(textSoFar) streams the answer; onProgress({phase, done, total}) counts
   *   layers (encode, prefill) and tokens (decode); signal cancels it.
   */
  async ask(image, question, options = {}) {
    return this._ask(image, question, false, options);
  }

  /** Describes a picture (GIT's captioning: an empty prompt). */
  async caption(image, options = {}) {
    return this._ask(image, '', true, options);
  }

  async _ask(image, question, caption, { onToken, onProgress, signal, maxTokens = 20, profile = false, logits = false } = {}) {
    if (signal?.aborted) throw new VQAError(P.CodeCancelled, 'cancelled');
    let payload, transfer;
    try {
      ({ payload, transfer } = await imagePayload(image));
    } catch (err) {
      throw err instanceof VQAError ? err : new VQAError(P.CodeBadImage, `could not read the picture: ${err.message || err}`);
    }
    if (signal?.aborted) throw new VQAError(P.CodeCancelled, 'cancelled');
    return this._call({ type: P.Ask, image: payload, question: String(question ?? ''), maxTokens, caption, profile, logits },
      { onToken, onProgress, signal }, transfer);
  }

  /** Stops the workers. */
  close() {
    this._closed = true;
    live.delete(this);
    for (const shard of this._shards) shard.terminate();
    this._worker.terminate();
    this._fail(new VQAError(P.CodeCancelled, 'closed'));
  }
}

// defaultWorkers is one worker per core, at most 4. WebKit reports a rounded core count
// (4 on a 2-core machine, to resist fingerprinting), so there it is trusted for 2 at most:
// more workers than cores only add memory and contention.
function defaultWorkers() {
  const cores = navigator.hardwareConcurrency || 1;
  const ua = navigator.userAgent || '';
  const webkit = /AppleWebKit/.test(ua) && !/Chrome|Chromium|Edg\//.test(ua);
  return Math.min(cores, webkit ? 2 : 4);
}

// askToPersist asks the browser to keep the cache (only a page can ask, not a worker):
// once, for a model large enough to matter, and not when it is kept already. Some
// browsers (Firefox) show the user a prompt for it.
async function askToPersist(info) {
  try {
    if (info.storage !== P.StorageIndexedDB || info.bytes < 100e6 || !navigator.storage?.persist) return;
    if (await navigator.storage.persisted?.()) return;
    if (localStorage.getItem('gitvqa.persistAsked')) return;
    localStorage.setItem('gitvqa.persistAsked', String(Date.now()));
    await navigator.storage.persist();
  } catch { /* private mode, no localStorage: never mind */ }
}

// post sends a protocol message, stamped with the protocol's version.
function post(worker, m, transfer = []) {
  worker.postMessage({ v: P.Version, ...m }, transfer);
}

function manifestOf(model) {
  return new URL(model.endsWith('.json') ? model : model.replace(/\/?$/, '/manifest.json'), document.baseURI).href;
}

// The models this page has loaded: a cache call asks one of their workers.
const live = new Set();

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
    if (!image.naturalWidth || !image.naturalHeight) {
      throw new VQAError(P.CodeBadImage, `the <img> has no picture (${image.currentSrc || image.src || 'no src'} did not load or is not an image)`);
    }
    if (image.naturalWidth * image.naturalHeight > P.MaxPixels) {
      throw new VQAError(P.CodeBadImage, `picture of ${image.naturalWidth}×${image.naturalHeight} pixels is too large (at most ${P.MaxPixels / 2 ** 20} megapixels)`);
    }
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
  if (width * height > P.MaxPixels) {
    // Refused before its pixels are copied (a 9000×9000 canvas is 324 MB).
    throw new VQAError(P.CodeBadImage, `picture of ${width}×${height} pixels is too large (at most ${P.MaxPixels / 2 ** 20} megapixels)`);
  }
  if (isCanvas(source) && source.getContext) {
    const ctx = source.getContext('2d');
    if (ctx) return ctx.getImageData(0, 0, width, height);
  }
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(source, 0, 0);
  return ctx.getImageData(0, 0, width, height);
}

// ---- the cache: IndexedDB, whose schema the Go side owns (web/chunkstore) ---------------

// cacheCall asks a worker: one of a loaded model's, or one started for the call.
async function cacheCall(m) {
  const vqa = live.values().next().value;
  if (vqa) return vqa._call(m);
  const temp = new GitVQA(new Worker(workerOf()));
  try {
    return await temp._call(m);
  } finally {
    temp.close();
  }
}

/** The default assetsURL for load() and the cache calls (null: this module's folder). */
GitVQA.assetsURL = null;

GitVQA.cache = {
  /** Cached models: [{url, bytes, complete, updated: Date, description}]. */
  async list() {
    const r = await cacheCall({ type: P.CacheList });
    return r.models.map((m) => ({ ...m, updated: new Date(m.updated) }));
  },

  /** Removes a model (by manifest URL or folder URL) and the chunks no other model
   * uses; resolves to whether it was cached. */
  async delete(url) {
    return (await cacheCall({ type: P.CacheDelete, url: manifestOf(url) })).deleted;
  },

  /** Removes every cached model. */
  async clear() {
    await cacheCall({ type: P.CacheClear });
  },

  /** What this site stores, from navigator.storage.estimate(): {usage, quota}. */
  async estimate() {
    return navigator.storage?.estimate ? navigator.storage.estimate() : { usage: 0, quota: 0 };
  },
};
