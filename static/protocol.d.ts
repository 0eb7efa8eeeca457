// Generated from web/protocol by `go generate ./web/protocol`. Do not edit.
// Declarations for protocol.js: the messages between the page, the worker and the
// workers that share the image encoder.

export declare const protocol: Readonly<{
  Answer: "answer";
  Ask: "ask";
  Block: "block";
  CacheClear: "cache-clear";
  CacheDelete: "cache-delete";
  CacheDone: "cache-done";
  CacheList: "cache-list";
  CacheModels: "cache-models";
  Cancel: "cancel";
  CodeBadImage: "bad_image";
  CodeBadMessage: "bad_message";
  CodeCacheFailed: "cache_failed";
  CodeCancelled: "cancelled";
  CodeEmptyImage: "empty_image";
  CodeEmptyQuestion: "empty_question";
  CodeInternal: "internal";
  CodeLoadFailed: "load_failed";
  CodeNotLoaded: "not_loaded";
  CodeQuestionTooLong: "question_too_long";
  Error: "error";
  KernelsAuto: "auto";
  KernelsCPU: "cpu";
  KernelsGo: "go";
  KernelsRelaxed: "relaxed-simd";
  KernelsSIMD: "simd";
  KernelsWebGPU: "webgpu";
  Load: "load";
  LoadProgress: "load-progress";
  MaxPixels: 67108864;
  Partial: "partial";
  Peers: "peers";
  PeersReady: "peers-ready";
  PhaseDecode: "decode";
  PhaseDownload: "download";
  PhaseEncode: "encode";
  PhaseLoad: "load";
  PhasePrefill: "prefill";
  PhaseVerify: "verify";
  Progress: "progress";
  Ready: "ready";
  Shard: "shard";
  ShardLayer: "shard-layer";
  ShardModel: "shard-model";
  ShardReady: "shard-ready";
  Started: "started";
  StorageIndexedDB: "indexeddb";
  StorageMemory: "memory";
  TaskCaption: "caption";
  TaskVQA: "vqa";
  Token: "token";
  Version: 2;
}>;

/** The values of protocol.Code*. */
export type ErrorCode = "bad_image" | "bad_message" | "cache_failed" | "cancelled" | "empty_image" | "empty_question" | "internal" | "load_failed" | "not_loaded" | "question_too_long";

/** The values of protocol.Kernels*. */
export type KernelSet = "auto" | "cpu" | "go" | "relaxed-simd" | "simd" | "webgpu";

/** The values of protocol.Phase*. */
export type PhaseName = "decode" | "download" | "encode" | "load" | "prefill" | "verify";

/** The values of protocol.Storage*. */
export type StorageKind = "indexeddb" | "memory";

/** The values of protocol.Task*. */
export type Task = "caption" | "vqa";

export interface Load {
  v: 2;
  type: 'load';
  manifestURL: string;
  /** keep activations float32 (slower): no 7-bit activations */
  exact?: boolean;
  /** KernelsAuto (default), KernelsCPU, a slower set to force (KernelsSIMD, KernelsGo), or KernelsWebGPU */
  kernels?: string;
  /** how long a download may go without a byte before it is retried (default 20000) */
  stallMs?: number;
  /** how many workers the page would share the CPU's work among: KernelsAuto weighs the GPU against them (default 1) */
  workers?: number;
}

export interface Ask {
  v: 2;
  type: 'ask';
  id: number;
  image?: Image;
  question: string;
  /** new tokens at most; 0: the default (20) */
  maxTokens?: number;
  /** describe the picture instead (an empty question) */
  caption?: boolean;
  /** report where the time went, by kind of work */
  profile?: boolean;
  /** return the first step's next-token logits */
  logits?: boolean;
}

export interface Cancel {
  v: 2;
  type: 'cancel';
  id: number;
}

export interface Shard {
  v: 2;
  type: 'shard';
  exact?: boolean;
  kernels?: string;
  index: number;
  count: number;
  port: MessagePort;
}

export interface Peers {
  v: 2;
  type: 'peers';
  ports: MessagePort[];
}

export interface CacheList {
  v: 2;
  type: 'cache-list';
  id: number;
}

export interface CacheDelete {
  v: 2;
  type: 'cache-delete';
  id: number;
  url: string;
}

export interface CacheClear {
  v: 2;
  type: 'cache-clear';
  id: number;
}

export interface Started {
  v: 2;
  type: 'started';
}

export interface LoadProgress {
  v: 2;
  type: 'load-progress';
  /** PhaseDownload, PhaseVerify, PhaseLoad */
  phase: string;
  loaded: number;
  total: number;
  /** bytes of Loaded read from the cache */
  fromCache: number;
}

