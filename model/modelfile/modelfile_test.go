package modelfile

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

var (
	cfgJSON = []byte(`{"model_type":"git"}`)
	preJSON = []byte(`{"size":32}`)
	vocab   = []byte("[PAD]\n[UNK]\n")
)

// writeSample writes a folder whose tensors straddle chunk boundaries.
func writeSample(t *testing.T, dir string, chunk int, fs FS) (*Manifest, map[string][]float32, error) {
	t.Helper()
	w, err := NewWriter(dir, chunk, fs)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string][]float32{}
	mk := func(n int, seed float32) []float32 {
		v := make([]float32, n)
		for i := range v {
			v[i] = float32(math.Sin(float64(seed) + float64(i)*0.37))
		}
		return v
	}
	vals["a.bias"] = mk(7, 1)
	vals["b.weight"] = mk(5*9, 2)
	vals["c.weight"] = mk(3*2*2*2, 3)
	vals["d.weight"] = mk(11*40, 4)
	if err := w.AddF32("a.bias", []int{7}, vals["a.bias"]); err != nil {
		return nil, nil, err
	}
	if err := w.AddInt8("b.weight", []int{5, 9}, vals["b.weight"], 0); err != nil {
		return nil, nil, err
	}
	if err := w.AddInt8("c.weight", []int{3, 2, 2, 2}, vals["c.weight"], 0); err != nil {
		return nil, nil, err
	}
	if err := w.AddInt8("d.weight", []int{11, 40}, vals["d.weight"], 16); err != nil {
		return nil, nil, err
	}
	m, err := w.Finish(cfgJSON, preJSON, vocab, "int8", 0)
	return m, vals, err
}

