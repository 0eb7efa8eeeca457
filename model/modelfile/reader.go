package modelfile

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"time"
	"unsafe"

	"gitvqa/model/kernels"
)

// ChunkSource hands over the folder's files by reference: read from disk natively,
// from IndexedDB or the network in the browser. Load verifies what it returns.
type ChunkSource interface {
	Fetch(ctx context.Context, ref FileRef) ([]byte, error)
}

// Verifying is implemented by sources that check every file's size and sha256
// themselves before handing it over (the browser's downloader does, to store only
// verified chunks); Load then checks sizes only, instead of hashing everything twice.
type Verifying interface {
	VerifiesFiles() bool
}

// DirSource reads a model folder on disk.
type DirSource string

// Fetch implements ChunkSource: at most the bytes the manifest gives the file, so a
// file that never ends is cut off and then refused by its size.
func (d DirSource) Fetch(_ context.Context, ref FileRef) ([]byte, error) {
	f, err := os.Open(filepath.Join(string(d), filepath.Base(ref.File)))
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, max(ref.Bytes, 0)+1))
}

// ReadManifest reads dir/manifest.json.
func ReadManifest(dir string) (*Manifest, error) {
	b, err := ReadFile(filepath.Join(dir, "manifest.json"), MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Verify checks a file's size and sha256 against its reference.
func Verify(ref FileRef, data []byte) error {
	if int64(len(data)) != ref.Bytes {
		return VerifySum(ref, len(data), [32]byte{})
	}
	return VerifySum(ref, len(data), sha256.Sum256(data))
}

// VerifySum checks a file's size and a sha256 computed elsewhere against its reference.
func VerifySum(ref FileRef, size int, sum [32]byte) error {
	if int64(size) != ref.Bytes {
		return fmt.Errorf("%s: %d bytes, expected %d (truncated or wrong file)", ref.File, size, ref.Bytes)
	}
	if hex.EncodeToString(sum[:]) != ref.SHA256 {
		return fmt.Errorf("%s: sha256 mismatch (corrupt or altered)", ref.File)
	}
	return nil
}

// Store holds the tensors of a loaded model folder. It implements model.Source and
// model.MatrixSource.
type Store struct {
	Manifest *Manifest
	Vocab    []byte
	// Decode is how long cutting the tensors out of the chunks took.
	Decode  time.Duration
	tensors map[string]*stored
	names   []string
}

type stored struct {
	t      *Tensor
	f32    []float32
	q8     []int8
	scales []float32
}

// Progress reports bytes loaded out of the total.
type Progress func(done, total int64)

// Load fetches, verifies and decodes every file of the folder, chunk by chunk, keeping
// only what the next tensors need besides the decoded weights.
func Load(ctx context.Context, m *Manifest, src ChunkSource, progress Progress) (*Store, error) {
	if err := m.Validate(); err != nil {
		return nil, err
	}
	var done int64
	trusted := false
	if v, ok := src.(Verifying); ok {
		trusted = v.VerifiesFiles()
	}
	fetch := func(ref FileRef) ([]byte, error) {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		data, err := src.Fetch(ctx, ref)
		if err != nil {
			return nil, fmt.Errorf("fetching %s: %w", ref.File, err)
		}
		if trusted {
			if int64(len(data)) != ref.Bytes {
				return nil, fmt.Errorf("%s: %d bytes, expected %d", ref.File, len(data), ref.Bytes)
			}
		} else if err := Verify(ref, data); err != nil {
			return nil, err
		}
		done += ref.Bytes
		if progress != nil {
			progress(done, m.TotalBytes)
		}
		return data, nil
	}
	vocab, err := fetch(m.Tokenizer)
	if err != nil {
		return nil, err
	}
	s := &Store{Manifest: m, Vocab: vocab, tensors: map[string]*stored{}}

	// Every byte range to cut out of the stream, in stream order. A tensor inside one
	// chunk is a view of the chunk's bytes (int8 as they are, float32 where aligned): the
	// chunks are the weights, with no second copy; only a tensor that spans two chunks
	// is assembled.
	offs, _ := m.ChunkOffsets()
	type piece struct {
		start, end int64
		take       func([]byte)
	}
	var pieces []piece
	for i := range m.Tensors {
		t := &m.Tensors[i]
		st := &stored{t: t}
		s.tensors[t.Name] = st
		s.names = append(s.names, t.Name)
		start := offs[t.Chunk] + t.Offset
		switch t.DType {
		case "f32":
			pieces = append(pieces, piece{start, start + t.Bytes, func(b []byte) { st.f32 = viewF32(b) }})
		case "int8":
			pieces = append(pieces, piece{start, start + t.Bytes, func(b []byte) { st.q8 = viewInt8(b) }})
			sp := t.Quant.Scales
			ss := offs[sp.Chunk] + sp.Offset
			pieces = append(pieces, piece{ss, ss + sp.Bytes, func(b []byte) { st.scales = viewF32(b) }})
		}
	}
	sort.SliceStable(pieces, func(i, j int) bool { return pieces[i].start < pieces[j].start })

	var carry []byte // the bytes so far of a piece that runs on into the next chunk
	next := 0
	for ci, ref := range m.Chunks {
		data, err := fetch(ref)
		if err != nil {
			return nil, err
		}
		cStart, cEnd := offs[ci], offs[ci]+int64(len(data))
		decodeStart := time.Now()
		for next < len(pieces) && pieces[next].start < cEnd {
			p := pieces[next]
			switch {
			case p.end > cEnd: // runs on: keep what this chunk has of it
				if p.start >= cStart {
					carry = append([]byte(nil), data[p.start-cStart:]...)
				} else {
					carry = append(carry, data...)
				}
			case p.start >= cStart:
				p.take(data[p.start-cStart : p.end-cStart])
				next++
				continue
			default: // started in an earlier chunk, ends in this one
				p.take(append(carry, data[:p.end-cStart]...))
				carry = nil
				next++
				continue
			}
			break
		}
		s.Decode += time.Since(decodeStart)
	}
	if next != len(pieces) {
		return nil, fmt.Errorf("%d tensors lie beyond the chunks", len(pieces)-next)
	}
	return s, nil
}

// littleEndian says whether float32s can be read in place (wasm, amd64 and arm64 are).
var littleEndian = func() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}()

// viewInt8 is b as int8 values, without a copy.
func viewInt8(b []byte) []int8 {
	if len(b) == 0 {
		return []int8{}
	}
	return unsafe.Slice((*int8)(unsafe.Pointer(&b[0])), len(b))
}

// viewF32 is b as little-endian float32 values: in place where b is aligned, else a copy.
func viewF32(b []byte) []float32 {
	if len(b) >= 4 && littleEndian && uintptr(unsafe.Pointer(&b[0]))%4 == 0 {
		return unsafe.Slice((*float32)(unsafe.Pointer(&b[0])), len(b)/4)
	}
	return decodeF32(b)
}

func decodeF32(b []byte) []float32 {
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v
}

// Names implements model.Source.
func (s *Store) Names() []string { return append([]string(nil), s.names...) }

// Shape implements model.Source.
func (s *Store) Shape(name string) ([]int, bool) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, false
	}
	return t.t.Shape, true
}

// Float32 implements model.Source, dequantizing int8 tensors.
func (s *Store) Float32(name string) ([]float32, error) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, fmt.Errorf("model folder has no tensor %q", name)
	}
	if t.f32 != nil || t.t.DType == "f32" {
		return t.f32, nil
	}
	m := t.matrix()
	out := make([]float32, len(t.q8))
	for r := 0; r < m.Rows; r++ {
		kernels.Row(out[r*m.Cols:(r+1)*m.Cols], m, r)
	}
	return out, nil
}

// Matrix implements model.MatrixSource: int8 tensors stay int8.
func (s *Store) Matrix(name string) (*kernels.Matrix, bool, error) {
	t, ok := s.tensors[name]
	if !ok {
		return nil, false, fmt.Errorf("model folder has no tensor %q", name)
	}
	if t.t.DType != "int8" {
		return nil, false, nil
	}
	return t.matrix(), true, nil
}

func (t *stored) matrix() *kernels.Matrix {
	return &kernels.Matrix{Rows: t.t.Rows(), Cols: t.t.Cols(), Q8: t.q8, Scales: t.scales, Group: t.t.Quant.Group}
}
