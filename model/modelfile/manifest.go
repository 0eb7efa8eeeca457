// Package modelfile is the model-folder format the browser downloads: manifest.json
// plus content-addressed chunk files. Weights are a byte stream cut into fixed-size
// chunks named by their sha256 (so any cache may keep them forever); the manifest says
// where each tensor lies in that stream and how it is quantized. See DESIGN.md,
// "Weight format".
package modelfile

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
)

// Format and Version identify the manifest; a reader refuses versions it does not know.
const (
	Format  = "gitvqa-model"
	Version = 1
)

// Quantization schemes.
const (
	SchemePerChannel = "int8-symmetric-per-channel" // one scale per output row
	SchemePerGroup   = "int8-symmetric-per-group"   // one scale per row and group of columns
)

// MaxChunkBytes bounds one chunk (a browser holds a chunk in memory while verifying it).
const MaxChunkBytes = 1 << 30

// Manifest is manifest.json.
type Manifest struct {
	Format       string          `json:"format"`
	Version      int             `json:"version"`
	Description  string          `json:"description,omitempty"` // shown to users, e.g. "test model"
	Task         string          `json:"task,omitempty"`        // "vqa" (also when empty: folders from before) or "caption"
	Config       json.RawMessage `json:"config"`                // the Hugging Face config.json
	Preprocessor json.RawMessage `json:"preprocessor"`          // preprocessor_config.json
	Tokenizer    FileRef         `json:"tokenizer"`             // vocab.txt
	DType        string          `json:"dtype"`                 // int8 or f32: how Linear weights are stored
	Group        int             `json:"group"`                 // int8 scale group (0: per channel)
	TotalBytes   int64           `json:"total_bytes"`           // tokenizer + chunks: what a download costs
	Chunks       []FileRef       `json:"chunks"`
	Tensors      []Tensor        `json:"tensors"`
}

// FileRef is a content-addressed file of the folder.
type FileRef struct {
	File   string `json:"file"` // <sha256>.<ext>
	Bytes  int64  `json:"bytes"`
	SHA256 string `json:"sha256"`
}

// Span locates bytes in the chunk stream: they start at Offset in chunk Chunk and may
// run on into the following chunks.
type Span struct {
	Chunk  int   `json:"chunk"`
	Offset int64 `json:"offset"`
	Bytes  int64 `json:"bytes"`
}

// Tensor is one parameter under its Hugging Face name.
type Tensor struct {
	Name  string `json:"name"`
	DType string `json:"dtype"` // int8 or f32, little-endian
	Shape []int  `json:"shape"`
	Span
	Quant *Quant `json:"quant,omitempty"` // set for int8
}

// Quant describes an int8 tensor's scales: value ≈ q · scale, with one float32 scale
// per row (the first dimension) and group of Group columns (the rest, flattened).
type Quant struct {
	Scheme string `json:"scheme"`
	Group  int    `json:"group"`
	Scales Span   `json:"scales"`
}

// Rows and Cols view a tensor as a matrix: the first dimension by the rest.
func (t *Tensor) Rows() int {
	if len(t.Shape) == 0 {
		return 1
	}
	return t.Shape[0]
}

// Cols is the product of all but the first dimension.
func (t *Tensor) Cols() int {
	n := 1
	for _, d := range t.Shape[min(1, len(t.Shape)):] {
		n *= d
	}
	return n
}

// Elements is the product of the shape.
func (t *Tensor) Elements() int64 {
	n := int64(1)
	for _, d := range t.Shape {
		n *= int64(d)
	}
	return n
}

// ChunkOffsets returns where each chunk starts in the stream, and the stream's length.
func (m *Manifest) ChunkOffsets() ([]int64, int64) {
	offs := make([]int64, len(m.Chunks))
	var total int64
	for i, c := range m.Chunks {
		offs[i] = total
		total += c.Bytes
	}
	return offs, total
}

// Parse reads and validates manifest.json content.
func Parse(data []byte) (*Manifest, error) {
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("manifest.json: %w", err)
	}
	return &m, nil
}

func validRef(r FileRef, ext string) error {
	if len(r.SHA256) != 64 || strings.ToLower(r.SHA256) != r.SHA256 {
		return fmt.Errorf("file %q: sha256 %q is not 64 lower-case hex digits", r.File, r.SHA256)
	}
	if _, err := hex.DecodeString(r.SHA256); err != nil {
		return fmt.Errorf("file %q: sha256 is not hex", r.File)
	}
	// Files are named by their hash: nothing else (no paths) may appear in a name.
	if r.File != r.SHA256+ext {
		return fmt.Errorf("file %q is not named %s%s", r.File, r.SHA256, ext)
	}
	if r.Bytes <= 0 || r.Bytes > MaxChunkBytes {
		return fmt.Errorf("file %q: size %d is out of range", r.File, r.Bytes)
	}
	return nil
}

