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
var written string

// Source is kernels.wat with its exp2 and sum4 lines written out (see inlineExp2 and
// inlineSum4): both modules are assembled from it.
var Source = inlineSum4(inlineExp2(written))

// exp2 matches a line ";; exp2 $y": 2^y lane by lane into the v128 local $y, in place;
// exp2Left, any line that starts so (one exp2 misses is an error, not a comment).
var exp2, exp2Left = regexp.MustCompile(`(?m)^( *);; exp2 (\$[a-z0-9]+)$`), regexp.MustCompile(`(?m)^ *;; exp2 `)

// exp2Body is what an ";; exp2 $y" line becomes; its function declares the locals $en,
// $ef and $ep. y must lie in [-126, 127] (callers clamp what they need: a softmax's y
// is never positive), so that 2^n is a normal float; n = round(y) by the 1.5·2²³ trick
// (the low bits of y + 1.5·2²³ hold n); 2^(y−n) on [-½, ½] is Cephes' exp2f
// polynomial (relative error ≈1.4e-7), its Horner steps marked as multiply-adds; and
// 2^n's bits are (n + 127) << 23, where n + 127 is n's bits plus 127 − bits(1.5·2²³).
//
// Written out, not called: V8 does not inline wasm calls, and a call in a loop over
// vectors spills every v128 register around it. The softmax ran 2.5× slower calling a
// function for it.
const exp2Body = `(local.set $en (f32x4.add (local.get $Y) (v128.const f32x4 12582912 12582912 12582912 12582912)))
(local.set $ef (f32x4.sub (local.get $Y) (f32x4.sub (local.get $en) (v128.const f32x4 12582912 12582912 12582912 12582912))))
(local.set $ep (f32x4.add (v128.const f32x4 1.339887440e-3 1.339887440e-3 1.339887440e-3 1.339887440e-3) (f32x4.mul (local.get $ef) (v128.const f32x4 1.535336188e-4 1.535336188e-4 1.535336188e-4 1.535336188e-4)))) ;; madd
(local.set $ep (f32x4.add (v128.const f32x4 9.618437358e-3 9.618437358e-3 9.618437358e-3 9.618437358e-3) (f32x4.mul (local.get $ep) (local.get $ef)))) ;; madd
(local.set $ep (f32x4.add (v128.const f32x4 5.550332471e-2 5.550332471e-2 5.550332471e-2 5.550332471e-2) (f32x4.mul (local.get $ep) (local.get $ef)))) ;; madd
(local.set $ep (f32x4.add (v128.const f32x4 2.402264791e-1 2.402264791e-1 2.402264791e-1 2.402264791e-1) (f32x4.mul (local.get $ep) (local.get $ef)))) ;; madd
(local.set $ep (f32x4.add (v128.const f32x4 6.931472029e-1 6.931472029e-1 6.931472029e-1 6.931472029e-1) (f32x4.mul (local.get $ep) (local.get $ef)))) ;; madd
(local.set $ep (f32x4.add (v128.const f32x4 1 1 1 1) (f32x4.mul (local.get $ep) (local.get $ef)))) ;; madd
(local.set $Y (f32x4.mul (local.get $ep) (i32x4.shl (i32x4.add (local.get $en) (v128.const i32x4 -1262485377 -1262485377 -1262485377 -1262485377)) (i32.const 23))))`

// sum4 matches a line ";; sum4 SHAPE $dst $a $b $c $d $t0 $t1": lane j of $dst = the sum
// of $a's to $d's … of four accumulators, each the lanes of one output's partial sums,
// the four sums (SHAPE f32x4 or i32x4; $t0 and $t1 are scratch locals); sum4Left, any
// line that starts so.
var sum4, sum4Left = regexp.MustCompile(`(?m)^( *);; sum4 (f32x4|i32x4)((?: \$[a-z0-9]+){7})$`), regexp.MustCompile(`(?m)^ *;; sum4 `)

// sum4Body is what a ";; sum4" line becomes: pairs of lanes added, then pairs of pairs.
// Written out, not called, where a tile ends (a call spills every v128 register around
// it); the same adds in the same order as the $reduce4 functions, which use it too.
const sum4Body = `(local.set $T0 (S.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $A) (local.get $B))
                 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $A) (local.get $B))))
(local.set $T1 (S.add (i8x16.shuffle 0 1 2 3 4 5 6 7 16 17 18 19 20 21 22 23 (local.get $C) (local.get $D))
                 (i8x16.shuffle 8 9 10 11 12 13 14 15 24 25 26 27 28 29 30 31 (local.get $C) (local.get $D))))
(local.set $DST (S.add (i8x16.shuffle 0 1 2 3 8 9 10 11 16 17 18 19 24 25 26 27 (local.get $T0) (local.get $T1))
                 (i8x16.shuffle 4 5 6 7 12 13 14 15 20 21 22 23 28 29 30 31 (local.get $T0) (local.get $T1))))`

