// Types for vqa.js, gitvqa's public API. The messages' own types come from protocol.d.ts
// (generated from web/protocol); this file names what a page passes and gets back.
import type { Answer, ErrorCode, KernelSet, LoadProgress, Progress, Ready, ShardReady, Timings, Token } from './protocol.js';

export { protocol } from './protocol.js';
export type { Answer, ErrorCode, KernelSet, LoadProgress, PhaseName, Progress, Ready, ShardReady, Timings, Token } from './protocol.js';

/** An error from the worker or from reading a picture; `code` says which kind. */
export declare class VQAError extends Error {
  constructor(code: ErrorCode, message: string);
  readonly name: 'VQAError';
  /** bad_image, empty_image, empty_question, question_too_long, load_failed, cancelled, … */
  code: ErrorCode;
}

export interface LoadOptions {
  /** The model folder (its manifest.json beside the chunks), or a manifest's URL;
   * relative to the page. Default 'models/git-large-vqav2/'. */
  model?: string;
  /** Bytes of the load so far: phase download, verify or load; fromCache when read from IndexedDB. */
  onProgress?: (progress: LoadProgress) => void;
  /** The folder holding worker.js, wasm_exec.js and the .wasm files (default:
   * GitVQA.assetsURL, else the folder of vqa.js). Set it when a bundler moves vqa.js. */
  assetsURL?: string | URL;
  /** worker.js itself, when it lies apart from the rest. */
  workerURL?: string | URL;
  /** Keep activations float32 with the int8 weights (slower, closest to float32). */
  exact?: boolean;
  /** Workers sharing the image encoder (default: one per core, at most 4). */
  workers?: number;
  /** 'auto' (default) or a slower kernel set to force: 'simd' or 'go'. */
  kernels?: KernelSet;
  /** 'auto' (default: the GPU where a hardware adapter passes its self-test and a probe
   * product runs faster on it than on the CPU's workers together; else the CPU), 'cpu',
   * or 'webgpu' (forced, a software adapter included): the GPU's shaders after a
   * self-test, else the CPU. info.kernels says what runs, info.kernelsNote why. */
  device?: 'auto' | 'cpu' | 'webgpu';
  /** How long a download may go without a byte before it is retried (default 20000). */
  stallMs?: number;
}

/** A picture: encoded bytes (PNG, JPEG, WebP, GIF, BMP, AVIF, …) or pixels. */
export type ImageInput =
  | Blob
  | ArrayBuffer
  | ArrayBufferView
  | HTMLCanvasElement
  | OffscreenCanvas
  | ImageData
  | ImageBitmap
  | HTMLImageElement
  | HTMLVideoElement;

export interface AskOptions {
  /** The answer so far, after each generated token. */
  onToken?: (textSoFar: string, token: Token) => void;
  /** Layers (encode, prefill) and tokens (decode) done out of total. */
  onProgress?: (progress: Progress) => void;
  /** Aborting it cancels the question: it rejects with code 'cancelled'. */
  signal?: AbortSignal;
  /** New tokens at most (default 20). */
  maxTokens?: number;
  /** Report ms by kind of work in the result's profile. */
  profile?: boolean;
  /** Return the first step's next-token logits. */
  logits?: boolean;
}

/** An answer (or caption). */
export type Result = Pick<Answer, 'text' | 'ids' | 'inputIds' | 'stoppedBy' | 'timings' | 'profile' | 'logits'>;

/** A model kept in IndexedDB. */
export interface CachedModelEntry {
  /** Its manifest's URL. */
  url: string;
  bytes: number;
  /** Every file stored: the model loads offline. */
  complete: boolean;
  updated: Date;
  description: string;
}

export declare class GitVQA {
  /** Starts a worker and loads a model; resolves when it can answer. */
  static load(options?: LoadOptions): Promise<GitVQA>;
  /** The default assetsURL of load() and of the cache calls (null: the folder of vqa.js). */
  static assetsURL: string | URL | null;
  /** The models kept in this site's IndexedDB. */
  static cache: {
    list(): Promise<CachedModelEntry[]>;
    /** Removes a model (folder or manifest URL) and the chunks no other model uses; resolves to whether it was cached. */
    delete(url: string): Promise<boolean>;
    clear(): Promise<void>;
    /** navigator.storage.estimate(), or zeros where the browser has none. */
    estimate(): Promise<{ usage?: number; quota?: number }>;
  };

  /** The worker's ready message: the model, the kernels that run, where the weights are kept. */
  info: Ready;
  /** Resolves to the number of workers sharing the image encoder, once they do. */
  sharing: Promise<number>;
  /** How many workers share a picture's encoder and image pass now. */
  workers: number;
  /** The shard workers' ready messages. */
  shardInfo: ShardReady[];

  /** Answers a question about a picture. An empty question is refused (use caption()). */
  ask(image: ImageInput, question: string, options?: AskOptions): Promise<Result>;
  /** Describes a picture (GIT's captioning: an empty prompt). */
  caption(image: ImageInput, options?: AskOptions): Promise<Result>;
  /** Stops the workers; pending questions reject with code 'cancelled'. */
  close(): void;
}

