package modelfile

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"runtime"
)

// DefaultChunkBytes is 16 MiB: large enough that a 0.4 GB model is a few dozen
// requests, small enough that a dropped connection loses little.
const DefaultChunkBytes = 16 << 20

// FS is where a Writer puts files; tests substitute one that fills up.
type FS interface {
	// CreateTemp makes a new temporary file in dir.
	CreateTemp(dir string) (TempFile, error)
	Rename(from, to string) error
	Remove(name string) error
}

// TempFile is a file being written.
type TempFile interface {
	io.Writer
	Name() string
	Sync() error
	Close() error
}

// OSFS is the real file system.
type OSFS struct{}

func (OSFS) CreateTemp(dir string) (TempFile, error) { return os.CreateTemp(dir, ".part-*") }
func (OSFS) Rename(from, to string) error            { return os.Rename(from, to) }
func (OSFS) Remove(name string) error                { return os.Remove(name) }

// Writer streams tensors into content-addressed chunk files. Every file is written
// under a temporary name and renamed once complete, and manifest.json comes last: a
// folder whose conversion failed (a full disk, say) has no manifest and no file that
// looks complete but is not.
type Writer struct {
	dir        string
	chunkBytes int
	// Description and Task go into the manifest.
	Description, Task string
	fs                FS
	buf               []byte
	chunks            []FileRef
	tensors           []Tensor
	stream            int64 // bytes added so far
}

// NewWriter writes into dir (created if missing) through fs (nil: the real one).
func NewWriter(dir string, chunkBytes int, fs FS) (*Writer, error) {
	if chunkBytes <= 0 || chunkBytes > MaxChunkBytes {
		return nil, fmt.Errorf("chunk size %d is out of range", chunkBytes)
	}
	if fs == nil {
		fs = OSFS{}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	return &Writer{dir: dir, chunkBytes: chunkBytes, fs: fs, buf: make([]byte, 0, chunkBytes)}, nil
}

// write appends one piece (a tensor's values, or its scales). A piece that does not fit
// in the current chunk starts the next one, and one larger than a chunk gets a chunk of
// its own (up to MaxChunkBytes): no tensor spans two chunks, so the loader can take
// every tensor as a view of its chunk's bytes instead of assembling a copy (which kept
// both, ≈110 MB of a full-size model).
func (w *Writer) write(p []byte) (Span, error) {
	if len(w.buf) > 0 && len(w.buf)+len(p) > w.chunkBytes {
		if err := w.flush(); err != nil {
			return Span{}, err
		}
	}
	at := Span{Chunk: len(w.chunks), Offset: int64(len(w.buf)), Bytes: int64(len(p))}
	limit := max(w.chunkBytes, min(len(p), MaxChunkBytes))
	for len(p) > 0 {
		n := min(len(p), limit-len(w.buf))
		w.buf = append(w.buf, p[:n]...)
		p = p[n:]
		w.stream += int64(n)
		if len(w.buf) >= limit {
			if err := w.flush(); err != nil {
				return Span{}, err
			}
		}
	}
	return at, nil
}

func (w *Writer) flush() error {
	if len(w.buf) == 0 {
		return nil
	}
	ref, err := w.writeFile(w.buf, ".bin")
	if err != nil {
		return err
	}
	w.chunks = append(w.chunks, ref)
	w.buf = w.buf[:0]
	return nil
}

// writeFile stores data as <sha256><ext>.
func (w *Writer) writeFile(data []byte, ext string) (FileRef, error) {
	sum := sha256.Sum256(data)
	ref := FileRef{SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(data))}
	ref.File = ref.SHA256 + ext
	if err := w.writeAtomic(ref.File, data); err != nil {
		return FileRef{}, err
	}
	return ref, nil
}

// writeAtomic writes data to a temporary file, syncs it and renames it to name, so a
// crash or a full disk never leaves a half-written file under a name a reader trusts.
func (w *Writer) writeAtomic(name string, data []byte) error {
	f, err := w.fs.CreateTemp(w.dir)
	if err != nil {
		return fmt.Errorf("writing %s: %w", name, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if err == nil {
		err = publish(f)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = w.fs.Rename(f.Name(), filepath.Join(w.dir, name))
	}
	if err != nil {
		w.fs.Remove(f.Name())
		return fmt.Errorf("writing %s: %w", name, err)
	}
	return nil
}

// AddF32 appends a float32 tensor.
func (w *Writer) AddF32(name string, shape []int, v []float32) error {
	t := Tensor{Name: name, DType: "f32", Shape: shape}
	b := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(x))
	}
	var err error
	if t.Span, err = w.write(b); err != nil {
		return err
	}
	w.tensors = append(w.tensors, t)
	return nil
}