// Validate checks everything a reader relies on before it fetches a byte: the format
// and version, file names, sizes, and that every tensor lies inside the chunk stream
// and has the bytes its dtype and shape need.
func (m *Manifest) Validate() error {
	if m.Task != "" && m.Task != "vqa" && m.Task != "caption" {
		return fmt.Errorf("task %q is neither vqa nor caption", m.Task)
	}
	if m.Format != Format {
		return fmt.Errorf("format %q is not %q", m.Format, Format)
	}
	if m.Version != Version {
		return fmt.Errorf("format version %d is not supported by this build (it reads version %d)", m.Version, Version)
	}
	for name, raw := range map[string]json.RawMessage{"config": m.Config, "preprocessor": m.Preprocessor} {
		if t := strings.TrimSpace(string(raw)); !strings.HasPrefix(t, "{") {
			return fmt.Errorf("%s is %s, not a JSON object", name, map[bool]string{true: "missing", false: t[:min(len(t), 20)]}[t == ""])
		}
	}
	if m.DType != "int8" && m.DType != "f32" {
		return fmt.Errorf("dtype %q is neither int8 nor f32", m.DType)
	}
	if err := validRef(m.Tokenizer, ".txt"); err != nil {
		return fmt.Errorf("tokenizer: %w", err)
	}
	if len(m.Chunks) == 0 {
		return fmt.Errorf("no chunks")
	}
	total := m.Tokenizer.Bytes
	for i, c := range m.Chunks {
		if err := validRef(c, ".bin"); err != nil {
			return fmt.Errorf("chunk %d: %w", i, err)
		}
		total += c.Bytes
	}
	if total != m.TotalBytes {
		return fmt.Errorf("total_bytes %d, the files add up to %d", m.TotalBytes, total)
	}
	offs, stream := m.ChunkOffsets()
	inside := func(s Span) error {
		if s.Chunk < 0 || s.Chunk >= len(m.Chunks) {
			return fmt.Errorf("chunk %d does not exist", s.Chunk)
		}
		if s.Offset < 0 || s.Offset >= m.Chunks[s.Chunk].Bytes || s.Bytes < 0 || offs[s.Chunk]+s.Offset > stream-s.Bytes {
			return fmt.Errorf("bytes [%d, +%d) of chunk %d run past the end of the chunks", s.Offset, s.Bytes, s.Chunk)
		}
		return nil
	}
	seen := map[string]bool{}
	for i := range m.Tensors {
		t := &m.Tensors[i]
		if t.Name == "" || seen[t.Name] {
			return fmt.Errorf("tensor %d: empty or repeated name %q", i, t.Name)
		}
		seen[t.Name] = true
		n := int64(1)
		for _, d := range t.Shape {
			if d < 0 || d > 1<<31 || (d > 0 && n > (1<<40)/int64(d)) {
				return fmt.Errorf("tensor %q: bad shape %v", t.Name, t.Shape)
			}
			n *= int64(d)
		}
		var size int64
		switch t.DType {
		case "f32":
			size = 4
			if t.Quant != nil {
				return fmt.Errorf("tensor %q: f32 with quantization", t.Name)
			}
		case "int8":
			size = 1
			q := t.Quant
			if q == nil || (q.Scheme != SchemePerChannel && q.Scheme != SchemePerGroup) {
				return fmt.Errorf("tensor %q: int8 without a known quantization scheme", t.Name)
			}
			if len(t.Shape) < 2 || q.Group <= 0 || q.Group > t.Cols() || (q.Scheme == SchemePerChannel && q.Group != t.Cols()) {
				return fmt.Errorf("tensor %q: group %d does not fit shape %v", t.Name, q.Group, t.Shape)
			}
			groups := int64((t.Cols() + q.Group - 1) / q.Group)
			if q.Scales.Bytes != 4*int64(t.Rows())*groups {
				return fmt.Errorf("tensor %q: %d scale bytes, needs %d", t.Name, q.Scales.Bytes, 4*int64(t.Rows())*groups)
			}
			if err := inside(q.Scales); err != nil {
				return fmt.Errorf("tensor %q scales: %w", t.Name, err)
			}
		default:
			return fmt.Errorf("tensor %q: unknown dtype %q", t.Name, t.DType)
		}
		if t.Bytes != n*size {
			return fmt.Errorf("tensor %q: %d bytes, shape %v of %s needs %d", t.Name, t.Bytes, t.Shape, t.DType, n*size)
		}
		if n > 0 {
			if err := inside(t.Span); err != nil {
				return fmt.Errorf("tensor %q: %w", t.Name, err)
			}
		}
	}
	return nil
}
