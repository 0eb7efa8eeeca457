// Package protocol defines the messages between the page (static/vqa.js) and the
// worker (wasm/), once: the Go types here, and static/protocol.js generated from them
// (go generate; a test keeps the two in step). Messages are plain objects sent with
// postMessage; image pixels travel as transferred ArrayBuffers.
package protocol

//go:generate go run ./gen -out ../../static/protocol.js

// Version is carried in every message; each side refuses another version.
const Version = 1

// Message types, page → worker.
const (
	Load   = "load"   // {manifestURL, exact}
	Ask    = "ask"    // {id, image, question, maxTokens, caption, profile}
	Cancel = "cancel" // {id}
	Shard  = "shard"  // to a shard worker: {manifestURL, index, count, port}
	Peers  = "peers"  // to the main worker: {ports}, one MessagePort per shard worker
)

// Message types between workers, over the MessagePorts.
const (
	Block   = "block"   // main → shard: {seq, kind, layer, x: Float32Array}
	Partial = "partial" // shard → main: {seq, x: Float32Array} or {seq, error}
)

// Message types, worker → page.
const (
	Started  = "started"  // the wasm runtime is up
	Progress = "progress" // {id?, phase, loaded, total, fromCache}
	Ready    = "ready"    // {model, bytes, storage, warning}
	Token    = "token"    // {id, text, tokenId}
	Answer   = "answer"   // {id, text, ids, inputIds, stoppedBy, timings}
	Error    = "error"    // {id?, code, message}
	// PeersReady: the shard workers share the image encoder: {workers}
	PeersReady = "peers-ready"
)

// Progress phases.
const (
	PhaseDownload = "download" // chunk bytes from the network
	PhaseVerify   = "verify"   // chunk bytes from IndexedDB, checked again
	PhaseLoad     = "load"     // building the model from the chunks
	PhaseEncode   = "encode"   // image encoder layers
	PhasePrefill  = "prefill"  // decoder over the image and the question
	PhaseDecode   = "decode"   // generated tokens
)

// Error codes.
const (
	CodeBadMessage      = "bad_message"
	CodeNotLoaded       = "not_loaded"
	CodeLoadFailed      = "load_failed"
	CodeBadImage        = "bad_image"
	CodeEmptyImage      = "empty_image"
	CodeEmptyQuestion   = "empty_question"
	CodeQuestionTooLong = "question_too_long"
	CodeCancelled       = "cancelled"
	CodeInternal        = "internal"
)

// Storage modes reported in Ready.
const (
	StorageIndexedDB = "indexeddb" // chunks cached: the next visit starts offline
	StorageMemory    = "memory"    // could not cache (quota, private mode): runs from memory
)

// Constants lists every exported constant by name, for the JavaScript generator.
var Constants = map[string]any{
	"Version": Version,
	"Load":    Load, "Ask": Ask, "Cancel": Cancel, "Shard": Shard, "Peers": Peers, "Block": Block, "Partial": Partial, "PeersReady": PeersReady,
	"Started": Started, "Progress": Progress, "Ready": Ready, "Token": Token, "Answer": Answer, "Error": Error,
	"PhaseDownload": PhaseDownload, "PhaseVerify": PhaseVerify, "PhaseLoad": PhaseLoad,
	"PhaseEncode": PhaseEncode, "PhasePrefill": PhasePrefill, "PhaseDecode": PhaseDecode,
	"CodeBadMessage": CodeBadMessage, "CodeNotLoaded": CodeNotLoaded, "CodeLoadFailed": CodeLoadFailed,
	"CodeBadImage": CodeBadImage, "CodeEmptyImage": CodeEmptyImage, "CodeEmptyQuestion": CodeEmptyQuestion,
	"CodeQuestionTooLong": CodeQuestionTooLong, "CodeCancelled": CodeCancelled, "CodeInternal": CodeInternal,
	"StorageIndexedDB": StorageIndexedDB, "StorageMemory": StorageMemory,
}

// Timings of an answer, in milliseconds.
type Timings struct {
	EncodeMs       float64 `json:"encodeMs"`
	ImagePrefillMs float64 `json:"imagePrefillMs"`
	PromptMs       float64 `json:"promptMs"`
	DecodeMs       float64 `json:"decodeMs"`
	TotalMs        float64 `json:"totalMs"`
	ImageCached    bool    `json:"imageCached"`
	Tokens         int     `json:"tokens"`
	MemoryBytes    int64   `json:"memoryBytes"` // the worker's wasm memory after the answer
}
