// Package protocol defines the messages between the page (static/vqa.js), the worker
// (wasm/, web/worker) and the workers that share the image encoder, once: one Go
// struct per message, its JSON tags the field names at every layer. static/protocol.js
// is generated from this file (go generate; a test keeps the two in step): the message
// types and codes as constants, and a JSDoc @typedef per message. In the browser every
// message is a plain object {v, type, ...fields} sent with postMessage; binary fields
// ([]byte, []float32) travel as transferred ArrayBuffers and Ports as MessagePorts
// (codec_js.go encodes and decodes both ways).
package protocol

//go:generate go run ./gen -out ../../static/protocol.js -dts ../../static/protocol.d.ts

import (
	"reflect"
	"strings"
)

// Version is carried in every message; each side refuses another version.
const Version = 2

// Message is one message; Type is its "type" field.
type Message interface{ Type() string }

// Port is a channel to another worker (a MessagePort in the browser).
type Port interface {
	// Post sends a message; its binary fields are transferred, not copied.
	Post(m Message) error
	// Listen delivers every message that arrives on the port to f, in order.
	Listen(f func(Message))
	// Close stops the port: nothing more arrives, and what it held goes.
	Close()
}

// ---- page → worker -------------------------------------------------------------------

// Load loads a model folder into the worker.
type Load struct {
	ManifestURL string `json:"manifestURL"`
	Exact       bool   `json:"exact,omitempty"`   // keep activations float32 (slower): no 7-bit activations
	Kernels     string `json:"kernels,omitempty"` // KernelsAuto (default), KernelsCPU, a slower set to force (KernelsSIMD, KernelsGo), or KernelsWebGPU
	StallMs     int    `json:"stallMs,omitempty"` // how long a download may go without a byte before it is retried (default 20000)
	Workers     int    `json:"workers,omitempty"` // how many workers the page would share the CPU's work among: KernelsAuto weighs the GPU against them (default 1)
}

// Ask asks a question about a picture.
type Ask struct {
	ID        int    `json:"id"`
	Image     *Image `json:"image,omitempty"`
	Question  string `json:"question"`
	MaxTokens int    `json:"maxTokens,omitempty"` // new tokens at most; 0: the default (20)
	Caption   bool   `json:"caption,omitempty"`   // describe the picture instead (an empty question)
	Profile   bool   `json:"profile,omitempty"`   // report where the time went, by kind of work
	Logits    bool   `json:"logits,omitempty"`    // return the first step's next-token logits
}

// Image is a picture: encoded bytes (decoded in Go exactly as Pillow decodes PNG), or
// RGBA pixels at natural size (canvases, video frames).
type Image struct {
	Bytes  []byte `json:"bytes,omitempty"`
	Type   string `json:"type,omitempty"` // the MIME type of Bytes, for messages only
	Width  int    `json:"width,omitempty"`
	Height int    `json:"height,omitempty"`
	RGBA   []byte `json:"rgba,omitempty"`
}

// Cancel stops a question.
type Cancel struct {
	ID int `json:"id"`
}

// Shard makes a worker hold one share of the image encoder for the main worker, which
// talks to it over Port: it sends the share (ShardModel, then a ShardLayer per layer),
// the shard worker answers ShardReady, then Blocks.
type Shard struct {
	Exact   bool   `json:"exact,omitempty"`
	Kernels string `json:"kernels,omitempty"`
	Index   int    `json:"index"`
	Count   int    `json:"count"`
	Port    Port   `json:"port"`
}

// Peers gives the main worker one port per shard worker (none: it goes on alone).
type Peers struct {
	Ports []Port `json:"ports"`
}

// CacheList asks which models are cached.
type CacheList struct {
	ID int `json:"id"`
}

// CacheDelete removes a model (by manifest URL) and the chunks no other model uses.
type CacheDelete struct {
	ID  int    `json:"id"`
	URL string `json:"url"`
}

// CacheClear removes every cached model.
type CacheClear struct {
	ID int `json:"id"`
}

// ---- worker → page -------------------------------------------------------------------

// Started says the wasm runtime is up.
type Started struct{}

