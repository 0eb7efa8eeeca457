//go:build js && wasm

package webgpu

import (
	"context"
	"fmt"
	"math"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/hf"
	"gitvqa/model/kernels"
	"gitvqa/model/kernels/simd"
	"gitvqa/model/ops"

	G "gorgonia.org/gorgonia"
)

// open gets the test browser's adapter: headless Chromium's SwiftShader (the chromium
// wrapper adds --enable-unsafe-webgpu), a software adapter, allowed here.
func open(t *testing.T) *Device {
	d, err := Open(context.Background(), true)
	if err != nil {
		t.Fatalf("%v (make test runs Chromium with --enable-unsafe-webgpu)", err)
	}
	t.Cleanup(d.Close)
	t.Logf("adapter: %s, software %v", d.Description, d.Software)
	if !d.Software {
		t.Errorf("headless Chromium's SwiftShader adapter (%s) was not taken for a software one", d.Description)
	}
	if _, err := Open(context.Background(), false); err == nil {
		t.Error("a software adapter was accepted without allowSoftware")
	}
	return d
}

// askCase asks c's question about its picture in a new session on b, and returns the
// answer, its first step's logits and Hugging Face's.
func askCase(t *testing.T, m *model.Model, b model.Backend, c fixture.Case) (ans *model.Answer, first, want []float32) {
	t.Helper()
	px, err := c.Pixels(&m.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	s, err := m.NewSession(b)
	if err != nil {
		t.Fatal(err)
	}
	ans, err = s.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens, OnLogits: func(step int, l []float32) {
		if step == 0 {
			first = append([]float32(nil), l...)
		}
	}})
	if err != nil {
		t.Fatal(err)
	}
	hf, err := c.Array("logits_last.npy")
	if err != nil {
		t.Fatal(err)
	}
	return ans, first, hf.Float32
}

// Every shader against the Go reference, on the odd shapes the SIMD module's load-time
// check uses, within the same bounds.
func TestShadersMatchReference(t *testing.T) {
	k := NewKernels(open(t))
	for _, tiled := range []bool{false, true} { // hardware GPUs take the tiled int8 product
		k.D.Tiled = tiled
		if err := simd.CheckFloat(k, simd.LoadShapes); err != nil {
			t.Fatalf("tiled %v: %v", tiled, err)
		}
	}
	if k.Err != nil {
		t.Fatalf("a call fell back to Go: %v", k.Err)
	}
}

// The load's self-test passes on each path a GPU may take: float and int8 activations,
// one invocation an output (SwiftShader) and the tiles of hardware GPUs.
func TestSelfTestPassesOnEveryPath(t *testing.T) {
	k := NewKernels(open(t))
	for _, tiled := range []bool{false, true} {
		for _, int8 := range []bool{false, true} {
			k.D.Tiled, k.Int8 = tiled, int8
			if err := SelfTest(k); err != nil {
				t.Errorf("tiled %v, int8 %v: %v", tiled, int8, err)
			}
		}
	}
}

// The tiny reference checkpoint on the GPU answers every fixture case with Hugging
// Face's token ids, its first logits within 2e-4 of Hugging Face's (float32 sums in
// another order; the fixture's own float32-vs-float64 noise is 1.2e-6): op by op on the
// shaders, and as the backend runs it, the vision stack as one program whose
// activations stay on the GPU (so far fewer results come back).
func TestTinyModelOnWebGPU(t *testing.T) {
	m, err := hf.LoadDir(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	reads := map[string]int{}
	for _, path := range []string{"op by op", "programs"} {
		t.Run(path, func(t *testing.T) {
			k := NewKernels(open(t))
			var b model.Backend = model.CPU("webgpu", k, true)
			if path == "programs" {
				b = NewBackend(k)
			}
			for _, c := range fixture.TinyCases(t) {
				ans, first, want := askCase(t, m, b, c)
				if !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
					t.Errorf("%s: ids %v, want %v", c.Name, ans.GeneratedIDs, c.GeneratedIDs)
				}
				if d := fixture.MaxAbsDiff(first, want); d > 2e-4 {
					t.Errorf("%s: first logits differ by %g", c.Name, d)
				}
			}
			if k.Err != nil {
				t.Fatalf("a call fell back to Go: %v", k.Err)
			}
			reads[path] = k.D.Reads
			t.Logf("%d results read back", k.D.Reads)
		})
	}
	// Op by op, a layer reads back a dozen results (each Linear's product, bias and
	// activation, the norms, attention, the adds); as programs, the vision stack reads
	// back one, and a token two (the decoder stack with its new keys and values, and the
	// head; the text embedding's norm runs on the CPU).
	if reads["programs"] == 0 || reads["programs"]*5 > reads["op by op"] {
		t.Errorf("results read back: %v; the programs should need a fifth at most", reads)
	}
}