// inlineSum4 writes out every ";; sum4" line of src.
func inlineSum4(src string) string {
	return sum4.ReplaceAllStringFunc(src, func(line string) string {
		m := sum4.FindStringSubmatch(line)
		indent, shape, v := m[1], m[2], strings.Fields(m[3])
		body := strings.NewReplacer("S.", shape+".", "$DST", v[0], "$A", v[1], "$B", v[2], "$C", v[3], "$D", v[4], "$T0", v[5], "$T1", v[6]).Replace(sum4Body)
		return indent + ";; " + v[0] + " = the sums of " + strings.Join(v[1:5], " ") + "\n" + indent + strings.ReplaceAll(body, "\n", "\n"+indent)
	})
}

// inlineExp2 writes out every ";; exp2 $y" line of src.
func inlineExp2(src string) string {
	return exp2.ReplaceAllStringFunc(src, func(line string) string {
		m := exp2.FindStringSubmatch(line)
		indent, y := m[1], m[2]
		body := strings.ReplaceAll(exp2Body, "$Y", y)
		return indent + ";; " + y + " = 2^" + y + "\n" + indent + strings.ReplaceAll(body, "\n", "\n"+indent)
	})
}

// madd matches a line "(local.set $acc (f32x4.add C (f32x4.mul A B))) ;; madd", C a
// local or a constant.
var madd = regexp.MustCompile(`\(f32x4\.add (\(local\.get \$[a-z0-9]+\)|\(v128\.const [^()]*\)) \(f32x4\.mul (.*)\)\)\) ;; madd$`)

// dot matches a line "(local.set $acc (i32x4.dot_i8x16_i7x16_add_s W X (local.get $acc))) ;; dot".
var dot = regexp.MustCompile(`\(local\.set (\$[a-z0-9]+) \(i32x4\.dot_i8x16_i7x16_add_s (\(local\.get \$[a-z0-9]+\)) (\(local\.get \$[a-z0-9]+\)) \(local\.get \$[a-z0-9]+\)\)\) ;; dot$`)

// Relaxed rewrites the marked multiply-adds of src into f32x4.relaxed_madd, uncomments
// the relaxed-only kernels (the block between "(;RELAXED" and "RELAXED;)") and appends
// gemm_q8q7_split and gemm_q8q7_quads_split (see kernels.wat).
func Relaxed(src string) (string, int) {
	src = strings.Replace(strings.Replace(src, "(;RELAXED", "", 1), "RELAXED;)", "", 1)
	lines := strings.Split(src, "\n")
	n := 0
	for i, l := range lines {
		if madd.MatchString(l) {
			lines[i] = madd.ReplaceAllString(l, `(f32x4.relaxed_madd $2 $1)) ;; madd`)
			n++
		}
	}
	src = strings.Join(lines, "\n")
	return strings.Replace(src, "\n  ;; split-dot kernels\n", "\n"+splitDot(src)+"\n", 1), n
}

// splitDot is gemm_q8q7 and gemm_q8q7_quads as gemm_q8q7_split and
// gemm_q8q7_quads_split: each marked fused dot as an i16 dot, widened pairwise (a dot
// with ones) and added.
func splitDot(src string) string {
	var out []string
	for _, name := range []string{"gemm_q8q7", "gemm_q8q7_quads"} {
		head := fmt.Sprintf(`$%s (export "%s")`, name, name)
		start := strings.Index(src, "  (func "+head)
		if start < 0 {
			continue
		}
		end := strings.Index(src[start:], "\n\n")
		if end < 0 {
			continue
		}
		end += start
		f := strings.Replace(src[start:end], head, fmt.Sprintf(`$%s_split (export "%s_split")`, name, name), 1)
		lines := strings.Split(f, "\n")
		for i, l := range lines {
			lines[i] = dot.ReplaceAllString(l, `(local.set $1 (i32x4.add (local.get $1) (i32x4.dot_i16x8_s (i16x8.dot_i8x16_i7x16_s $2 $3) (v128.const i16x8 1 1 1 1 1 1 1 1)))) ;; dot`)
		}
		out = append(out, strings.Join(lines, "\n"))
	}
	return strings.Join(out, "\n\n")
}

// Assemble runs wat2wasm on src, its constants hoisted out of loops, and returns the
// module.
func Assemble(src string, relaxed bool) ([]byte, error) {
	src, err := hoistConstants(src)
	if err != nil {
		return nil, err
	}
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
	if l := exp2Left.FindString(Source); l != "" {
		return nil, nil, fmt.Errorf("kernels.wat: %q not written out (want \";; exp2 $local\")", strings.TrimSpace(l))
	}
	if l := sum4Left.FindString(Source); l != "" {
		return nil, nil, fmt.Errorf("kernels.wat: %q not written out (want \";; sum4 f32x4|i32x4 $dst $a $b $c $d $t0 $t1\")", strings.TrimSpace(l))
	}
	if plain, err = Assemble(Source, false); err != nil {
		return nil, nil, err
	}
	src, n := Relaxed(Source)
	if n == 0 {
		return nil, nil, fmt.Errorf("no multiply-add to fuse: the madd markers are gone")
	}
	if !strings.Contains(src, `(export "gemm_q8q7_split")`) || !strings.Contains(src, `(export "gemm_q8q7_quads_split")`) || !strings.Contains(src, "i16x8.dot_i8x16_i7x16_s") {
		return nil, nil, fmt.Errorf("gemm_q8q7_split or gemm_q8q7_quads_split not written: their markers in kernels.wat are gone")
	}
	relaxed, err = Assemble(src, true)
	return plain, relaxed, err
}
