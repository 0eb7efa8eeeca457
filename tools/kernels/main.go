// Command kernels assembles the SIMD kernel module (model/kernels/simd/kernels.wat)
// into a folder: kernels.wasm and kernels-relaxed.wasm. Needs Debian's wabt (wat2wasm).
package main

import (
	"flag"
	"log"
	"os"
	"path/filepath"

	"gitvqa/model/kernels/simd"
)

func main() {
	out := flag.String("out", "static", "folder to write into")
	flag.Parse()
	plain, relaxed, err := simd.Modules()
	if err != nil {
		log.Fatal(err)
	}
	for name, b := range map[string][]byte{"kernels.wasm": plain, "kernels-relaxed.wasm": relaxed} {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			log.Fatal(err)
		}
	}
}
