package torchbin

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// checkpoint writes a valid one-tensor checkpoint whose data.pkl edit rewrites, and
// returns its path.
func checkpoint(t *testing.T, edit func(pkl []byte) []byte) string {
	t.Helper()
	var valid bytes.Buffer
	if err := Write(&valid, []Tensor{{Name: "a", Shape: []int{3}, F32: []float32{1, 2, 3}}}); err != nil {
		t.Fatal(err)
	}
	zr, err := zip.NewReader(bytes.NewReader(valid.Bytes()), int64(valid.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		r, _ := f.Open()
		var b bytes.Buffer
		b.ReadFrom(r)
		data := b.Bytes()
		if strings.HasSuffix(f.Name, "data.pkl") {
			data = edit(data)
		}
		w, _ := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Store})
		w.Write(data)
	}
	zw.Close()
	p := filepath.Join(t.TempDir(), "pytorch_model.bin")
	if err := os.WriteFile(p, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func le(v uint64, n int) []byte {
	b := make([]byte, 8)
	binary.LittleEndian.PutUint64(b, v)
	return b[:n]
}

// long1 is the pickle of a LONG1 int.
func long1(v uint64) []byte { return append([]byte{0x8a, 6}, le(v, 6)...) }

// Pickles and storages that declare far more than the file holds are refused before
// anything is allocated, and the process stays small.
func TestHostileCheckpointsAreRefused(t *testing.T) {
	const huge = 1 << 40
	int32le := func(v uint32) []byte { return append([]byte{'J'}, le(uint64(v), 4)...) }
	for _, c := range []struct {
		name string
		edit func([]byte) []byte
		want string
	}{
		{"FRAME of 2^40 bytes", func(b []byte) []byte {
			return append([]byte{0x80, 4, 0x95}, append(le(huge, 8), b[2:]...)...)
		}, "declares 1099511627776 bytes"},
		{"BINUNICODE8 of 2^40 bytes", func(b []byte) []byte {
			return append([]byte{0x80, 4, 0x8d}, append(le(huge, 8), 'x', '.')...)
		}, "declares 1099511627776 bytes"},
		{"BINBYTES of 4 GiB", func(b []byte) []byte {
			return append([]byte{0x80, 3, 'B'}, append(le(0xffffffff, 4), '.')...)
		}, "declares 4294967295 bytes"},
		{"a storage of 2^40 floats", func(b []byte) []byte {
			return bytes.Replace(b, append([]byte("cpu"), int32le(3)...), append([]byte("cpu"), long1(huge)...), 1)
		}, "claims 1099511627776 elements"},
		{"a shape of 2^40", func(b []byte) []byte {
			return bytes.Replace(b, append([]byte{'('}, append(int32le(3), 't')...), append([]byte{'('}, append(long1(huge), 't')...), 1)
		}, "more than its storage"},
		{"an unknown opcode", func(b []byte) []byte { return append([]byte{0x80, 2, 0xff}, b[2:]...) }, "unknown opcode 0xff"},
		{"no STOP", func(b []byte) []byte { return b[:len(b)-1] }, "truncated"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := checkpoint(t, c.edit)
			var before runtime.MemStats
			runtime.ReadMemStats(&before)
			f, err := Open(p)
			if err == nil {
				_, err = f.Float32("a")
			}
			var after runtime.MemStats
			runtime.ReadMemStats(&after)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want %q", err, c.want)
			}
			if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
				t.Fatalf("allocated %d MB refusing a %s", grew>>20, c.name)
			}
		})
	}
}

// The legacy format is refused by name, whatever follows its magic number; so is a
// zip entry that claims more bytes than the file has.
func TestLegacyAndZipBombsAreRefused(t *testing.T) {
	dir := t.TempDir()
	legacy := filepath.Join(dir, "legacy.bin")
	os.WriteFile(legacy, append(append([]byte{}, legacyMagic...), 0x80, 4, 0x95, 0, 0, 0, 0, 0, 1, 0, 0, '.'), 0o644)
	if _, err := Open(legacy); err == nil || !strings.Contains(err.Error(), "legacy") {
		t.Fatalf("legacy: %v", err)
	}
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	w, _ := zw.CreateRaw(&zip.FileHeader{Name: "archive/data.pkl", Method: zip.Store, CompressedSize64: 1, UncompressedSize64: 1 << 40})
	w.Write([]byte{'.'})
	zw.Close()
	bomb := filepath.Join(dir, "bomb.bin")
	os.WriteFile(bomb, b.Bytes(), 0o644)
	if _, err := Open(bomb); err == nil || !strings.Contains(err.Error(), "claims 1099511627776 bytes") {
		t.Fatalf("zip bomb: %v", err)
	}
}

// Whatever the bytes, Open returns a file or an error: no panic, no hang, no
// allocation beyond the file's size (a fatal out-of-memory would end the fuzzer).
func FuzzOpen(f *testing.F) {
	var valid bytes.Buffer
	Write(&valid, []Tensor{{Name: "a", Shape: []int{3}, F32: []float32{1, 2, 3}}, {Name: "p", Shape: []int{1, 2}, I64: []int64{0, 1}}})
	f.Add(valid.Bytes())
	f.Add(append(append([]byte{}, legacyMagic...), 0x80, 2, '.'))
	f.Add([]byte("PK\x03\x04"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(dir, "in.bin")
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		done := make(chan struct{})
		go func() {
			defer close(done)
			r, err := Open(p)
			if err != nil {
				return
			}
			for _, n := range r.Names() {
				r.Float32(n)
			}
		}()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("Open of %d bytes ran for 5 s", len(data))
		}
	})
}
