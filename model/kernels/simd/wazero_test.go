//go:build !js

package simd_test

import (
	"context"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/kernels"
	"gitvqa/model/kernels/simd"
)

// plain runs kernels.wasm natively in wazero (which has no relaxed SIMD).
func plain(t testing.TB) simd.Module {
	t.Helper()
	bin, err := simd.Assemble(simd.Source, false)
	if err != nil {
		t.Fatal(err)
	}
	m, closeRT, err := simd.InWazero(bin)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(closeRT)
	return m
}

func TestRelaxedRewrite(t *testing.T) {
	src, n := simd.Relaxed(simd.Source)
	// every marked line fused (a marker the pattern misses would leave a plain mul+add)
	if marked := strings.Count(simd.Source, ") ;; madd"); n != marked || n < 49 || strings.Count(src, "f32x4.relaxed_madd") != n+1 { // +1: the header comment
		t.Fatalf("%d multiply-adds fused", n)
	}
	// gemm_q8q7_split and gemm_q8q7_quads_split: every marked dot of gemm_q8q7 (8) and
	// gemm_q8q7_quads (32) split
	if dots := strings.Count(simd.Source, ") ;; dot"); dots != 8+32 || strings.Count(src, "(i16x8.dot_i8x16_i7x16_s") != dots {
		t.Fatalf("%d fused dots marked, %d split", dots, strings.Count(src, "(i16x8.dot_i8x16_i7x16_s"))
	}
	// every ";; exp2 $y" line written out: the softmax's two, gelu's and quick_gelu's
	if _, _, err := simd.Modules(); err != nil || strings.Count(src, "= 2^$") != 4 {
		t.Fatalf("exp2 lines: %v, %d written out", err, strings.Count(src, "= 2^$"))
	}
	// every ";; sum4" line written out: reduce4's, reduce4i's and two per whole-tile store,
	// in gemm_packed, gemm_q8q7 and gemm_q8q7_split
	if strings.Contains(src, ";; sum4 ") || strings.Count(src, " = the sums of $") != 8 {
		t.Fatalf("sum4 lines: %d written out", strings.Count(src, " = the sums of $"))
	}
	if _, err := simd.Assemble(src, true); err != nil {
		t.Fatal(err)
	}
}

// The plain module, run natively by wazero, against the Go reference; the load-time
// self-test passes on it.
func TestModuleMatchesReference(t *testing.T) {
	k := &simd.Kernels{M: plain(t)}
	if err := simd.Check(k, testShapes); err != nil {
		t.Fatal(err)
	}
	if err := simd.SelfTest(k); err != nil {
		t.Fatal(err)
	}
	checkResample(t, k)
}

// int8Ref is the SIMD kernel set with the int8-activation path done by its Go
// reference: natively there is no relaxed SIMD to run it on, and the reference is what
// the browser's kernel is held to (Check, SelfTest).
type int8Ref struct{ *simd.Kernels }

func (r int8Ref) LinearQ8(y, x []float32, m int, w *kernels.Matrix) {
	if simd.Int8Shape(m, w) {
		simd.RefInt8Path(y, x, m, w)
		return
	}
	r.Kernels.LinearQ8(y, x, m, w)
}

func (r int8Ref) Attention(out, q, k, v []float32, m, nk, heads, dh int, scale float32, causal int) {
	if simd.Int8Attention(m, dh) {
		simd.RefAttentionQ8(out, q, k, v, m, nk, heads, dh, scale, causal)
		return
	}
	r.Kernels.Attention(out, q, k, v, m, nk, heads, dh, scale, causal)
}

type result struct {
	ids    []int
	text   string
	logits []float32   // the first step's
	steps  [][]float32 // every step's
}

// fixtureModels loads the fixture's cases, its float32 model, and the same converted to int8.
func fixtureModels(t *testing.T) (cases []fixture.Case, f32, q8 *model.Model) {
	t.Helper()
	cases = fixture.TinyCases(t)
	var err error
	if f32, err = hf.LoadDir(fixture.TinyDir()); err != nil {
		t.Fatal(err)
	}
	in, closeSrc, err := convert.OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	dir := t.TempDir()
	if _, err := convert.Convert(in, dir, convert.Options{}); err != nil {
		t.Fatal(err)
	}
	if q8, err = hf.LoadDir(dir); err != nil {
		t.Fatal(err)
	}
	return cases, f32, q8
}