// LoadProgress reports a load's bytes, the total known from the manifest before the
// first byte.
type LoadProgress struct {
	Phase     string `json:"phase"` // PhaseDownload, PhaseVerify, PhaseLoad
	Loaded    int64  `json:"loaded"`
	Total     int64  `json:"total"`
	FromCache int64  `json:"fromCache"` // bytes of Loaded read from the cache
}

// Ready says the model is loaded.
type Ready struct {
	Model       ModelInfo `json:"model"`
	Bytes       int64     `json:"bytes"`
	Storage     string    `json:"storage"` // StorageIndexedDB or StorageMemory
	Warning     string    `json:"warning,omitempty"`
	Offline     bool      `json:"offline"`
	LoadMs      float64   `json:"loadMs"`
	Kernels     string    `json:"kernels"`               // what runs: KernelsRelaxed, KernelsSIMD, KernelsGo, KernelsWebGPU
	KernelsNote string    `json:"kernelsNote,omitempty"` // why not a faster set, when not
	Exact       bool      `json:"exact"`                 // activations stay float32
	Phases      []Phase   `json:"phases"`                // where the load's time went
}

// Phase is a part of a load and its time. Concurrent parts (reading storage while
// verifying) each count in full.
type Phase struct {
	Name string  `json:"name"`
	Ms   float64 `json:"ms"`
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	URL          string `json:"url"`
	Description  string `json:"description"`
	DType        string `json:"dtype"`
	Group        int    `json:"group"`
	ImageSize    int    `json:"imageSize"`
	ImageTokens  int    `json:"imageTokens"`
	MaxPositions int    `json:"maxPositions"`
	MaxWorkers   int    `json:"maxWorkers"` // how many workers can share the image encoder
	Task         string `json:"task"`       // TaskVQA or TaskCaption: a captioning model describes, it does not answer
}

// ShardReady says a shard worker holds its share.
type ShardReady struct {
	Index       int     `json:"index"`
	Count       int     `json:"count"`
	Kernels     string  `json:"kernels"`
	Exact       bool    `json:"exact"`
	Phases      []Phase `json:"phases"`
	LoadMs      float64 `json:"loadMs"`
	MemoryBytes int64   `json:"memoryBytes"` // the worker's wasm memory once loaded
}

// PeersReady says how many workers now share the image encoder.
type PeersReady struct {
	Workers int `json:"workers"`
}

// Progress reports a question's steps: layers (encode, prefill) or tokens (decode).
type Progress struct {
	ID    int    `json:"id"`
	Phase string `json:"phase"` // PhaseEncode, PhasePrefill, PhaseDecode
	Done  int    `json:"done"`
	Total int    `json:"total"`
}

// Token streams one generated token.
type Token struct {
	ID      int    `json:"id"`
	Text    string `json:"text"`  // the answer so far
	Piece   string `json:"piece"` // this token's vocabulary entry
	TokenID int    `json:"tokenId"`
}

// Answer is a question's result.
type Answer struct {
	ID        int                `json:"id"`
	Text      string             `json:"text"`
	IDs       []int              `json:"ids"`      // generated token ids, ending with [SEP] when it stopped there
	InputIDs  []int              `json:"inputIds"` // [CLS] + the question's tokens
	StoppedBy string             `json:"stoppedBy"`
	Timings   Timings            `json:"timings"`
	Profile   map[string]float64 `json:"profile,omitempty"` // ms by kind of work, when asked
	Logits    []float32          `json:"logits,omitempty"`  // the first step's, when asked
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
	// ShardMemoryBytes are the shard workers' wasm memory, as their last partials said.
	ShardMemoryBytes []int64 `json:"shardMemoryBytes,omitempty"`
	// PreprocessMs is the time from the picture's bytes to its pixel values (before
	// TotalMs starts); PictureCached says the same picture came recently and was not
	// decoded again; DecodedBy is "go" or "browser" when it was decoded.
	PreprocessMs  float64 `json:"preprocessMs"`
	PictureCached bool    `json:"pictureCached"`
	DecodedBy     string  `json:"decodedBy,omitempty"`
}

