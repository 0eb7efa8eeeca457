//go:build !js

package simd

import (
	_ "embed"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// Assembling the module: native tools and tests only (the browser loads the .wasm
// files tools/kernels writes into static/).

//go:embed kernels.wat
var Source string

// madd matches a line "(local.set $acc (f32x4.add (local.get $acc) (f32x4.mul A B))) ;; madd".
var madd = regexp.MustCompile(`\(f32x4\.add \(local\.get (\$[a-z0-9]+)\) \(f32x4\.mul (.*)\)\)\) ;; madd$`)

// dot matches a line "(local.set $acc (i32x4.dot_i8x16_i7x16_add_s W X (local.get $acc))) ;; dot".
var dot = regexp.MustCompile(`\(local\.set (\$[a-z0-9]+) \(i32x4\.dot_i8x16_i7x16_add_s (\(local\.get \$[a-z0-9]+\)) (\(local\.get \$[a-z0-9]+\)) \(local\.get \$[a-z0-9]+\)\)\) ;; dot$`)

// Relaxed rewrites the marked multiply-adds of src into f32x4.relaxed_madd, uncomments
// the relaxed-only kernels (the block between "(;RELAXED" and "RELAXED;)") and appends
// gemm_q8q7_split (see kernels.wat).
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
	src = strings.Join(lines, "\n")
	return strings.Replace(src, "\n  ;; split-dot kernels\n", "\n"+splitDot(src)+"\n", 1), n
}

// splitDot is gemm_q8q7 as gemm_q8q7_split: each marked fused dot as an i16 dot,
// widened pairwise and added.
func splitDot(src string) string {
	start := strings.Index(src, `  (func $gemm_q8q7 (export "gemm_q8q7")`)
	if start < 0 {
		return ""
	}
	end := strings.Index(src[start:], "\n\n")
	if end < 0 {
		return ""
	}
	end += start
	f := strings.Replace(src[start:end], `$gemm_q8q7 (export "gemm_q8q7")`, `$gemm_q8q7_split (export "gemm_q8q7_split")`, 1)
	lines := strings.Split(f, "\n")
	for i, l := range lines {
		lines[i] = dot.ReplaceAllString(l, `(local.set $1 (i32x4.add (local.get $1) (i32x4.extadd_pairwise_i16x8_s (i16x8.dot_i8x16_i7x16_s $2 $3)))) ;; dot`)
	}
	return strings.Join(lines, "\n")
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

// Modules assembles both modules: kernels.wasm as written and kernels-relaxed.wasm.
func Modules() (plain, relaxed []byte, err error) {
	if plain, err = Assemble(Source, false); err != nil {
		return nil, nil, err
	}
	src, n := Relaxed(Source)
	if n == 0 {
		return nil, nil, fmt.Errorf("no multiply-add to fuse: the madd markers are gone")
	}
	if !strings.Contains(src, `(export "gemm_q8q7_split")`) || !strings.Contains(src, "i16x8.dot_i8x16_i7x16_s") {
		return nil, nil, fmt.Errorf("gemm_q8q7_split not written: its markers in kernels.wat are gone")
	}
	relaxed, err = Assemble(src, true)
	return plain, relaxed, err
}
