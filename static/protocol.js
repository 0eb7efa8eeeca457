// Generated from web/protocol by `go generate ./web/protocol`. Do not edit.
// The messages between the page (vqa.js), the worker (the Go runtime) and the workers
// that share the image encoder: every message is {v: Version, type, ...fields}.

export const protocol = Object.freeze({
  Answer: "answer",
  Ask: "ask",
  Block: "block",
  CacheClear: "cache-clear",
  CacheDelete: "cache-delete",
  CacheDone: "cache-done",
  CacheList: "cache-list",
  CacheModels: "cache-models",
  Cancel: "cancel",
  CodeBadImage: "bad_image",
  CodeBadMessage: "bad_message",
  CodeCacheFailed: "cache_failed",
  CodeCancelled: "cancelled",
  CodeEmptyImage: "empty_image",
  CodeEmptyQuestion: "empty_question",
  CodeInternal: "internal",
  CodeLoadFailed: "load_failed",
  CodeNotLoaded: "not_loaded",
  CodeQuestionTooLong: "question_too_long",
  Error: "error",
  KernelsAuto: "auto",
  KernelsCPU: "cpu",
  KernelsGo: "go",
  KernelsRelaxed: "relaxed-simd",
  KernelsSIMD: "simd",
  KernelsWebGPU: "webgpu",
  Load: "load",
  LoadProgress: "load-progress",
  MaxPixels: 67108864,
  Partial: "partial",
  Peers: "peers",
  PeersReady: "peers-ready",
  PhaseDecode: "decode",
  PhaseDownload: "download",
  PhaseEncode: "encode",
  PhaseLoad: "load",
  PhasePrefill: "prefill",
  PhaseVerify: "verify",
  Progress: "progress",
  Ready: "ready",
  Shard: "shard",
  ShardLayer: "shard-layer",
  ShardModel: "shard-model",
  ShardReady: "shard-ready",
  Started: "started",
  StorageIndexedDB: "indexeddb",
  StorageMemory: "memory",
  TaskCaption: "caption",
  TaskVQA: "vqa",
  Token: "token",
  Version: 2,
});

/**
 * @typedef {object} Load
 * @property {2} v
 * @property {'load'} type
 * @property {string} manifestURL
 * @property {boolean} [exact] keep activations float32 (slower): no 7-bit activations
 * @property {string} [kernels] KernelsAuto (default), KernelsCPU, a slower set to force (KernelsSIMD, KernelsGo), or KernelsWebGPU
 * @property {number} [stallMs] how long a download may go without a byte before it is retried (default 20000)
 * @property {number} [workers] how many workers the page would share the CPU's work among: KernelsAuto weighs the GPU against them (default 1)
 */

/**
 * @typedef {object} Ask
 * @property {2} v
 * @property {'ask'} type
 * @property {number} id
 * @property {Image} [image]
 * @property {string} question
 * @property {number} [maxTokens] new tokens at most; 0: the default (20)
 * @property {boolean} [caption] describe the picture instead (an empty question)
 * @property {boolean} [profile] report where the time went, by kind of work
 * @property {boolean} [logits] return the first step's next-token logits
 */

/**
 * @typedef {object} Cancel
 * @property {2} v
 * @property {'cancel'} type
 * @property {number} id
 */

/**
 * @typedef {object} Shard
 * @property {2} v
 * @property {'shard'} type
 * @property {boolean} [exact]
 * @property {string} [kernels]
 * @property {number} index
 * @property {number} count
 * @property {MessagePort} port
 */

/**
 * @typedef {object} Peers
 * @property {2} v
 * @property {'peers'} type
 * @property {MessagePort[]} ports
 */

/**
 * @typedef {object} CacheList
 * @property {2} v
 * @property {'cache-list'} type
 * @property {number} id
 */

/**
 * @typedef {object} CacheDelete
 * @property {2} v
 * @property {'cache-delete'} type
 * @property {number} id
 * @property {string} url
 */

/**
 * @typedef {object} CacheClear
 * @property {2} v
 * @property {'cache-clear'} type
 * @property {number} id
 */

/**
 * @typedef {object} Started
 * @property {2} v
 * @property {'started'} type
 */

/**
 * @typedef {object} LoadProgress
 * @property {2} v
 * @property {'load-progress'} type
 * @property {string} phase PhaseDownload, PhaseVerify, PhaseLoad
 * @property {number} loaded
 * @property {number} total
 * @property {number} fromCache bytes of Loaded read from the cache
 */

/**
 * @typedef {object} Ready
 * @property {2} v
 * @property {'ready'} type
 * @property {ModelInfo} model
 * @property {number} bytes
 * @property {string} storage StorageIndexedDB or StorageMemory
 * @property {string} [warning]
 * @property {boolean} offline
 * @property {number} loadMs
 * @property {string} kernels what runs: KernelsRelaxed, KernelsSIMD, KernelsGo, KernelsWebGPU
 * @property {string} [kernelsNote] why not a faster set, when not
 * @property {boolean} exact activations stay float32
 * @property {Phase[]} phases where the load's time went
 */