// countingCPU is a CPU fallback that counts its products (float and int8).
type countingCPU struct {
	kernels.Go
	products int
}

func (c *countingCPU) LinearQ8(y, x []float32, m int, w *kernels.Matrix) {
	c.products++
	c.Go.LinearQ8(y, x, m, w)
}

func (c *countingCPU) GemmNT(m, n, k int, a []float32, lda int, b []float32, ldb int, out []float32, ldc int) {
	c.products++
	c.Go.GemmNT(m, n, k, a, lda, b, ldb, out, ldc)
}

// A device lost mid-question (destroyed here, as a driver reset or a tab in the
// background would) fails no question: each call falls back to the CPU's kernels
// (Fallback), answers stay exact, and Err says what happened.
func TestLostDeviceFallsBackToTheCPU(t *testing.T) {
	m, err := hf.LoadDir(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	c := fixture.TinyCases(t)[0]
	px, err := c.Pixels(&m.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"op by op", "programs"} {
		t.Run(path, func(t *testing.T) {
			k := NewKernels(open(t))
			cpu := &countingCPU{}
			k.Fallback = cpu
			var b model.Backend = model.CPU("webgpu", k, true)
			if path == "programs" {
				b = NewBackend(k)
			}
			s, err := m.NewSession(b)
			if err != nil {
				t.Fatal(err)
			}
			calls := 0
			ans, err := s.Ask(context.Background(), px, c.Question, model.Options{MaxTokens: c.MaxTokens, OnToken: func(model.Token) {
				if calls++; calls == 1 {
					k.D.Close() // after the image and the first token ran on the GPU
				}
			}})
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
				t.Errorf("ids %v, want %v", ans.GeneratedIDs, c.GeneratedIDs)
			}
			if k.Err == nil {
				t.Error("the lost device went unnoticed")
			}
			if cpu.products == 0 {
				t.Error("after the loss, the CPU fallback ran no product")
			}
			t.Logf("after the loss: %v; %d products on the CPU", k.Err, cpu.products)
		})
	}
}

// BenchmarkWebGPULinearQ8 times one of the encoder's largest products, 901×1024 by an
// int8 1024→4096 layer, on the shaders (upload and read-back included): make bench's
// WebGPU row. On a software adapter (SwiftShader, the only one on this project's
// machines) the figure says nothing of a GPU: it is printed as correctness only.
func BenchmarkWebGPULinearQ8(b *testing.B) {
	d, err := Open(context.Background(), true)
	if err != nil {
		b.Skipf("no WebGPU adapter: %v", err)
	}
	defer d.Close()
	k := NewKernels(d)
	const m, rows, cols = 901, 4096, 1024
	w := &kernels.Matrix{Rows: rows, Cols: cols, Q8: make([]int8, rows*cols), Scales: make([]float32, rows), Group: cols}
	for i := range w.Q8 {
		w.Q8[i] = int8(i%255 - 127)
	}
	for i := range w.Scales {
		w.Scales[i] = 0.01
	}
	x, y := make([]float32, m*cols), make([]float32, m*rows)
	for i := range x {
		x[i] = float32(i%7) * 0.1
	}
	k.LinearQ8(y, x, m, w) // the weights go up, the pipeline compiles
	b.ResetTimer()
	for range b.N {
		k.LinearQ8(y, x, m, w)
	}
	if k.Err != nil {
		b.Fatal(k.Err)
	}
	gflops := 2 * float64(m*rows*cols) * float64(b.N) / b.Elapsed().Seconds() / 1e9
	b.ReportMetric(gflops, "GFLOP/s")
	label := "a GPU"
	if d.Software {
		label = "software adapter: correctness only"
	}
	fmt.Printf("WebGPU (%s, %s): linear_q8 901×1024→4096 in %.2f s, %.1f GFLOP/s\n", d.Description, label, b.Elapsed().Seconds()/float64(b.N), gflops)
}

