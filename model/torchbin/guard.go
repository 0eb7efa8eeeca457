package torchbin

import (
	"archive/zip"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"path"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/types"
)

// gopickle trusts its input: a pickle opcode that declares 2⁴⁰ bytes, or a storage
// that declares 2⁴⁰ elements, is allocated before anything is read, and the process
// dies with a fatal error recover() cannot catch. So a checkpoint is checked before
// gopickle loads it: every length its pickle declares must fit in the bytes that
// follow, and every storage must fit in the zip entry that holds it, which must fit in
// the file (torch.save stores entries uncompressed).

// maxPickle bounds data.pkl: a real state dict's is a few hundred KB.
const maxPickle = 64 << 20

// guard checks the zip checkpoint at path.
func guard(p string) error {
	st, err := os.Stat(p)
	if err != nil {
		return err
	}
	z, err := zip.OpenReader(p)
	if err != nil {
		return err
	}
	defer z.Close()
	entries := map[string]*zip.File{}
	for _, f := range z.File {
		if f.UncompressedSize64 > uint64(st.Size()) {
			return fmt.Errorf("entry %s claims %d bytes in a file of %d", f.Name, f.UncompressedSize64, st.Size())
		}
		_, name := path.Split(f.Name)
		entries[name] = f
	}
	data, ok := entries["data.pkl"]
	if !ok {
		return fmt.Errorf("no data.pkl: not a torch.save checkpoint")
	}
	if data.UncompressedSize64 > maxPickle {
		return fmt.Errorf("data.pkl is %d bytes, more than a state dict's pickle needs (%d)", data.UncompressedSize64, maxPickle)
	}
	r, err := data.Open()
	if err != nil {
		return err
	}
	pkl, err := io.ReadAll(io.LimitReader(r, maxPickle+1))
	r.Close()
	if err != nil {
		return fmt.Errorf("data.pkl: %w", err)
	}
	if err := scanPickle(pkl); err != nil {
		return fmt.Errorf("data.pkl: %w", err)
	}
	return checkStorages(pkl, entries)
}

// checkStorages unpickles data.pkl dry (no class is built, no storage read) and checks
// that each storage it names fits in its zip entry.
func checkStorages(pkl []byte, entries map[string]*zip.File) error {
	u := pickle.NewUnpickler(bytes.NewReader(pkl))
	u.FindClass = func(module, name string) (interface{}, error) { return &placeholder{name}, nil }
	u.PersistentLoad = func(id interface{}) (interface{}, error) {
		t, ok := id.(*types.Tuple)
		if !ok || t.Len() < 5 {
			return nil, fmt.Errorf("persistent id %v is not a storage tuple", id)
		}
		class, _ := t.Get(1).(*placeholder)
		key, _ := t.Get(2).(string)
		size, _ := t.Get(4).(int)
		if class == nil || key == "" {
			return nil, fmt.Errorf("persistent id %v is not a storage tuple", id)
		}
		width, ok := elementBytes[class.Name]
		if !ok {
			return nil, fmt.Errorf("storage %s of unknown type %s", key, class.Name)
		}
		e, ok := entries[key]
		switch {
		case !ok:
			return nil, fmt.Errorf("storage %s is not in the archive", key)
		case size < 0 || uint64(size) > e.UncompressedSize64/uint64(width):
			return nil, fmt.Errorf("storage %s claims %d elements of %d bytes, its entry holds %d bytes", key, size, width, e.UncompressedSize64)
		}
		return nil, nil
	}
	if _, err := u.Load(); err != nil {
		return fmt.Errorf("data.pkl: %w", err)
	}
	return nil
}

// placeholder stands for every class in the dry run: calling it builds nothing.
type placeholder struct{ Name string }

func (p *placeholder) Call(...interface{}) (interface{}, error) { return p, nil }

var elementBytes = map[string]uint64{
	"DoubleStorage": 8, "FloatStorage": 4, "HalfStorage": 2, "BFloat16Storage": 2,
	"LongStorage": 8, "IntStorage": 4, "ShortStorage": 2, "CharStorage": 1, "ByteStorage": 1, "BoolStorage": 1,
}

// Pickle opcodes whose argument is a length followed by that many bytes, by the
// length's size in bytes (pickletools' table).
var lengthArgs = map[byte]int{
	'T': 4, 'U': 1, 'X': 4, 'B': 4, 'C': 1, // BINSTRING, SHORT_BINSTRING, BINUNICODE, BINBYTES, SHORT_BINBYTES
	0x8a: 1, 0x8b: 4, 0x8c: 1, 0x8d: 8, 0x8e: 8, 0x95: 8, 0x96: 8, // LONG1, LONG4, SHORT_BINUNICODE, BINUNICODE8, BINBYTES8, FRAME, BYTEARRAY8
}

// Opcodes with a fixed-size argument, by its size.
var fixedArgs = map[byte]int{
	'J': 4, 'K': 1, 'M': 2, 'G': 8, 'h': 1, 'j': 4, 'q': 1, 'r': 4, // BININT, BININT1, BININT2, BINFLOAT, BINGET, LONG_BINGET, BINPUT, LONG_BINPUT
	0x80: 1, 0x82: 1, 0x83: 2, 0x84: 4, // PROTO, EXT1, EXT2, EXT4
}

// Opcodes whose argument is one or two newline-terminated lines.
var lineArgs = map[byte]int{'F': 1, 'I': 1, 'L': 1, 'P': 1, 'S': 1, 'V': 1, 'g': 1, 'p': 1, 'c': 2, 'i': 2}

// Opcodes without an argument.
const bare = "(.0123NQRabd}el]ost)u\x81\x85\x86\x87\x88\x89\x8f\x90\x91\x92\x93\x94\x97\x98"

// scanPickle walks the opcodes of one pickle and refuses any length that does not fit
// in what follows, an unknown opcode, and a pickle without STOP.
func scanPickle(b []byte) error {
	for i := 0; i < len(b); {
		op := b[i]
		i++
		if n, ok := lengthArgs[op]; ok {
			if len(b)-i < n {
				return fmt.Errorf("opcode 0x%02x at %d: truncated", op, i-1)
			}
			var length uint64
			switch n {
			case 1:
				length = uint64(b[i])
			case 4:
				length = uint64(binary.LittleEndian.Uint32(b[i:]))
			case 8:
				length = binary.LittleEndian.Uint64(b[i:])
			}
			i += n
			if length > uint64(len(b)-i) {
				return fmt.Errorf("opcode 0x%02x at %d declares %d bytes, %d follow", op, i-n-1, length, len(b)-i)
			}
			if op != 0x95 { // a FRAME's bytes are opcodes: walk on into them
				i += int(length)
			}
			continue
		}
		if n, ok := fixedArgs[op]; ok {
			if len(b)-i < n {
				return fmt.Errorf("opcode 0x%02x at %d: truncated", op, i-1)
			}
			i += n
			continue
		}
		if n, ok := lineArgs[op]; ok {
			for ; n > 0; n-- {
				j := bytes.IndexByte(b[i:], '\n')
				if j < 0 {
					return fmt.Errorf("opcode %q at %d: unterminated line", op, i-1)
				}
				i += j + 1
			}
			continue
		}
		if op == '.' {
			return nil
		}
		if bytes.IndexByte([]byte(bare), op) < 0 {
			return fmt.Errorf("unknown opcode 0x%02x at %d", op, i-1)
		}
	}
	return fmt.Errorf("no STOP opcode: truncated")
}