// resplit re-cuts a folder's chunk stream into chunks of size bytes (the last shorter)
// and rewrites the manifest's spans, as converters before tensors kept to one chunk
// wrote them: tensors then run on across chunk boundaries.
func resplit(t *testing.T, dir string, m *Manifest, size int) {
	t.Helper()
	var stream []byte
	for _, c := range m.Chunks {
		b, err := os.ReadFile(filepath.Join(dir, c.File))
		if err != nil {
			t.Fatal(err)
		}
		stream = append(stream, b...)
	}
	offs, _ := m.ChunkOffsets()
	respan := func(s *Span) {
		at := offs[s.Chunk] + s.Offset
		s.Chunk, s.Offset = int(at/int64(size)), at%int64(size)
	}
	for i := range m.Tensors {
		respan(&m.Tensors[i].Span)
		if q := m.Tensors[i].Quant; q != nil {
			respan(&q.Scales)
		}
	}
	m.Chunks = nil
	for p := 0; p < len(stream); p += size {
		b := stream[p:min(p+size, len(stream))]
		sum := sha256.Sum256(b)
		ref := FileRef{SHA256: hex.EncodeToString(sum[:]), Bytes: int64(len(b))}
		ref.File = ref.SHA256 + ".bin"
		if err := os.WriteFile(filepath.Join(dir, ref.File), b, 0o644); err != nil {
			t.Fatal(err)
		}
		m.Chunks = append(m.Chunks, ref)
	}
	raw, _ := json.Marshal(m)
	if err := os.WriteFile(filepath.Join(dir, "manifest.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Written, every tensor lies within one chunk (a piece larger than a chunk gets a
// chunk of its own); folders whose tensors run across chunks (older converters) load
// the same.
func TestRoundTripAcrossChunkBoundaries(t *testing.T) {
	for _, chunk := range []int{1, 7, 64, 1 << 20} {
		dir := t.TempDir()
		m, vals, err := writeSample(t, dir, chunk, nil)
		if err != nil {
			t.Fatal(err)
		}
		within := func(s Span) bool { return s.Offset+s.Bytes <= m.Chunks[s.Chunk].Bytes }
		for _, tn := range m.Tensors {
			if !within(tn.Span) || (tn.Quant != nil && !within(tn.Quant.Scales)) {
				t.Fatalf("chunk %d: %s spans chunks: %+v", chunk, tn.Name, tn)
			}
		}
		if chunk == 7 {
			resplit(t, dir, m, 5)
		}
		onDisk, err := ReadManifest(dir)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := json.Marshal(onDisk)
		b, _ := json.Marshal(m)
		var x, y any
		json.Unmarshal(a, &x)
		json.Unmarshal(b, &y)
		if !reflect.DeepEqual(x, y) {
			t.Fatal("manifest on disk differs from the one returned")
		}
		var done int64
		s, err := Load(context.Background(), onDisk, DirSource(dir), func(d, total int64) {
			if d < done || total != m.TotalBytes {
				t.Fatalf("progress %d/%d after %d", d, total, done)
			}
			done = d
		})
		if err != nil {
			t.Fatalf("chunk %d: %v", chunk, err)
		}
		if done != m.TotalBytes || string(s.Vocab) != string(vocab) {
			t.Fatalf("chunk %d: progress ended at %d of %d", chunk, done, m.TotalBytes)
		}
		for name, want := range vals {
			got, err := s.Float32(name)
			if err != nil {
				t.Fatal(err)
			}
			tol := 0.0
			if name != "a.bias" {
				tol = 1.0 / 127 / 2 * 1.0001 // half a quantization step of a unit-range row
			}
			for i := range want {
				if math.Abs(float64(got[i]-want[i])) > tol {
					t.Fatalf("chunk %d, %s[%d]: %g, want %g", chunk, name, i, got[i], want[i])
				}
			}
		}
		mat, ok, err := s.Matrix("d.weight")
		if err != nil || !ok || mat.Rows != 11 || mat.Cols != 40 || mat.Group != 16 || len(mat.Scales) != 11*3 {
			t.Fatalf("matrix %+v %v %v", mat, ok, err)
		}
		if _, ok, _ := s.Matrix("a.bias"); ok {
			t.Fatal("an f32 tensor came back as int8")
		}
		if sh, _ := s.Shape("c.weight"); !reflect.DeepEqual(sh, []int{3, 2, 2, 2}) {
			t.Fatal(sh)
		}
	}
}

func TestDeterministic(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	writeSample(t, a, 16, nil)
	writeSample(t, b, 16, nil)
	ea, _ := os.ReadDir(a)
	eb, _ := os.ReadDir(b)
	if len(ea) != len(eb) {
		t.Fatalf("%d files vs %d", len(ea), len(eb))
	}
	for i := range ea {
		x, _ := os.ReadFile(filepath.Join(a, ea[i].Name()))
		y, _ := os.ReadFile(filepath.Join(b, eb[i].Name()))
		if ea[i].Name() != eb[i].Name() || string(x) != string(y) {
			t.Fatalf("%s differs from %s", ea[i].Name(), eb[i].Name())
		}
	}
}

func TestCorruptFilesAreRefused(t *testing.T) {
	for name, corrupt := range map[string]func(path string){
		"altered byte": func(p string) {
			b, _ := os.ReadFile(p)
			b[len(b)/2] ^= 1
			os.WriteFile(p, b, 0o644)
		},
		"truncated": func(p string) {
			b, _ := os.ReadFile(p)
			os.WriteFile(p, b[:len(b)-1], 0o644)
		},
		"missing": func(p string) { os.Remove(p) },
	} {
		dir := t.TempDir()
		m, _, err := writeSample(t, dir, 32, nil)
		if err != nil {
			t.Fatal(err)
		}
		corrupt(filepath.Join(dir, m.Chunks[1].File))
		_, err = Load(context.Background(), m, DirSource(dir), nil)
		if err == nil || !strings.Contains(err.Error(), m.Chunks[1].File) {
			t.Errorf("%s chunk: %v", name, err)
		}
	}
}

func TestManifestValidation(t *testing.T) {
	dir := t.TempDir()
	m, _, err := writeSample(t, dir, 32, nil)
	if err != nil {
		t.Fatal(err)
	}
	good, _ := json.Marshal(m)
	for name, c := range map[string]struct {
		edit func(m *Manifest)
		want string
	}{
		"version":      {func(m *Manifest) { m.Version = 2 }, "version 2 is not supported"},
		"format":       {func(m *Manifest) { m.Format = "other" }, "format"},
		"path in name": {func(m *Manifest) { m.Chunks[0].File = "../" + m.Chunks[0].File }, "not named"},
		"bad hash":     {func(m *Manifest) { m.Chunks[0].SHA256 = "xyz" }, "sha256"},
		"total":        {func(m *Manifest) { m.TotalBytes++ }, "total_bytes"},
		"past the end": {func(m *Manifest) {
			m.Tensors[3].Chunk = len(m.Chunks) - 1
			m.Tensors[3].Offset = m.Chunks[len(m.Chunks)-1].Bytes - 1
		}, "run past the end"},
		"no such chunk":   {func(m *Manifest) { m.Tensors[0].Chunk = 99 }, "does not exist"},
		"wrong size":      {func(m *Manifest) { m.Tensors[0].Shape = []int{8} }, "needs 32"},
		"dtype":           {func(m *Manifest) { m.Tensors[0].DType = "f16" }, "unknown dtype"},
		"scheme":          {func(m *Manifest) { m.Tensors[1].Quant.Scheme = "nf4" }, "quantization scheme"},
		"group":           {func(m *Manifest) { m.Tensors[3].Quant.Group = 0 }, "group"},
		"duplicate":       {func(m *Manifest) { m.Tensors[1].Name = m.Tensors[0].Name }, "repeated"},
		"no chunks":       {func(m *Manifest) { m.Chunks = nil }, "no chunks"},
		"config null":     {func(m *Manifest) { m.Config = json.RawMessage("null") }, "config is null, not a JSON object"},
		"no preprocessor": {func(m *Manifest) { m.Preprocessor = nil }, "preprocessor is"},
	} {
		var mm Manifest
		json.Unmarshal(good, &mm)
		c.edit(&mm)
		b, _ := json.Marshal(mm)
		if _, err := Parse(b); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v (want %q)", name, err, c.want)
		}
	}
	if _, err := Parse([]byte("{")); err == nil {
		t.Error("broken JSON parsed")
	}
}

// fullFS fails once limit bytes have been written, like a full disk.
type fullFS struct {
	OSFS
	limit, written int
}

type fullFile struct {
	*os.File
	fs *fullFS
}

func (f fullFile) Write(p []byte) (int, error) {
	if f.fs.written+len(p) > f.fs.limit {
		return 0, fmt.Errorf("write %s: %w", f.Name(), errNoSpace)
	}
	f.fs.written += len(p)
	return f.File.Write(p)
}

var errNoSpace = errors.New("no space left on device")

func (fs *fullFS) CreateTemp(dir string) (TempFile, error) {
	f, err := os.CreateTemp(dir, ".part-*")
	return fullFile{f, fs}, err
}

func TestDiskFullLeavesNothingThatLooksValid(t *testing.T) {
	for _, limit := range []int{0, 40, 100, 200} {
		dir := t.TempDir()
		_, _, err := writeSample(t, dir, 32, &fullFS{limit: limit})
		if !errors.Is(err, errNoSpace) {
			t.Fatalf("limit %d: %v", limit, err)
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if e.Name() == "manifest.json" || strings.HasPrefix(e.Name(), ".part") {
				t.Fatalf("limit %d: %s left behind", limit, e.Name())
			}
			// What remains are complete chunks, each matching its name.
			b, _ := os.ReadFile(filepath.Join(dir, e.Name()))
			ref := FileRef{File: e.Name(), SHA256: strings.TrimSuffix(e.Name(), filepath.Ext(e.Name())), Bytes: int64(len(b))}
			if err := Verify(ref, b); err != nil {
				t.Fatalf("limit %d: %v", limit, err)
			}
		}
	}
}

func TestQuantizeInt8(t *testing.T) {
	q, s := QuantizeInt8([]float32{0, 0.5, -1, 0.25, 0, 0, 0, 0}, 2, 4, 4)
	if !reflect.DeepEqual(q, []int8{0, 64, -127, 32, 0, 0, 0, 0}) || s[0] != float32(1.0/127) || s[1] != 0 {
		t.Fatalf("%v %v", q, s)
	}
}

func FuzzParse(f *testing.F) {
	dir := f.TempDir()
	w, _ := NewWriter(dir, 8, nil)
	w.AddF32("x", []int{3}, []float32{1, 2, 3})
	w.AddInt8("y", []int{2, 4}, []float32{1, 2, 3, 4, 5, 6, 7, 8}, 2)
	m, err := w.Finish(cfgJSON, preJSON, vocab, "int8", 2)
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(m)
	f.Add(b)
	f.Add([]byte(`{"format":"gitvqa-model","version":1}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		offs, total := m.ChunkOffsets()
		for _, tn := range m.Tensors {
			spans := []Span{tn.Span}
			if tn.Quant != nil {
				spans = append(spans, tn.Quant.Scales)
			}
			for _, sp := range spans {
				if sp.Bytes > 0 && (offs[sp.Chunk]+sp.Offset+sp.Bytes > total || sp.Offset < 0) {
					t.Fatalf("accepted a span outside the stream: %+v", sp)
				}
			}
		}
	})
}