// The DP4A shaders compute exactly RefLinearDP4A's integers: equal within float
// rounding of the scales, on odd shapes (groups of 32, 64 and whole rows, m = 1 to 70),
// one invocation per output and in tiles.
func TestDP4AMatchesReference(t *testing.T) {
	k := NewKernels(open(t))
	if !k.D.DP4A {
		t.Fatal("SwiftShader offers packed_4x8_integer_dot_product: the adapter here should have it")
	}
	k.Int8 = true
	r := rand.New(rand.NewSource(5))
	// from 32 rows on, the tiled product is the one of 64×64 tiles
	shapes := [][4]int{{1, 33, 64, 64}, {7, 70, 96, 32}, {9, 37, 48, 48}, {4, 64, 1024, 1024}, {2, 5, 4, 4}, {5, 23, 160, 64}, {17, 18, 192, 64},
		{33, 70, 192, 64}, {65, 130, 256, 256}, {70, 5, 4, 4}, {40, 64, 100, 100}}
	for _, tiled := range []bool{false, true} { // hardware GPUs take the tiled products (groups of 64)
		k.D.Tiled = tiled
		for _, c := range shapes {
			m, w := c[0], simd.Quantized(r, c[1], c[2], c[3])
			x := make([]float32, m*w.Cols)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			x[0] = 0 // a zero, and below a row of zeros
			if m > 1 {
				clear(x[w.Cols : 2*w.Cols])
			}
			got, want := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
			k.LinearQ8(got, x, m, w)
			RefLinearDP4A(want, x, m, w)
			for i := range want {
				if d := math.Abs(float64(got[i] - want[i])); d > 1e-5*(1+math.Abs(float64(want[i]))) {
					t.Fatalf("tiled %v, %v at %d: %g, want %g", tiled, c, i, got[i], want[i])
				}
			}
		}
	}
	if k.Err != nil {
		t.Fatal(k.Err)
	}
}

// The tiny checkpoint as an int8 folder on the DP4A path: weights and activations
// rounded to int8, it is held to what the CPU's 7-bit path is held to (README, "int8
// Linear layers"): first logits at cosine ≥ 0.9995 of Hugging Face's float32, most
// greedy answers still exact.
func TestTinyModelOnDP4A(t *testing.T) {
	in, closeIn, err := convert.OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	_, err = convert.Convert(in, dir, convert.Options{})
	closeIn()
	if err != nil {
		t.Fatal(err)
	}
	m, err := hf.LoadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	k := NewKernels(open(t))
	k.Int8 = true
	b := NewBackend(k)
	if b.Exact() {
		t.Fatal("the DP4A backend says it is exact")
	}
	// The same folder with float activations through the tiled int8 product (what a
	// hardware GPU runs when exact): every answer as the CPU's exact int8 path gives it.
	t.Run("tiled, exact", func(t *testing.T) {
		g := NewKernels(open(t))
		g.D.Tiled = true
		for _, c := range fixture.TinyCases(t)[:1] {
			a, _, _ := askCase(t, m, model.GoBackend(), c)
			b, _, _ := askCase(t, m, NewBackend(g), c)
			if !reflect.DeepEqual(a.GeneratedIDs, b.GeneratedIDs) {
				t.Errorf("%s: tiled %v, Go %v", c.Name, b.GeneratedIDs, a.GeneratedIDs)
			}
		}
		if g.Err != nil {
			t.Fatal(g.Err)
		}
	})
	exact, cases := 0, fixture.TinyCases(t)
	for _, c := range cases {
		ans, first, want := askCase(t, m, b, c)
		cos := fixture.Cosine(first, want)
		if cos < 0.9995 {
			t.Errorf("%s: first logits at cosine %.6f of Hugging Face's", c.Name, cos)
		}
		if reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs) {
			exact++
		}
		t.Logf("%s: cosine %.6f, answer exact %v", c.Name, cos, reflect.DeepEqual(ans.GeneratedIDs, c.GeneratedIDs))
	}
	if exact < len(cases)/2 {
		t.Errorf("%d of %d answers exact", exact, len(cases))
	}
	if k.Err != nil {
		t.Fatal(k.Err)
	}
}

