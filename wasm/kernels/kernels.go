// Package kernels holds the WebAssembly SIMD kernel module (kernels.wat) and builds
// it: kernels.wasm as written, and kernels-relaxed.wasm with each multiply-add fused
// into f32x4.relaxed_madd, for browsers with relaxed SIMD.
//
// Why hand-written WAT assembled by Debian's wat2wasm, rather than a Go generator: the
// kernels are a few hundred lines that read as what the CPU runs, the source is the
// only thing to review, and wabt is one apt package. The relaxed variant is derived
// from the same text, so the two cannot drift apart.
package kernels

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

//go:embed kernels.wat
var Source string

// madd matches a line "(local.set $acc (f32x4.add (local.get $acc) (f32x4.mul A B))) ;; madd".
var madd = regexp.MustCompile(`\(f32x4\.add \(local\.get (\$[a-z0-9]+)\) \(f32x4\.mul (.*)\)\)\) ;; madd$`)

// Relaxed rewrites the marked multiply-adds of src into f32x4.relaxed_madd and
// uncomments the relaxed-only kernels (the block between "(;RELAXED" and "RELAXED;)").
func Relaxed(src string) (string, int) {
	src = strings.Replace(strings.Replace(src, "(;RELAXED", "", 1), "RELAXED;)", "", 1)
	lines := strings.Split(src, "\n")
	n := 0
	for i, l := range lines {
		if madd.MatchString(l) {
			lines[i] = madd.ReplaceAllString(l, `(f32x4.relaxed_madd $2 (local.get $1))) ;; madd`)
			n++
		}
	}
	return strings.Join(lines, "\n"), n
}

// Assemble runs wat2wasm on src and returns the module.
func Assemble(src string, relaxed bool) ([]byte, error) {
	tool, err := exec.LookPath("wat2wasm")
	if err != nil {
		return nil, fmt.Errorf("wat2wasm not found: install Debian's wabt (make deps does)")
	}
	dir, err := os.MkdirTemp("", "kernels")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "k.wat"), filepath.Join(dir, "k.wasm")
	if err := os.WriteFile(in, []byte(src), 0o644); err != nil {
		return nil, err
	}
	args := []string{in, "-o", out}
	if relaxed {
		args = append(args, "--enable-relaxed-simd")
	}
	if msg, err := exec.Command(tool, args...).CombinedOutput(); err != nil {
		return nil, fmt.Errorf("wat2wasm: %v\n%s", err, msg)
	}
	return os.ReadFile(out)
}