// answerAll answers each case on b; force, when set, teacher-forces case i's tokens.
func answerAll(t *testing.T, m *model.Model, b model.Backend, cases []fixture.Case, force [][]int) []result {
	t.Helper()
	s, err := m.NewSession(b)
	if err != nil {
		t.Fatal(err)
	}
	var out []result
	for _, c := range cases {
		px, err := c.Pixels(&m.Preprocess)
		if err != nil {
			t.Fatal(err)
		}
		var r result
		var f []int
		if force != nil {
			f = force[len(out)]
		}
		ans, err := s.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens, Force: f,
			OnLogits: func(step int, l []float32) {
				if step == 0 {
					r.logits = append([]float32(nil), l...)
				}
				r.steps = append(r.steps, append([]float32(nil), l...))
			}})
		if err != nil {
			t.Fatal(err)
		}
		r.ids, r.text = ans.GeneratedIDs, ans.Text
		out = append(out, r)
	}
	return out
}

// The whole model with the SIMD kernels doing the work: every fixture case answered as
// Hugging Face does, float32 and int8, and the int8 answers equal to the Go kernels'.
// The two sessions run side by side in one process, each on its own kernels.
func TestModelOnSIMDKernels(t *testing.T) {
	cases, f32, q8 := fixtureModels(t)
	goQ8 := answerAll(t, q8, model.GoBackend(), cases, nil)
	onSIMD := func() model.Backend { return model.CPU("simd", &simd.Kernels{M: plain(t)}, true) }
	simdF32 := answerAll(t, f32, onSIMD(), cases, nil)
	simdQ8 := answerAll(t, q8, onSIMD(), cases, nil)
	for i, c := range cases {
		if !reflect.DeepEqual(simdF32[i].ids, c.GeneratedIDs) || simdF32[i].text != c.Answer {
			t.Errorf("%s (f32): %v %q, want %v", c.Name, simdF32[i].ids, simdF32[i].text, c.GeneratedIDs)
		}
		want, _ := c.Array("logits_last.npy")
		if worst := fixture.MaxAbsDiff(simdF32[i].logits, want.Float32); worst > 1e-4 {
			t.Errorf("%s: first logits off by %g", c.Name, worst)
		}
		if !reflect.DeepEqual(simdQ8[i].ids, goQ8[i].ids) {
			t.Errorf("%s (int8): SIMD %v, Go %v", c.Name, simdQ8[i].ids, goQ8[i].ids)
		}
	}
}

func TestQuantizeRow(t *testing.T) {
	q := make([]uint8, 5)
	s, z := simd.QuantizeRow([]float32{-1, 0, 1, 0.5, 1}, q)
	if z != -1 || s != float32(2.0/127) || q[0] != 0 || q[2] != 127 || q[1] != 64 {
		t.Fatalf("s=%g z=%g q=%v", s, z, q)
	}
	s, _ = simd.QuantizeRow([]float32{3, 3}, q)
	if s != 1 || q[0] != 0 {
		t.Fatalf("constant row: s=%g q=%v", s, q)
	}
	r := rand.New(rand.NewSource(9))
	x := make([]float32, 300)
	for i := range x {
		x[i] = float32(2 * r.NormFloat64())
	}
	q = make([]uint8, 300)
	s, z = simd.QuantizeRow(x, q)
	for i, v := range x {
		if d := math.Abs(float64(float32(q[i])*s + z - v)); d > float64(s)/2*1.001 {
			t.Fatalf("value %d off by %g (step %g)", i, d, s)
		}
	}
}

// Quantizing activations to 7 bits on top of int8 weights, on the fixtures: the same
// report as int8 against float32 (model/convert), with bounds from the measured figures
// with margin. The fixture's logits are nearly flat (ties within 1.5e-3), so a few
// greedy choices flip; a real checkpoint's answers are far from ties.
func TestInt8ActivationsOnFixtures(t *testing.T) {
	cases, f32, q8 := fixtureModels(t)
	want := answerAll(t, f32, model.GoBackend(), cases, nil)
	fast := model.CPU("relaxed-simd", int8Ref{&simd.Kernels{M: plain(t), Int8: true}}, false)
	var agree, steps int
	worstCos := 1.0
	for i, c := range cases {
		got := answerAll(t, q8, fast, cases[i:i+1], [][]int{want[i].ids})[0]
		cos := fixture.Cosine(got.logits, want[i].logits)
		worstCos = math.Min(worstCos, cos)
		a := 0
		for s := range want[i].steps {
			if fixture.Argmax(got.steps[s]) == fixture.Argmax(want[i].steps[s]) {
				a++
			}
		}
		agree += a
		steps += len(want[i].steps)
		t.Logf("%-22s cosine %.6f  top-1 agree %d/%d", c.Name, cos, a, len(want[i].steps))
	}
	t.Logf("int8 weights + 7-bit activations: worst cosine %.6f, top-1 agreement %d/%d", worstCos, agree, steps)
	if worstCos < 0.998 || float64(agree) < 0.8*float64(steps) {
		t.Errorf("int8 activations drift more than expected")
	}
}