// A dispatch WebGPU refuses (here: a bind group missing two of the shader's buffers) is
// reported through the error scopes, not as an exception: end must return it, or the
// read-back after it would hand over zeros as a result.
func TestValidationErrorsAreCaught(t *testing.T) {
	d := open(t)
	d.begin()
	p := d.params(4)
	d.dispatch("add", addWGSL, 1, 1, p, d.empty(16))
	if err := d.end(); err == nil {
		t.Fatal("an invalid dispatch went unnoticed")
	} else {
		t.Logf("caught: %v", err)
	}
}

// slowCPU is a CPU whose int8 product takes seconds.
type slowCPU struct{ kernels.Go }

func (c *slowCPU) LinearQ8(y, x []float32, m int, w *kernels.Matrix) {
	time.Sleep(3 * time.Second)
	c.Go.LinearQ8(y, x, m, w)
}

// Outruns times the same product on both, each on its own path: the GPU (SwiftShader
// here) wins against a CPU that takes seconds, and loses where the CPU's work would be
// shared among a million workers.
func TestOutrunsWeighsBothProbes(t *testing.T) {
	k := NewKernels(open(t))
	k.Int8 = k.D.DP4A
	pick, weighed := Outruns(k, &slowCPU{}, 1)
	t.Logf("against a slow CPU: %v, %s", pick, weighed)
	if !pick || !strings.Contains(weighed, "GFLOP/s") {
		t.Errorf("the GPU lost to a CPU 3 s a product: %s", weighed)
	}
	pick, weighed = Outruns(k, &kernels.Go{}, 1_000_000)
	t.Logf("against a million workers: %v, %s", pick, weighed)
	if pick {
		t.Errorf("the GPU won against a million workers: %s", weighed)
	}
	if k.Err != nil {
		t.Fatal(k.Err)
	}
}

// The graph's Linear op wraps the same bound weights in a new Matrix on every call: they
// go up to the GPU once, not once a call.
func TestWeightsGoUpOnce(t *testing.T) {
	k := NewKernels(open(t))
	w := simd.Quantized(rand.New(rand.NewSource(2)), 8, 16, 16)
	x, y := make([]float32, 2*16), make([]float32, 2*8)
	for range 3 {
		again := *w
		k.LinearQ8(y, x, 2, &again)
	}
	if len(k.weights) != 1 || k.Err != nil {
		t.Fatalf("%d weight buffers kept for one matrix (%v)", len(k.weights), k.Err)
	}
}

// Rate's whole path, where one dispatch is quick: a small product, dispatched until the
// extra dispatches take 20 ms; a finite, positive rate, and nothing left behind.
func TestRateOfAQuickProduct(t *testing.T) {
	k := NewKernels(open(t))
	k.Int8 = k.D.DP4A
	w := simd.Quantized(rand.New(rand.NewSource(4)), 16, 64, 64)
	x := make([]float32, 8*64)
	start := time.Now()
	rate, err := k.Rate(x, 8, w, time.Minute)
	t.Logf("%.3f GFLOP/s in %v", rate, time.Since(start))
	if err != nil || !(rate > 0) || math.IsInf(rate, 0) {
		t.Fatalf("rate %g, %v", rate, err)
	}
	if len(k.weights) != 0 {
		t.Errorf("the probe's weights stayed on the GPU")
	}
}

