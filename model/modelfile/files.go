package modelfile

import (
	"fmt"
	"io"
	"os"
)

// Caps on the files a model is read from, so that a file that never ends (a symlink
// to /dev/zero, a FIFO) or is far larger than its kind ever is costs a clear error, not
// the machine's memory. Chunks are bounded by their manifest entry instead.
const (
	MaxConfigBytes   = 1 << 20  // config.json, preprocessor_config.json
	MaxVocabBytes    = 16 << 20 // vocab.txt (bert-base-uncased's is 232 KB)
	MaxManifestBytes = 16 << 20 // manifest.json (the full-size model's is ≈90 KB)
	MaxImageBytes    = 256 << 20
)

// ReadFile reads at most limit bytes of path, and fails when it holds more.
func ReadFile(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Mode().IsRegular() && st.Size() > limit {
		return nil, fmt.Errorf("%s is %d bytes, more than the %d this kind of file may have", path, st.Size(), limit)
	}
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s goes on past the %d bytes this kind of file may have", path, limit)
	}
	return b, nil
}