// AddInt8 quantizes a float32 matrix-like tensor (first dimension = rows) with one
// scale per row and group of columns, and appends it: the int8 values, then the scales.
func (w *Writer) AddInt8(name string, shape []int, v []float32, group int) error {
	t := Tensor{Name: name, DType: "int8", Shape: shape}
	rows, cols := t.Rows(), t.Cols()
	if rows*cols != len(v) {
		return fmt.Errorf("%s: %d values for shape %v", name, len(v), shape)
	}
	scheme := SchemePerGroup
	if group <= 0 || group >= cols {
		group, scheme = cols, SchemePerChannel
	}
	q, scales := QuantizeInt8(v, rows, cols, group)
	b := make([]byte, len(q))
	for i, x := range q {
		b[i] = byte(x)
	}
	var err error
	if t.Span, err = w.write(b); err != nil {
		return err
	}
	sb := make([]byte, 4*len(scales))
	for i, x := range scales {
		binary.LittleEndian.PutUint32(sb[4*i:], math.Float32bits(x))
	}
	sp, err := w.write(sb)
	if err != nil {
		return err
	}
	t.Quant = &Quant{Scheme: scheme, Group: group, Scales: sp}
	w.tensors = append(w.tensors, t)
	return nil
}

// QuantizeInt8 is symmetric int8 quantization: per row and group of columns,
// scale = max|w| / 127 and q = round(w / scale).
func QuantizeInt8(v []float32, rows, cols, group int) ([]int8, []float32) {
	groups := (cols + group - 1) / group
	q := make([]int8, len(v))
	scales := make([]float32, rows*groups)
	for r := 0; r < rows; r++ {
		for g := 0; g < groups; g++ {
			lo, hi := r*cols+g*group, r*cols+min((g+1)*group, cols)
			var mx float64
			for _, x := range v[lo:hi] {
				mx = math.Max(mx, math.Abs(float64(x)))
			}
			s := float32(mx / 127)
			scales[r*groups+g] = s
			if s == 0 {
				continue
			}
			for i := lo; i < hi; i++ {
				q[i] = int8(max(-127, min(127, math.Round(float64(v[i])/float64(s)))))
			}
		}
	}
	return q, scales
}

// Finish writes the last chunk, the tokenizer file and manifest.json (last), and
// returns the manifest.
func (w *Writer) Finish(config, preprocessor, vocab []byte, dtype string, group int) (*Manifest, error) {
	if err := w.flush(); err != nil {
		return nil, err
	}
	if len(w.chunks) == 0 {
		return nil, fmt.Errorf("no tensors written")
	}
	tok, err := w.writeFile(vocab, ".txt")
	if err != nil {
		return nil, err
	}
	m := &Manifest{
		Format: Format, Version: Version, Description: w.Description, Task: w.Task, Config: compactJSON(config), Preprocessor: compactJSON(preprocessor),
		Tokenizer: tok, DType: dtype, Group: group, Chunks: w.chunks, Tensors: w.tensors,
	}
	m.TotalBytes = tok.Bytes
	for _, c := range w.chunks {
		m.TotalBytes += c.Bytes
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("internal error: the manifest written is invalid: %w", err)
	}
	js, err := json.MarshalIndent(m, "", " ")
	if err != nil {
		return nil, err
	}
	if err := w.writeAtomic("manifest.json", append(js, '\n')); err != nil {
		return nil, err
	}
	return m, nil
}

// publish makes a file readable by everyone (a web server's user, say): temporary
// files are created private.
func publish(f TempFile) error {
	if c, ok := f.(interface{ Chmod(os.FileMode) error }); ok {
		if err := c.Chmod(0o644); err != nil && runtime.GOOS != "js" { // js/wasm has no chmod
			return err
		}
	}
	return nil
}

func compactJSON(b []byte) json.RawMessage {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return b
	}
	out, _ := json.Marshal(v)
	return out
}