// Each product path a hardware GPU may be given (Choose) dispatches its own shader and
// gives what its arithmetic says: the float paths the exact product, the DP4A ones
// RefLinearDP4A's, on shapes below and above the 64×64 tiles' 32 rows.
func TestEveryProductPathMatchesItsReference(t *testing.T) {
	k := NewKernels(open(t))
	k.D.Tiled, k.Int8 = true, true
	if !k.D.DP4A {
		t.Fatal("SwiftShader offers packed_4x8_integer_dot_product: the adapter here should have it")
	}
	shaders := map[string][2]string{ // the shaders for 5 and for 40 rows, groups of 64
		"":            {"linear_dp4a_tiled", "linear_dp4a_reg4"},
		ProductDP4A64: {"linear_dp4a_tiled", "linear_dp4a_reg4"},
		ProductDP4A16: {"linear_dp4a_tiled", "linear_dp4a_tiled"},
		ProductF32:    {"linear_q8_tiled", "linear_q8_tiled"},
		ProductF32x4:  {"linear_q8_tiled", "linear_q8_reg4"},
		ProductF16:    {"linear_q8_tiled", "linear_q8_tiled"}, // no shader-f16 here
		ProductF16x4:  {"linear_q8_tiled", "linear_q8_reg4"},
	}
	r := rand.New(rand.NewSource(12))
	for product, want := range shaders {
		k.Product = product
		for i, m := range []int{5, 40} {
			if got := k.productShader(m, 192, 64); got != want[i] {
				t.Errorf("%q, %d rows: %s, want %s", product, m, got, want[i])
			}
			w := simd.Quantized(r, 70, 192, 64)
			x := make([]float32, m*w.Cols)
			for i := range x {
				x[i] = float32(r.NormFloat64())
			}
			got, ref := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
			k.LinearQ8(got, x, m, w)
			if k.Exact() {
				(&kernels.Go{}).LinearQ8(ref, x, m, w)
			} else {
				RefLinearDP4A(ref, x, m, w)
			}
			for i := range ref {
				if d := math.Abs(float64(got[i] - ref[i])); d > 1e-5*(1+math.Abs(float64(ref[i]))) {
					t.Fatalf("%q, %d rows, at %d: %g, want %g", product, m, i, got[i], ref[i])
				}
			}
		}
	}
	k.D.F16 = true
	for product, want := range map[string]string{ProductF16: "linear_q8_tiled_f16", ProductF16x4: "linear_q8_reg4_f16"} {
		k.Product = product
		if got := k.productShader(40, 192, 64); got != want || k.Exact() {
			t.Errorf("with shader-f16 %s takes %s (exact %v), want %s", product, got, k.Exact(), want)
		}
	}
	k.D.F16 = false
	// the float shaders where the rows or the groups are not whole tiles
	k.Product = ProductF32x4
	for _, c := range [][3]int{{33, 100, 100}, {70, 96, 32}, {64, 160, 16}} {
		m, w := c[0], simd.Quantized(r, 37, c[1], c[2])
		x := make([]float32, m*w.Cols)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		got, ref := make([]float32, m*w.Rows), make([]float32, m*w.Rows)
		k.LinearQ8(got, x, m, w)
		(&kernels.Go{}).LinearQ8(ref, x, m, w)
		for i := range ref {
			if d := math.Abs(float64(got[i] - ref[i])); d > 1e-5*(1+math.Abs(float64(ref[i]))) {
				t.Fatalf("%v (%s) at %d: %g, want %g", c, k.productShader(m, c[1], c[2]), i, got[i], ref[i])
			}
		}
	}
	if k.Err != nil {
		t.Fatal(k.Err)
	}
}