export interface Ready {
  v: 2;
  type: 'ready';
  model: ModelInfo;
  bytes: number;
  /** StorageIndexedDB or StorageMemory */
  storage: string;
  warning?: string;
  offline: boolean;
  loadMs: number;
  /** what runs: KernelsRelaxed, KernelsSIMD, KernelsGo, KernelsWebGPU */
  kernels: string;
  /** why not a faster set, when not */
  kernelsNote?: string;
  /** activations stay float32 */
  exact: boolean;
  /** where the load's time went */
  phases: Phase[];
}

export interface ShardReady {
  v: 2;
  type: 'shard-ready';
  index: number;
  count: number;
  kernels: string;
  exact: boolean;
  phases: Phase[];
  loadMs: number;
  /** the worker's wasm memory once loaded */
  memoryBytes: number;
}

export interface PeersReady {
  v: 2;
  type: 'peers-ready';
  workers: number;
}

export interface Progress {
  v: 2;
  type: 'progress';
  id: number;
  /** PhaseEncode, PhasePrefill, PhaseDecode */
  phase: string;
  done: number;
  total: number;
}

export interface Token {
  v: 2;
  type: 'token';
  id: number;
  /** the answer so far */
  text: string;
  /** this token's vocabulary entry */
  piece: string;
  tokenId: number;
}

export interface Answer {
  v: 2;
  type: 'answer';
  id: number;
  text: string;
  /** generated token ids, ending with [SEP] when it stopped there */
  ids: number[];
  /** [CLS] + the question's tokens */
  inputIds: number[];
  stoppedBy: string;
  timings: Timings;
  /** ms by kind of work, when asked */
  profile?: Record<string, number>;
  /** the first step's, when asked */
  logits?: Float32Array;
}

export interface Error {
  v: 2;
  type: 'error';
  id?: number;
  code: string;
  message: string;
}

export interface CacheModels {
  v: 2;
  type: 'cache-models';
  id: number;
  models: CachedModel[];
}

export interface CacheDone {
  v: 2;
  type: 'cache-done';
  id: number;
  /** CacheDelete: the model was cached */
  deleted: boolean;
}

export interface ShardModel {
  v: 2;
  type: 'shard-model';
  config: ArrayBuffer|Uint8Array;
  layers: number;
  /** sent after the vision layers */
  decoderLayers: number;
}

export interface ShardLayer {
  v: 2;
  type: 'shard-layer';
  layer: number;
  decoder?: boolean;
  data: ArrayBuffer|Uint8Array;
}

export interface Block {
  v: 2;
  type: 'block';
  seq: number;
  /** model.BlockAttention, BlockMLP, BlockDecoderAttention or BlockDecoderMLP */
  kind: string;
  layer: number;
  /** the block's input; with sum, the main worker's partial sum of (kind, layer) */
  x: Float32Array;
  /** a vision block that starts a chain (two workers): the shard keeps its input and partial sum */
  keep?: boolean;
  /** x is the main worker's partial of the block the shard kept last, (kind, layer): the shard builds the next block's input from it (model.VisionShard.Next) and answers seq with its partial of that block */
  sum?: boolean;
}

export interface Partial {
  v: 2;
  type: 'partial';
  seq: number;
  /** the partial sum; for BlockDecoderAttention, then the shard's heads' keys, then values */
  x?: Float32Array;
  error?: string;
  /** how long the shard computed */
  ms: number;
  /** the shard worker's wasm memory */
  memoryBytes: number;
}

export interface Image {
  bytes?: ArrayBuffer|Uint8Array;
  /** the MIME type of Bytes, for messages only */
  type?: string;
  width?: number;
  height?: number;
  rgba?: ArrayBuffer|Uint8Array;
}

export interface ModelInfo {
  url: string;
  description: string;
  dtype: string;
  group: number;
  imageSize: number;
  imageTokens: number;
  maxPositions: number;
  /** how many workers can share the image encoder */
  maxWorkers: number;
  /** TaskVQA or TaskCaption: a captioning model describes, it does not answer */
  task: string;
}

export interface Phase {
  name: string;
  ms: number;
}

export interface Timings {
  encodeMs: number;
  imagePrefillMs: number;
  promptMs: number;
  decodeMs: number;
  totalMs: number;
  imageCached: boolean;
  tokens: number;
  /** the worker's wasm memory after the answer */
  memoryBytes: number;
  shardMemoryBytes?: number[];
  preprocessMs: number;
  pictureCached: boolean;
  decodedBy?: string;
}

export interface CachedModel {
  url: string;
  bytes: number;
  /** every file stored: the model loads offline */
  complete: boolean;
  /** ms since the epoch */
  updated: number;
  description: string;
}
