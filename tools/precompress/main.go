// Command precompress writes file.br (brotli, best) and file.gz (gzip, best) beside each
// file named, for static hosts that serve precompressed files (and tools/serve, which
// does): compressing gitvqa.wasm once at its best levels is smaller than a host's
// on-the-fly compression and costs the host nothing per request.
//
//	go run ./tools/precompress [-brotli 11] static/gitvqa.wasm
package main

import (
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/andybalholm/brotli"
)

// Brotli's best level (11) takes a minute for gitvqa.wasm and saves 0.5 MB over 9.
var brotliLevel = flag.Int("brotli", 9, "brotli `level` (0-11)")

func main() {
	flag.Parse()
	if flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: precompress file...")
		os.Exit(2)
	}
	for _, name := range flag.Args() {
		if err := precompress(name); err != nil {
			fmt.Fprintln(os.Stderr, "precompress:", err)
			os.Exit(1)
		}
	}
}

func precompress(name string) error {
	body, err := os.ReadFile(name)
	if err != nil {
		return err
	}
	br, err := write(name+".br", body, func(w io.Writer) io.WriteCloser { return brotli.NewWriterLevel(w, *brotliLevel) })
	if err != nil {
		return err
	}
	gz, err := write(name+".gz", body, func(w io.Writer) io.WriteCloser { z, _ := gzip.NewWriterLevel(w, gzip.BestCompression); return z })
	if err != nil {
		return err
	}
	fmt.Printf("%s: %.2f MB, brotli %.2f MB, gzip %.2f MB\n", name, float64(len(body))/1e6, float64(br)/1e6, float64(gz)/1e6)
	return nil
}

// write compresses body into name through a temporary file renamed into place, so a
// host never serves half a file.
func write(name string, body []byte, enc func(io.Writer) io.WriteCloser) (int64, error) {
	f, err := os.CreateTemp(filepath.Dir(name), ".precompress-*")
	if err != nil {
		return 0, err
	}
	defer os.Remove(f.Name())
	w := enc(f)
	if _, err := w.Write(body); err != nil {
		f.Close()
		return 0, err
	}
	if err := w.Close(); err != nil {
		f.Close()
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	if err := f.Close(); err != nil {
		return 0, err
	}
	return st.Size(), os.Rename(f.Name(), name)
}