// Choose times every path a hardware GPU may take (SwiftShader made to pose as one),
// keeps one of them, and weighs that one's rate in Outruns without timing again. The
// f16 path, whose shader SwiftShader refuses (it has no shader-f16), is dropped without
// failing the device.
func TestChooseTimesEveryPath(t *testing.T) {
	k := NewKernels(open(t))
	k.D.Tiled, k.Int8 = true, true
	if err := checkProduct(k, ProductF16); err == nil {
		t.Fatal("SwiftShader compiled an f16 shader: it has no shader-f16")
	} else {
		t.Logf("f16 refused: %v", err)
	}
	k.D.F16 = true // as an adapter that offers shader-f16 and then fails its shader would
	start := time.Now()
	timed := k.Choose()
	t.Logf("in %v: %s", time.Since(start), timed)
	for _, p := range []string{ProductF32, ProductF32x4, ProductDP4A64, ProductDP4A16} {
		if !strings.Contains(timed, p+" ") {
			t.Errorf("%s was not timed: %s", p, timed)
		}
	}
	if !strings.Contains(timed, ProductF16+" dropped") || strings.Contains(timed, ProductF16x4) || k.D.F16 {
		t.Errorf("the f16 path was not dropped: %s", timed)
	}
	if !strings.HasSuffix(timed, "; "+k.Product+" runs") || k.rate <= 0 {
		t.Errorf("kept %q at %g GFLOP/s: %s", k.Product, k.rate, timed)
	}
	if !k.ok() {
		t.Fatalf("the device failed: %v", k.Err)
	}
	pick, weighed := Outruns(k, &slowCPU{}, 1)
	if !pick || !strings.HasPrefix(weighed, rate(k.rate)+" GFLOP/s") {
		t.Errorf("Outruns did not weigh the chosen rate (%s): %s", rate(k.rate), weighed)
	}
}

// Each of a hardware GPU's attention shaders against the Go reference: a workgroup a row
// for fewer than 64 rows (a decoder step over a whole picture's keys among them), tiles
// of keys for more, and the tiles again where the keys would not fit the rows shader's
// workgroup memory; causal and not, partial tiles, heads of 12 to 64.
func TestAttentionOnEachShader(t *testing.T) {
	k := NewKernels(open(t))
	k.D.Tiled = true
	for _, c := range []struct {
		shape  simd.AttentionShape
		shader string
	}{
		{simd.AttentionShape{M: 1, NK: 911, Heads: 3, DH: 64, Causal: 910}, "attention_rows_dh64"},
		{simd.AttentionShape{M: 63, NK: 100, Heads: 2, DH: 12, Causal: 37}, "attention_rows_dh12"},
		{simd.AttentionShape{M: 64, NK: 64, Heads: 2, DH: 64, Causal: -1}, "attention_tiled_dh64"},
		{simd.AttentionShape{M: 130, NK: 140, Heads: 2, DH: 20, Causal: 7}, "attention_tiled_dh20"},
		{simd.AttentionShape{M: 100, NK: 301, Heads: 1, DH: 64, Causal: -1}, "attention_tiled_dh64"},
		{simd.AttentionShape{M: 2, NK: maxDecodeKeys + 3, Heads: 1, DH: 16, Causal: maxDecodeKeys}, "attention_tiled_dh16"},
	} {
		s := c.shape
		if name, _, _ := attentionShader(s.M, s.NK, s.DH, true); name != c.shader {
			t.Errorf("%+v takes %s, want %s", s, name, c.shader)
		}
		if err := simd.CheckFloat(k, simd.Shapes{Attention: []simd.AttentionShape{s}}); err != nil {
			t.Errorf("%s: %v", c.shader, err)
		}
	}
	if k.Err != nil {
		t.Fatal(k.Err)
	}
}