/**
 * @typedef {object} ShardReady
 * @property {2} v
 * @property {'shard-ready'} type
 * @property {number} index
 * @property {number} count
 * @property {string} kernels
 * @property {boolean} exact
 * @property {Phase[]} phases
 * @property {number} loadMs
 * @property {number} memoryBytes the worker's wasm memory once loaded
 */

/**
 * @typedef {object} PeersReady
 * @property {2} v
 * @property {'peers-ready'} type
 * @property {number} workers
 */

/**
 * @typedef {object} Progress
 * @property {2} v
 * @property {'progress'} type
 * @property {number} id
 * @property {string} phase PhaseEncode, PhasePrefill, PhaseDecode
 * @property {number} done
 * @property {number} total
 */

/**
 * @typedef {object} Token
 * @property {2} v
 * @property {'token'} type
 * @property {number} id
 * @property {string} text the answer so far
 * @property {string} piece this token's vocabulary entry
 * @property {number} tokenId
 */

/**
 * @typedef {object} Answer
 * @property {2} v
 * @property {'answer'} type
 * @property {number} id
 * @property {string} text
 * @property {number[]} ids generated token ids, ending with [SEP] when it stopped there
 * @property {number[]} inputIds [CLS] + the question's tokens
 * @property {string} stoppedBy
 * @property {Timings} timings
 * @property {Object<string, number>} [profile] ms by kind of work, when asked
 * @property {Float32Array} [logits] the first step's, when asked
 */

/**
 * @typedef {object} Error
 * @property {2} v
 * @property {'error'} type
 * @property {number} [id]
 * @property {string} code
 * @property {string} message
 */

/**
 * @typedef {object} CacheModels
 * @property {2} v
 * @property {'cache-models'} type
 * @property {number} id
 * @property {CachedModel[]} models
 */

/**
 * @typedef {object} CacheDone
 * @property {2} v
 * @property {'cache-done'} type
 * @property {number} id
 * @property {boolean} deleted CacheDelete: the model was cached
 */

/**
 * @typedef {object} ShardModel
 * @property {2} v
 * @property {'shard-model'} type
 * @property {ArrayBuffer|Uint8Array} config
 * @property {number} layers
 * @property {number} decoderLayers sent after the vision layers
 */

/**
 * @typedef {object} ShardLayer
 * @property {2} v
 * @property {'shard-layer'} type
 * @property {number} layer
 * @property {boolean} [decoder]
 * @property {ArrayBuffer|Uint8Array} data
 */

/**
 * @typedef {object} Block
 * @property {2} v
 * @property {'block'} type
 * @property {number} seq
 * @property {string} kind model.BlockAttention, BlockMLP, BlockDecoderAttention or BlockDecoderMLP
 * @property {number} layer
 * @property {Float32Array} x the block's input; with sum, the main worker's partial sum of (kind, layer)
 * @property {boolean} [keep] a vision block that starts a chain (two workers): the shard keeps its input and partial sum
 * @property {boolean} [sum] x is the main worker's partial of the block the shard kept last, (kind, layer): the shard builds the next block's input from it (model.VisionShard.Next) and answers seq with its partial of that block
 */

/**
 * @typedef {object} Partial
 * @property {2} v
 * @property {'partial'} type
 * @property {number} seq
 * @property {Float32Array} [x] the partial sum; for BlockDecoderAttention, then the shard's heads' keys, then values
 * @property {string} [error]
 * @property {number} ms how long the shard computed
 * @property {number} memoryBytes the shard worker's wasm memory
 */

/**
 * @typedef {object} Image
 * @property {ArrayBuffer|Uint8Array} [bytes]
 * @property {string} [type] the MIME type of Bytes, for messages only
 * @property {number} [width]
 * @property {number} [height]
 * @property {ArrayBuffer|Uint8Array} [rgba]
 */

/**
 * @typedef {object} ModelInfo
 * @property {string} url
 * @property {string} description
 * @property {string} dtype
 * @property {number} group
 * @property {number} imageSize
 * @property {number} imageTokens
 * @property {number} maxPositions
 * @property {number} maxWorkers how many workers can share the image encoder
 * @property {string} task TaskVQA or TaskCaption: a captioning model describes, it does not answer
 */

/**
 * @typedef {object} Phase
 * @property {string} name
 * @property {number} ms
 */

/**
 * @typedef {object} Timings
 * @property {number} encodeMs
 * @property {number} imagePrefillMs
 * @property {number} promptMs
 * @property {number} decodeMs
 * @property {number} totalMs
 * @property {boolean} imageCached
 * @property {number} tokens
 * @property {number} memoryBytes the worker's wasm memory after the answer
 * @property {number[]} [shardMemoryBytes]
 * @property {number} preprocessMs
 * @property {boolean} pictureCached
 * @property {string} [decodedBy]
 */

/**
 * @typedef {object} CachedModel
 * @property {string} url
 * @property {number} bytes
 * @property {boolean} complete every file stored: the model loads offline
 * @property {number} updated ms since the epoch
 * @property {string} description
 */
