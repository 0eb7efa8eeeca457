// Command build assembles the kernel module into static/: kernels.wasm and
// kernels-relaxed.wasm.
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"gitvqa/wasm/kernels"
)

func main() {
	out := flag.String("out", "static", "folder to write into")
	flag.Parse()
	plain, err := kernels.Assemble(kernels.Source, false)
	if err != nil {
		log.Fatal(err)
	}
	src, n := kernels.Relaxed(kernels.Source)
	if n == 0 {
		log.Fatal("no multiply-add to fuse: the madd markers are gone")
	}
	relaxed, err := kernels.Assemble(src, true)
	if err != nil {
		log.Fatal(err)
	}
	for name, b := range map[string][]byte{"kernels.wasm": plain, "kernels-relaxed.wasm": relaxed} {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
