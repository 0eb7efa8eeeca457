//go:build !js

package simd

import (
	"strings"
	"testing"
)

func TestHoistConstants(t *testing.T) {
	src := `(module
  ;; (v128.const f32x4 9 9 9 9) in a comment stays
  (func $f (export "f") (param $p i32)
    (local $v v128)
    (local.set $v (v128.const f32x4 2 2 2 2))
    (loop $l
      (local.set $v (f32x4.mul (local.get $v) (v128.const f32x4 3 3 3 3)))
      (local.set $v (f32x4.add (local.get $v) (v128.const  f32x4 3 3 3 3)))
      (local.set $v (f32x4.add (local.get $v) (v128.const i64x2 0 0)))
      (block $b (local.set $v (f32x4.sub (local.get $v) (v128.const i32x4 1 2 3 4)))))
    (drop (local.get $p)))
  (func $g (loop $l (drop (v128.const f32x4 5 5 5 5)))))
`
	out, err := hoistConstants(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"(v128.const f32x4 9 9 9 9) in a comment stays",
		"(local.set $v (v128.const f32x4 2 2 2 2))", // outside the loop: left alone
		"(local $hoisted0 v128)\n    (local $hoisted1 v128)\n    (local.set $hoisted0 (v128.const f32x4 3 3 3 3))\n    (local.set $hoisted1 (v128.const i32x4 1 2 3 4))\n    (local.set $v (v128.const f32x4 2 2 2 2))",
		"(f32x4.mul (local.get $v) (local.get $hoisted0))",
		"(f32x4.add (local.get $v) (local.get $hoisted0))", // the same constant, spaced otherwise: one local
		"(v128.const i64x2 0 0)",                           // zeros are one xor: left alone
		"(f32x4.sub (local.get $v) (local.get $hoisted1))", // in a block in the loop
		"(local.set $hoisted0 (v128.const f32x4 5 5 5 5))", // a function without locals
		"(loop $l (drop (local.get $hoisted0)))",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("want %q in\n%s", want, out)
		}
	}
	if _, err := hoistConstants("(module (func $f (loop $l)))))"); err == nil {
		t.Error("unbalanced parentheses accepted")
	}
}

// The kernels' hot loops read their constants from locals once assembled: exp2's nine
// and each caller's own (the softmax's: the clamp and the row loop's −∞; gelu's erf).
func TestKernelsConstantsHoisted(t *testing.T) {
	src, _ := Relaxed(Source)
	out, err := hoistConstants(src)
	if err != nil {
		t.Fatal(err)
	}
	fn := func(s, name string) string {
		i := strings.Index(s, "(func $"+name+" ")
		j := strings.Index(s[i:], "\n\n")
		return s[i : i+j]
	}
	for name, want := range map[string]int{"softmax_rows": 11, "quick_gelu": 12, "gelu": 19, "gemm_q8q7_split": 1, "gemm_q8q7_quads_split": 1} {
		f := fn(out, name)
		if got := strings.Count(f, "(local.set $hoisted"); got != want {
			t.Errorf("%s: %d constants hoisted, want %d", name, got, want)
		}
	}
}