// Error reports a failure; ID is the question's, 0 for a load.
type Error struct {
	ID      int    `json:"id,omitempty"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// CacheModels answers CacheList.
type CacheModels struct {
	ID     int           `json:"id"`
	Models []CachedModel `json:"models"`
}

// CachedModel is one model in the cache.
type CachedModel struct {
	URL         string  `json:"url"`
	Bytes       int64   `json:"bytes"`
	Complete    bool    `json:"complete"` // every file stored: the model loads offline
	Updated     float64 `json:"updated"`  // ms since the epoch
	Description string  `json:"description"`
}

// CacheDone answers CacheDelete and CacheClear.
type CacheDone struct {
	ID      int  `json:"id"`
	Deleted bool `json:"deleted"` // CacheDelete: the model was cached
}

// ---- between workers, over the MessagePorts ------------------------------------------

// ShardModel starts a share: the model's config.json, and how many layers follow.
type ShardModel struct {
	Config        []byte `json:"config"`
	Layers        int    `json:"layers"`
	DecoderLayers int    `json:"decoderLayers"` // sent after the vision layers
}

// ShardLayer is the share of one vision layer (model.EncodeShardLayer) or, with
// Decoder, of one decoder layer (model.EncodeShardDecoderLayer).
type ShardLayer struct {
	Layer   int    `json:"layer"`
	Decoder bool   `json:"decoder,omitempty"`
	Data    []byte `json:"data"`
}

// Block asks a shard worker for its partial sum of a vision layer's block, or of a
// decoder layer's over the image rows.
type Block struct {
	Seq   int       `json:"seq"`
	Kind  string    `json:"kind"` // model.BlockAttention, BlockMLP, BlockDecoderAttention or BlockDecoderMLP
	Layer int       `json:"layer"`
	X     []float32 `json:"x"`              // the block's input; with sum, the main worker's partial sum of (kind, layer)
	Keep  bool      `json:"keep,omitempty"` // a vision block that starts a chain (two workers): the shard keeps its input and partial sum
	Sum   bool      `json:"sum,omitempty"`  // x is the main worker's partial of the block the shard kept last, (kind, layer): the shard builds the next block's input from it (model.VisionShard.Next) and answers seq with its partial of that block
}

// Partial is a shard worker's answer to Block.
type Partial struct {
	Seq         int       `json:"seq"`
	X           []float32 `json:"x,omitempty"` // the partial sum; for BlockDecoderAttention, then the shard's heads' keys, then values
	Error       string    `json:"error,omitempty"`
	Ms          float64   `json:"ms"`          // how long the shard computed
	MemoryBytes int64     `json:"memoryBytes"` // the shard worker's wasm memory
}

// ---- constants -------------------------------------------------------------------------

// Progress phases.
const (
	PhaseDownload = "download" // chunk bytes from the network
	PhaseVerify   = "verify"   // chunk bytes from IndexedDB, checked again
	PhaseLoad     = "load"     // building the model from the chunks
	PhaseEncode   = "encode"   // image encoder layers
	PhasePrefill  = "prefill"  // decoder layers over the image and the question
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
	CodeCacheFailed     = "cache_failed"
	CodeInternal        = "internal"
)

// MaxPixels is the largest picture a worker takes (imageproc.MaxPixels): the page
// refuses larger ones before copying their pixels.
const MaxPixels = 64 << 20

// What a model is for, in ModelInfo (model.TaskVQA, model.TaskCaption).
const (
	TaskVQA     = "vqa"     // answers questions (and describes)
	TaskCaption = "caption" // describes pictures only
)

// Storage modes reported in Ready.
const (
	StorageIndexedDB = "indexeddb" // chunks cached: the next visit starts offline
	StorageMemory    = "memory"    // could not cache (quota, private mode): runs from memory
)

// Kernel sets, as Load asks for them and Ready reports them.
const (
	// KernelsAuto is the fastest set that passes its self-test: the GPU where a hardware
	// adapter passes its own and outruns the CPU's workers (web/backend), else the
	// fastest CPU set.
	KernelsAuto    = "auto"
	KernelsCPU     = "cpu"          // the fastest CPU set that passes its self-test, never the GPU
	KernelsRelaxed = "relaxed-simd" // the SIMD module with relaxed SIMD (fused multiply-add, int8 dot products)
	KernelsSIMD    = "simd"         // the SIMD module without relaxed SIMD
	KernelsGo      = "go"           // Go's own loops
	// KernelsWebGPU runs the kernels on the GPU (web/webgpu), asked for by
	// GitVQA.load({device: 'webgpu'}), a software adapter included; where WebGPU is
	// missing or fails its self-test the load falls back to the CPU sets and says why.
	KernelsWebGPU = "webgpu"
)

// Messages lists every message, the order static/protocol.js lists them.
var Messages = []Message{
	Load{}, Ask{}, Cancel{}, Shard{}, Peers{}, CacheList{}, CacheDelete{}, CacheClear{},
	Started{}, LoadProgress{}, Ready{}, ShardReady{}, PeersReady{}, Progress{}, Token{}, Answer{}, Error{}, CacheModels{}, CacheDone{},
	ShardModel{}, ShardLayer{}, Block{}, Partial{},
}

func (Load) Type() string         { return "load" }
func (Ask) Type() string          { return "ask" }
func (Cancel) Type() string       { return "cancel" }
func (Shard) Type() string        { return "shard" }
func (Peers) Type() string        { return "peers" }
func (CacheList) Type() string    { return "cache-list" }
func (CacheDelete) Type() string  { return "cache-delete" }
func (CacheClear) Type() string   { return "cache-clear" }
func (Started) Type() string      { return "started" }
func (LoadProgress) Type() string { return "load-progress" }
func (Ready) Type() string        { return "ready" }
func (ShardReady) Type() string   { return "shard-ready" }
func (PeersReady) Type() string   { return "peers-ready" }
func (Progress) Type() string     { return "progress" }
func (Token) Type() string        { return "token" }
func (Answer) Type() string       { return "answer" }
func (Error) Type() string        { return "error" }
func (CacheModels) Type() string  { return "cache-models" }
func (CacheDone) Type() string    { return "cache-done" }
func (ShardModel) Type() string   { return "shard-model" }
func (ShardLayer) Type() string   { return "shard-layer" }
func (Block) Type() string        { return "block" }
func (Partial) Type() string      { return "partial" }

// New returns a pointer to a zero message of the type, for decoding; nil for an
// unknown type.
func New(typ string) Message {
	for _, m := range Messages {
		if m.Type() == typ {
			return reflect.New(reflect.TypeOf(m)).Interface().(Message)
		}
	}
	return nil
}

// jsonName is a field's name in messages, and whether it is left out when zero.
func jsonName(f reflect.StructField) (name string, omitempty bool) {
	name, rest, _ := strings.Cut(f.Tag.Get("json"), ",")
	return name, strings.Contains(rest, "omitempty")
}

var portType = reflect.TypeOf((*Port)(nil)).Elem()

// Constants lists the constants static/protocol.js exports, by name.
var Constants = map[string]any{
	"Version":       Version,
	"MaxPixels":     MaxPixels,
	"PhaseDownload": PhaseDownload, "PhaseVerify": PhaseVerify, "PhaseLoad": PhaseLoad,
	"PhaseEncode": PhaseEncode, "PhasePrefill": PhasePrefill, "PhaseDecode": PhaseDecode,
	"CodeBadMessage": CodeBadMessage, "CodeNotLoaded": CodeNotLoaded, "CodeLoadFailed": CodeLoadFailed,
	"CodeBadImage": CodeBadImage, "CodeEmptyImage": CodeEmptyImage, "CodeEmptyQuestion": CodeEmptyQuestion,
	"CodeQuestionTooLong": CodeQuestionTooLong, "CodeCancelled": CodeCancelled, "CodeCacheFailed": CodeCacheFailed,
	"CodeInternal":     CodeInternal,
	"StorageIndexedDB": StorageIndexedDB, "StorageMemory": StorageMemory,
	"TaskVQA": TaskVQA, "TaskCaption": TaskCaption,
	"KernelsAuto": KernelsAuto, "KernelsCPU": KernelsCPU, "KernelsRelaxed": KernelsRelaxed, "KernelsSIMD": KernelsSIMD, "KernelsGo": KernelsGo, "KernelsWebGPU": KernelsWebGPU,
}