// gemv_q8_i16 (in both modules: it needs no relaxed SIMD) gives exactly its reference's
// floats natively: the integer dots are exact and the scales are applied in the same
// order. Rows past a multiple of four, 16 inputs to the MLP's 3072 (fewer levels there,
// so that the i32 sums cannot overflow), one to three rows.
func TestGemvI16MatchesReference(t *testing.T) {
	k := &simd.Kernels{M: plain(t), Int8: true}
	r := rand.New(rand.NewSource(6))
	for _, c := range [][3]int{{1, 70, 96}, {3, 37, 48}, {2, 9, 1024}, {1, 3, 16}, {1, 5, 3072}, {1, 1, 768}} {
		m, w := c[0], simd.Quantized(r, c[1], c[2], c[2])
		x := make([]float32, m*w.Cols)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 3)
		}
		x[0] = 40 // a row's largest value sets its scale
		for i := range w.Q8[:w.Cols] {
			w.Q8[i] = 127 // the largest sums
		}
		got, want := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
		k.LinearQ8(got, x, m, w)
		simd.RefLinearQ8I16(want, x, m, w)
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%v: %v, want %v", c, got[:min(4, len(got))], want[:min(4, len(want))])
		}
	}
}

// quant_rows_i8 (both modules: attention's keys for the int8 scores) gives exactly
// QuantizeRowI8's bytes and scales natively: rows with a stride, a zero row, a row
// whose largest magnitude is a negative value.
func TestQuantRowsI8MatchesReference(t *testing.T) {
	mod := plain(t)
	r := rand.New(rand.NewSource(10))
	const rows, k, ld = 7, 48, 53
	x := make([]float32, rows*ld)
	for i := range x {
		x[i] = float32(r.NormFloat64() * 2)
	}
	clear(x[2*ld : 2*ld+k]) // a zero row: scale 1
	x[3*ld+5] = -9          // the scale from a negative value
	got, scales := make([]uint8, rows*k), make([]float32, rows)
	mod.QuantRowsI8(mod.In(x), ld, rows, k, mod.InOutU8(got), mod.InOut(scales))
	mod.Done()
	for i := range rows {
		want := make([]int8, k)
		s := simd.QuantizeRowI8(x[i*ld:i*ld+k], want)
		for c, q := range want {
			if int8(got[i*k+c]) != q {
				t.Fatalf("row %d, column %d: %d, want %d", i, c, int8(got[i*k+c]), q)
			}
		}
		if scales[i] != s {
			t.Fatalf("row %d: scale %g, want %g", i, scales[i], s)
		}
	}
}

// pack_w_q8_quads (both modules: the keys of attention's int8 scores) holds
// pack_w_q8's bytes with each 16-byte run's 4-byte quads moved across its quad of rows,
// and the same sums: 13 rows (a last quad of one row, zeros in the rest) with a stride.
func TestPackWQ8QuadsTransposesPackWQ8(t *testing.T) {
	mod := plain(t)
	r := rand.New(rand.NewSource(11))
	const n, k, ld = 13, 48, 53
	w := make([]int8, n*ld)
	for i := range w {
		w[i] = int8(r.Intn(256) - 128)
	}
	size := (n + 3) / 4 * 4 * k
	rows, quads := make([]uint8, size), make([]uint8, size)
	for i := range quads {
		quads[i] = 0xee // what the kernel must overwrite (zeros past the last row)
	}
	sums, qsums := make([]float32, n), make([]float32, n)
	mod.PackWQ8(mod.InI8(w), ld, n, k, mod.InOutU8(rows), k, mod.InOut(sums))
	mod.PackWQ8Quads(mod.InI8(w), ld, n, k, mod.InOutU8(quads), k, mod.InOut(qsums))
	mod.Done()
	if !reflect.DeepEqual(sums, qsums) {
		t.Fatalf("sums %v, want %v", qsums, sums)
	}
	for g := 0; g < size; g += 64 { // a 16-byte run of four rows
		for row := range 4 {
			for q := range 4 {
				got, want := quads[g+16*q+4*row:][:4], rows[g+16*row+4*q:][:4]
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("byte %d, row %d, quad %d: %v, want %v", g, row, q, got, want)
				}
			}
		}
	}
}

// Attention's i16 values path (in both modules: it needs no relaxed SIMD) gives exactly
// its reference's integers and floats.
func TestValuesI16MatchesReference(t *testing.T) {
	if err := checkValuesI16(plain(t)); err != nil {
		t.Fatal(err)
	}
}