// A decoder step on the backend waits for the GPU twice: its six layers as one program
// (the new keys and values in the same read) and the head; the text embedding's norm,
// a row, runs on the CPU (smallOnCPU). Counted as the reads of four forced steps more.
// Its params buffers are made once (Device.params), but for attention's new length.
func TestATokenWaitsForTheGPUTwice(t *testing.T) {
	m, err := hf.LoadDir(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	k := NewKernels(open(t))
	b := NewBackend(k)
	c := fixture.TinyCases(t)[0]
	px, err := c.Pixels(&m.Preprocess)
	if err != nil {
		t.Fatal(err)
	}
	reads := func(force []int) int {
		s, err := m.NewSession(b)
		if err != nil {
			t.Fatal(err)
		}
		before := k.D.Reads
		if _, err := s.Ask(context.Background(), px, c.Question, model.Options{Force: force, MaxTokens: len(force)}); err != nil {
			t.Fatal(err)
		}
		return k.D.Reads - before
	}
	two := reads([]int{1000, 1001}) // one step: its shapes' params made
	params := len(k.D.paramBufs)
	six := reads([]int{1000, 1001, 1002, 1003, 1004, 1005})
	if perStep := float64(six-two) / 4; perStep != 2 {
		t.Errorf("%.1f reads a step (%d for two tokens, %d for six)", perStep, two, six)
	}
	// and a step's params buffers are the step before's, but for attention's new length
	if made := len(k.D.paramBufs) - params; made != 4 {
		t.Errorf("four steps more made %d params buffers, want 4 (one a position)", made)
	}
	if k.Err != nil {
		t.Fatal(k.Err)
	}
}

// A program run refused after some of its steps are dispatched (here: rows that do not
// fit the KV cache, found at the cached attention after an add) returns its error and
// leaves the GPU as it was: the batch holding the earlier steps is submitted before the
// run's buffers are released (a batch submitted with destroyed buffers fails the device
// for good). The next run answers on the GPU, as the CPU does.
func TestARefusedRunLeavesTheGPUUsable(t *testing.T) {
	const rows, d, heads, capacity = 2, 8, 2, 6
	k := NewKernels(open(t))
	build := func(b model.Backend) (model.Program, *G.Node, ops.KVNodes) {
		g := ops.NewBuilder(&kernels.Go{}, nil)
		x, cache := g.Matrix("x", rows, d), g.KVCacheInputs("c", capacity, d)
		q := g.Add(x, x)
		out := g.CachedAttention(q, x, x, cache, heads, true)
		if g.Err != nil {
			t.Fatal(g.Err)
		}
		p, err := b.Compile(g.G, out)
		if err != nil {
			t.Fatal(err)
		}
		return p, x, cache
	}
	gpu, x, cache := build(NewBackend(k))
	if _, ok := gpu.(*program); !ok {
		t.Fatalf("the graph ran op by op (%T), not as a program", gpu)
	}
	xs := make([]float32, rows*d)
	for i := range xs {
		xs[i] = float32(i%5) - 2
	}
	full := ops.NewKVCache(capacity, d)
	full.Len = capacity - 1
	if _, err := gpu.Run(cache.Bind(full), []ops.Binding{ops.Bind(x, xs)}); err == nil {
		t.Fatal("rows past the cache's end ran")
	}
	if !k.ok() {
		t.Fatalf("the refused run failed the device: %v", k.Err)
	}
	reads := k.D.Reads
	got, err := gpu.Run(cache.Bind(ops.NewKVCache(capacity, d)), []ops.Binding{ops.Bind(x, xs)})
	if err != nil || k.D.Reads == reads || !k.ok() {
		t.Fatalf("the next run: %v (reads %d → %d, device %v)", err, reads, k.D.Reads, k.Err)
	}
	cpu, cx, ccache := build(model.GoBackend())
	want, err := cpu.Run(ccache.Bind(ops.NewKVCache(capacity, d)), []ops.Binding{ops.Bind(cx, xs)})
	if err != nil {
		t.Fatal(err)
	}
	if diff := fixture.MaxAbsDiff(got, want); diff > 1e-5 {
		t.Errorf("the GPU's answer is %g from the CPU's", diff)
	}
}
