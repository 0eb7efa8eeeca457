//go:build js && wasm

package simd_test

import (
	"math"
	"math/rand"
	"os"
	"slices"
	"strings"
	"syscall/js"
	"testing"
	"time"
	"unsafe"

	"gitvqa/model/kernels/simd"
)

// jsMemory runs a kernel module in this browser on a WebAssembly.Memory of its own
// (Go's cannot be handed over from inside a test), copying operands in and out: the
// module's arithmetic as the worker runs it, relaxed SIMD included.
type jsMemory struct {
	mem   js.Value
	top   int
	backs []func()
}

func inBrowser(t testing.TB, file string) simd.Module {
	return inBrowserFrom(t, "../../../static/"+file)
}

// inBrowserFrom is inBrowser for the module at path.
func inBrowserFrom(t testing.TB, path string) simd.Module {
	bin, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (make site builds the kernel modules)", err)
	}
	mem := js.Global().Get("WebAssembly").Get("Memory").New(map[string]any{"initial": 256})
	u8 := js.Global().Get("Uint8Array").New(len(bin))
	js.CopyBytesToJS(u8, bin)
	module := js.Global().Get("WebAssembly").Get("Module").New(u8)
	exports := js.Global().Get("WebAssembly").Get("Instance").New(module, map[string]any{"env": map[string]any{"mem": mem}}).Get("exports")
	call := func(name string, args ...any) {
		vals := make([]any, len(args))
		for i, a := range args {
			switch v := a.(type) {
			case uint32:
				vals[i] = int32(v)
			case float32:
				vals[i] = float64(v)
			default:
				vals[i] = v
			}
		}
		exports.Get(name).Invoke(vals...)
	}
	return browserModule{simd.ByName{Memory: &jsMemory{mem: mem, top: 16}, Call: call}, exports}
}

// browserModule is a module instantiated in this browser: it says which kernels it
// exports (another commit's build, in BenchmarkKernelsABInBrowser, may lack some).
type browserModule struct {
	simd.ByName
	exports js.Value
}

func (m browserModule) has(name string) bool { return m.exports.Get(name).Type() == js.TypeFunction }

func (m *jsMemory) alloc(n int) int {
	m.top = (m.top + 15) &^ 15
	a := m.top
	m.top += n
	if size := m.mem.Get("buffer").Get("byteLength").Int(); m.top > size {
		m.mem.Call("grow", (m.top-size+65535)/65536)
	}
	return a
}

func (m *jsMemory) view(addr, n int) js.Value {
	return js.Global().Get("Uint8Array").New(m.mem.Get("buffer"), addr, n)
}

func bytesOf(s []float32) []byte {
	if len(s) == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s))
}

func (m *jsMemory) In(s []float32) uint32 {
	a := m.alloc(4 * len(s))
	js.CopyBytesToJS(m.view(a, 4*len(s)), bytesOf(s))
	return uint32(a)
}

func (m *jsMemory) InI8(s []int8) uint32 {
	a := m.alloc(len(s))
	if len(s) > 0 {
		js.CopyBytesToJS(m.view(a, len(s)), unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), len(s)))
	}
	return uint32(a)
}

func (m *jsMemory) InI32(s []int32) uint32 {
	if len(s) == 0 {
		return uint32(m.alloc(0))
	}
	return m.InU8(unsafe.Slice((*byte)(unsafe.Pointer(&s[0])), 4*len(s)))
}

func (m *jsMemory) InU8(s []uint8) uint32 {
	a := m.alloc(len(s))
	if len(s) > 0 {
		js.CopyBytesToJS(m.view(a, len(s)), s)
	}
	return uint32(a)
}

func (m *jsMemory) InOutU8(s []uint8) uint32 {
	a := m.InU8(s)
	m.backs = append(m.backs, func() { js.CopyBytesToGo(s, m.view(int(a), len(s))) })
	return uint32(a)
}

func (m *jsMemory) InOut(s []float32) uint32 {
	a := m.In(s)
	m.backs = append(m.backs, func() { js.CopyBytesToGo(bytesOf(s), m.view(int(a), 4*len(s))) })
	return uint32(a)
}

func (m *jsMemory) Scratch(n int) uint32 { return uint32(m.alloc(4 * n)) }

func (m *jsMemory) Done() {
	for _, b := range m.backs {
		b()
	}
	m.backs, m.top = nil, 16
}

// Both kernel modules, in this browser, against the Go reference; and the load-time
// self-test, warm-up included, passes on both.
func TestModulesInBrowser(t *testing.T) {
	for _, c := range []struct {
		file string
		int8 bool
	}{{"kernels.wasm", false}, {"kernels-relaxed.wasm", true}} {
		t.Run(c.file, func(t *testing.T) {
			k := &simd.Kernels{M: inBrowser(t, c.file), Int8: c.int8}
			if err := simd.Check(k, testShapes); err != nil {
				t.Error(err)
			}
			if err := simd.SelfTest(k); err != nil {
				t.Error(err)
			}
			checkResample(t, k)
		})
	}
}

// gemm_q8q7_quads gives gemm_q8q7's floats bit for bit, in both dot forms, on
// attention's shapes and odd ones: rows past a multiple of four (one to three left),
// columns past a multiple of eight (a last quad of rows alone, a partial one), and
// writes nothing past its n columns.
func TestGemmQ8Q7QuadsMatchesGemmQ8Q7InBrowser(t *testing.T) {
	mod := inBrowser(t, "kernels-relaxed.wasm")
	r := rand.New(rand.NewSource(12))
	for _, c := range [][3]int{{32, 901, 64}, {5, 41, 64}, {3, 8, 16}, {2, 5, 48}, {1, 3, 16}, {7, 12, 32}, {9, 64, 64}, {4, 13, 16}, {10, 22, 32}, {11, 9, 16}, {6, 8, 64}, {12, 70, 1024}} {
		m, n, k := c[0], c[1], c[2]
		n4, ldy := (n+3)&^3, n+3
		x, w := make([]float32, m*k), make([]int8, n*k)
		for i := range x {
			x[i] = float32(r.NormFloat64())
		}
		for i := range w {
			w[i] = int8(r.Intn(256) - 128)
		}
		sw := make([]float32, n4)
		for i := range sw[:n] {
			sw[i] = float32(r.Float64()*0.02 + 0.001)
		}
		type gemm = func(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y simd.Ptr, ldy int)
		for _, f := range [][2]gemm{{mod.GemmQ8Q7, mod.GemmQ8Q7Quads}, {mod.GemmQ8Q7Split, mod.GemmQ8Q7QuadsSplit}, {mod.GemmQ8Q7, mod.GemmQ8Q7Quads6}} {
			want, got := make([]float32, m*ldy), make([]float32, m*ldy)
			for i := range got {
				want[i], got[i] = -7, -7 // past column n: untouched
			}
			px, pw, ps := mod.In(x), mod.InI8(w), mod.In(sw)
			xp, sx, zx := mod.Scratch((m+1)/2*2*k/4), mod.Scratch(m), mod.Scratch(m)
			rows, quads := mod.Scratch(n4*k/4), mod.Scratch(n4*k/4)
			sums, qsums := mod.Scratch(n4), mod.Scratch(n4)
			mod.QuantPackA(px, k, m, k, xp, k, sx, zx)
			mod.PackWQ8(pw, k, n, k, rows, k, sums)
			mod.PackWQ8Quads(pw, k, n, k, quads, k, qsums)
			f[0](m, n, k, xp, rows, sx, zx, ps, sums, mod.InOut(want), ldy)
			f[1](m, n, k, xp, quads, sx, zx, ps, qsums, mod.InOut(got), ldy)
			mod.Done()
			for i := range got {
				if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
					t.Fatalf("%v: output %d (row %d, column %d) %g, gemm_q8q7 %g", c, i, i/ldy, i%ldy, got[i], want[i])
				}
			}
		}
	}
}

// One encoder layer's attention (901 tokens, 16 heads of 64) on the relaxed module in
// this browser: GITVQA's attention kernels' speed, copies in and out included.
func BenchmarkEncoderAttentionInBrowser(b *testing.B) {
	k := &simd.Kernels{M: inBrowser(&testing.T{}, "kernels-relaxed.wasm"), Int8: true}
	const m, heads, dh = 901, 16, 64
	q, kk, v, out := make([]float32, m*heads*dh), make([]float32, m*heads*dh), make([]float32, m*heads*dh), make([]float32, m*heads*dh)
	for i := range q {
		q[i], kk[i], v[i] = float32(i%7)*0.1, float32(i%5)*0.1, float32(i%3)
	}
	b.ResetTimer()
	for range b.N {
		k.Attention(out, q, kk, v, m, m, heads, dh, 0.125, -1)
	}
	b.ReportMetric(float64(4*m*m*heads*dh)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// Where a Linear layer's time goes on the int8 path (901×1024 → 4096, the encoder's
// fc1), by 64-row panels as linearQ8Q7 runs it: the activations' quantization, the
// per-call weight packing, and the product in both of gemm_q8q7's forms.
func BenchmarkLinearQ8PartsInBrowser(b *testing.B) {
	mod := inBrowser(&testing.T{}, "kernels-relaxed.wasm")
	const m, k, n, blockN = 901, 1024, 4096, 64
	x, w, sc := make([]float32, m*k), make([]int8, n*k), make([]float32, n)
	for i := range x {
		x[i] = float32(i%13) * 0.1
	}
	for i := range w {
		w[i] = int8(i%17 - 8)
	}
	for i := range sc {
		sc[i] = 0.01
	}
	px, pw, ps := mod.In(x), mod.InI8(w), mod.In(sc)
	py := mod.Scratch(m * n)
	xp, sx, zx := mod.Scratch((m+1)/2*2*k/4), mod.Scratch(m), mod.Scratch(m)
	wp, ws := mod.Scratch(blockN*k/4), mod.Scratch(blockN)
	var quant, pack time.Duration
	var gemm [2]time.Duration
	for range b.N {
		t := time.Now()
		mod.QuantPackA(px, k, m, k, xp, k, sx, zx)
		quant += time.Since(t)
		for i, f := range []func(m, n, k16 int, xp, wp, sx, zx, sw, wsum, y simd.Ptr, ldy int){mod.GemmQ8Q7, mod.GemmQ8Q7Split} {
			for jb := 0; jb < n; jb += blockN {
				t := time.Now()
				mod.PackWQ8(pw+simd.Ptr(jb*k), k, blockN, k, wp, k, ws)
				t1 := time.Now()
				f(m, blockN, k, xp, wp, sx, zx, ps+simd.Ptr(4*jb), ws, py+simd.Ptr(4*jb), n)
				pack += t1.Sub(t)
				gemm[i] += time.Since(t1)
			}
		}
	}
	flop := float64(2*m*n*k) * float64(b.N)
	b.ReportMetric(quant.Seconds()*1e3/float64(b.N), "quant-ms")
	b.ReportMetric(pack.Seconds()*1e3/float64(2*b.N), "pack-ms")
	b.ReportMetric(flop/gemm[0].Seconds()/1e9, "fused-GFLOP/s")
	b.ReportMetric(flop/gemm[1].Seconds()/1e9, "split-GFLOP/s")
}

// One encoder head's attention (901 rows, dh 64) in its parts, on the relaxed module in
// this browser: the scores' GEMM, the softmax, and the values' GEMM, 32 rows at a time
// as Kernels.Attention runs them.
func BenchmarkAttentionPartsInBrowser(b *testing.B) {
	mod := inBrowser(&testing.T{}, "kernels-relaxed.wasm")
	const m, dh, rowBlock = 901, 64, 32
	nk4 := (m + 3) &^ 3
	q, kk, v := make([]float32, m*dh), make([]float32, m*dh), make([]float32, m*dh)
	for i := range q {
		q[i], kk[i], v[i] = float32(i%7)*0.1, float32(i%5)*0.1, float32(i%3)
	}
	pq, pk, pv, po := mod.In(q), mod.In(kk), mod.In(v), mod.Scratch(m*dh)
	kb, vb := mod.Scratch(((m+7)&^7)*dh), mod.Scratch(((dh+7)&^7)*nk4)
	sc, rs := mod.Scratch(rowBlock*nk4), mod.Scratch(m)
	var pack, qk, soft, pv8 time.Duration
	for range b.N {
		t := time.Now()
		mod.PackB8(pk, dh, m, dh, kb, dh)
		mod.PackBT8(pv, dh, m, dh, vb, nk4)
		pack += time.Since(t)
		for i0 := 0; i0 < m; i0 += rowBlock {
			rows := min(rowBlock, m-i0)
			t0 := time.Now()
			mod.Gemm4x8(rows, m, dh, pq+simd.Ptr(4*i0*dh), dh, kb, sc, nk4)
			t1 := time.Now()
			mod.SoftmaxRows(sc, rows, m, nk4, 0.125, -1, nk4, rs+simd.Ptr(4*i0))
			t2 := time.Now()
			mod.Gemm4x8(rows, dh, nk4, sc, nk4, vb, po+simd.Ptr(4*i0*dh), dh)
			qk, soft, pv8 = qk+t1.Sub(t0), soft+t2.Sub(t1), pv8+time.Since(t2)
		}
	}
	flop := float64(2*m*m*dh) * float64(b.N)
	b.ReportMetric(pack.Seconds()*1e3/float64(b.N), "pack-ms")
	b.ReportMetric(flop/qk.Seconds()/1e9, "qk-GFLOP/s")
	b.ReportMetric(soft.Seconds()*1e9/float64(b.N*m*m), "softmax-ns/score")
	b.ReportMetric(flop/pv8.Seconds()/1e9, "pv-GFLOP/s")
}

// The element-wise kernels on the relaxed module in this browser: the softmax (32 rows
// of 901 scores, as Kernels.Attention runs it), quick_gelu and gelu. Each figure is the
// best of 6 batches of many calls: a worker's clock is coarse (100 µs), and one softmax
// call takes ≈30 µs.
func BenchmarkElementwiseInBrowser(b *testing.B) {
	mod := inBrowser(&testing.T{}, "kernels-relaxed.wasm")
	const m, rowBlock, n = 901, 32, 901 * 1024
	nk4 := (m + 3) &^ 3
	x := make([]float32, n)
	for i := range x {
		x[i] = float32(i%97)*0.1 - 4
	}
	px, work, rs := mod.In(x), mod.Scratch(n), mod.Scratch(rowBlock)
	best := func(calls int, f func()) time.Duration {
		d := time.Duration(1 << 62)
		for range 6 {
			t := time.Now()
			for range calls {
				f()
			}
			d = min(d, time.Since(t)/time.Duration(calls))
		}
		return d
	}
	scores := rowBlock * nk4
	copyOnly := best(300, func() { mod.CopyF32(work, px, scores) })
	softmax := best(300, func() {
		mod.CopyF32(work, px, scores) // fresh scores each time: the softmax works in place
		mod.SoftmaxRows(work, rowBlock, m, nk4, 0.125, -1, nk4, rs)
	}) - copyOnly
	mod.CopyF32(work, px, n)
	quick := best(10, func() { mod.QuickGELU(work, n) })
	mod.CopyF32(work, px, n)
	gelu := best(10, func() { mod.GELU(work, n) })
	b.ReportMetric(float64(softmax)/float64(rowBlock*m), "softmax-ns/score")
	b.ReportMetric(float64(quick)/float64(n), "quick_gelu-ns/value")
	b.ReportMetric(float64(gelu)/float64(n), "gelu-ns/value")
}

// The hot kernels of two builds of the relaxed module in this browser, alternating
// round by round and each kernel's best of 25 kept, so that a busy minute costs both
// alike (one-off runs here vary by 20%): static's (the "A-" metrics) and the one
// GITVQA_KERNELS_B names ("B-"), e.g. an older commit's, written by
// go run ./tools/kernels -out DIR in its checkout. Without it, A alone.
//
//	GITVQA_KERNELS_B=/tmp/old/kernels-relaxed.wasm make bench-kernels-ab
func BenchmarkKernelsABInBrowser(b *testing.B) {
	builds := map[string]simd.Module{"A": inBrowser(b, "kernels-relaxed.wasm")}
	if p := os.Getenv("GITVQA_KERNELS_B"); p != "" {
		builds["B"] = inBrowserFrom(b, p)
	}
	type kernel struct {
		name  string
		unit  string  // "GFLOP/s" or "ns/value"
		count float64 // FLOPs or values a call
		calls int     // a run: a few ms, against the page's 0.1 ms clock
		call  func()
	}
	const m, k, n, dh, rowBlock = 901, 1024, 64, 64, 32
	nk4 := (m + 3) &^ 3
	x, w, sc := make([]float32, m*k), make([]int8, 4*n*k), make([]float32, max(4*n, nk4)) // a scale a weight row or key
	for i := range x {
		x[i] = float32(i%13)*0.1 - 0.5
	}
	for i := range w {
		w[i] = int8(i%17 - 8)
	}
	for i := range sc {
		sc[i] = 0.01
	}
	kernelsOf := func(mod simd.Module) []kernel {
		px, pw, ps := mod.In(x), mod.InI8(w), mod.In(sc)
		xp, sx, zx := mod.Scratch((m+1)/2*2*k/4), mod.Scratch(m), mod.Scratch(m)
		wp, ws, y := mod.Scratch(n*k), mod.Scratch(4*n), mod.Scratch(m*n)
		kb, vb := mod.Scratch(((m+7)&^7)*dh), mod.Scratch(((dh+7)&^7)*nk4)
		scores, rs, out := mod.Scratch(rowBlock*nk4), mod.Scratch(rowBlock), mod.Scratch(rowBlock*k)
		work, wide := mod.Scratch(m*k), mod.Scratch(4*m*k)
		kq, kqsum := mod.Scratch(m*dh/4), mod.Scratch(nk4) // a head's keys in int8
		mod.PackWQ8(pw, dh, m, dh, kq, dh, kqsum)
		quads := mod.(browserModule).has("gemm_q8q7_quads")
		kquads := mod.Scratch(nk4 * dh / 4)
		wpquads, wsquads := mod.Scratch(n*k), mod.Scratch(4*n)
		if quads {
			mod.PackWQ8Quads(pw, dh, m, dh, kquads, dh, kqsum)
			mod.PackWQ8Quads(pw, k, n, k, wpquads, k, wsquads)
		}
		quads6 := mod.(browserModule).has("gemm_q8q7_quads6")
		i16 := mod.(browserModule).has("gemm_pv_i16")
		pp, vq, fv, inv := mod.Scratch(rowBlock*nk4/2), mod.Scratch(dh*nk4/2), mod.Scratch(dh), mod.Scratch(dh)
		if i16 {
			mod.PackVI16(px, k, m, dh, vq, nk4, fv, inv)
		}
		mod.QuantPackA(px, k, m, k, xp, k, sx, zx)
		mod.PackWQ8(pw, k, n, k, wp, k, ws)
		mod.PackB8(px, k, m, dh, kb, dh) // a head's keys: 64 columns of rows k apart
		mod.PackBT8(px, k, m, dh, vb, nk4)
		ks := []kernel{
			{"q8", "GFLOP/s", 2 * m * n * k, 3, func() { mod.GemmQ8Q7Split(m, n, k, xp, wp, sx, zx, ps, ws, y, n) }},
			{"q8fused", "GFLOP/s", 2 * m * n * k, 3, func() { mod.GemmQ8Q7(m, n, k, xp, wp, sx, zx, ps, ws, y, n) }},
			{"scoresq8", "GFLOP/s", 4 * 2 * rowBlock * m * dh, 10, func() { // the scores in int8: k = 64, all keys one panel
				for range 4 {
					mod.GemmQ8Q7(rowBlock, m, dh, xp, kq, sx, zx, ps, kqsum, y, m)
				}
			}},
			{"scoresq8split", "GFLOP/s", 4 * 2 * rowBlock * m * dh, 10, func() {
				for range 4 {
					mod.GemmQ8Q7Split(rowBlock, m, dh, xp, kq, sx, zx, ps, kqsum, y, m)
				}
			}},
			{"scoresquads", "GFLOP/s", 4 * 2 * rowBlock * m * dh, 10, func() { // as Attention runs them
				for range 4 {
					mod.GemmQ8Q7Quads(rowBlock, m, dh, xp, kquads, sx, zx, ps, kqsum, y, m)
				}
			}},
			{"scoresquadssplit", "GFLOP/s", 4 * 2 * rowBlock * m * dh, 10, func() {
				for range 4 {
					mod.GemmQ8Q7QuadsSplit(rowBlock, m, dh, xp, kquads, sx, zx, ps, kqsum, y, m)
				}
			}},
			{"scoresquads6", "GFLOP/s", 4 * 2 * rowBlock * m * dh, 10, func() { // as Attention runs them with the fused dot
				for range 4 {
					mod.GemmQ8Q7Quads6(rowBlock, m, dh, xp, kquads, sx, zx, ps, kqsum, y, m)
				}
			}},
			{"q8quads6", "GFLOP/s", 2 * m * n * k, 3, func() { mod.GemmQ8Q7Quads6(m, n, k, xp, wpquads, sx, zx, ps, wsquads, y, n) }},
			{"quant", "ns/value", m * k, 20, func() { mod.QuantPackA(px, k, m, k, xp, k, sx, zx) }},
			{"pack", "ns/value", 4 * n * k, 200, func() { mod.PackWQ8(pw, k, 4*n, k, wp, k, ws) }},
			{"scores", "GFLOP/s", 4 * 2 * rowBlock * m * dh, 10, func() { // four blocks of queries, packed
				for i := range 4 {
					mod.Gemm4x8(rowBlock, m, dh, px+simd.Ptr(4*i*rowBlock*dh), dh, kb, scores, nk4)
				}
			}},
			{"values", "GFLOP/s", float64(4 * 2 * rowBlock * dh * nk4), 10, func() {
				for range 4 {
					mod.Gemm4x8(rowBlock, dh, nk4, scores, nk4, vb, out, k)
				}
			}},
			{"valuesi16", "GFLOP/s", float64(4 * 2 * rowBlock * dh * nk4), 10, func() { // the values in i16, as Attention runs them
				for range 4 {
					mod.GemmPVI16(rowBlock, dh, nk4/2, pp, vq, fv, out, k)
				}
			}},
			{"probsi16", "ns/value", float64(4 * rowBlock * nk4), 50, func() {
				for range 4 {
					mod.ProbsI16(scores, rowBlock, nk4, nk4, rs, pp)
				}
			}},
			{"packvi16", "ns/value", m * dh, 50, func() { mod.PackVI16(px, k, m, dh, vq, nk4, fv, inv) }},
			{"softmax", "ns/value", 4 * rowBlock * m, 50, func() {
				for range 4 {
					mod.SoftmaxRows(scores, rowBlock, m, nk4, 0.125, -1, nk4, rs)
				}
			}},
			{"quick_gelu", "ns/value", m * k, 5, func() { mod.QuickGELU(work, m*k) }},
			{"addbias", "ns/value", 4 * m * k, 5, func() { mod.AddBias(wide, m, 4*k, px) }}, // fc1's bias: 901×4096, out of cache
		}
		if !quads { // a build from before them
			ks = slices.DeleteFunc(ks, func(k kernel) bool { return strings.HasPrefix(k.name, "scoresquads") })
		}
		if !quads6 {
			ks = slices.DeleteFunc(ks, func(k kernel) bool { return strings.HasSuffix(k.name, "quads6") })
		}
		if !i16 {
			ks = slices.DeleteFunc(ks, func(k kernel) bool { return strings.HasSuffix(k.name, "i16") })
		}
		return ks
	}
	names := []string{"A", "B"}
	runs := map[string][]kernel{}
	for _, name := range names {
		if mod, ok := builds[name]; ok {
			runs[name] = kernelsOf(mod)
			for _, kn := range runs[name] {
				kn.call() // warm: tier-up
			}
		}
	}
	best := map[string]time.Duration{}
	for range 25 * b.N {
		for _, ka := range runs["A"] {
			for _, name := range names {
				i := slices.IndexFunc(runs[name], func(k kernel) bool { return k.name == ka.name })
				if i < 0 {
					continue
				}
				kn := runs[name][i]
				t := time.Now()
				for range kn.calls {
					kn.call()
				}
				key := name + "-" + kn.name
				if d := time.Since(t) / time.Duration(kn.calls); best[key] == 0 || d < best[key] {
					best[key] = d
				}
			}
		}
	}
	for _, name := range names {
		for _, kn := range runs[name] {
			d := best[name+"-"+kn.name].Seconds()
			if kn.unit == "GFLOP/s" {
				b.ReportMetric(kn.count/d/1e9, name+"-"+kn.name+"-GFLOP/s")
			} else {
				b.ReportMetric(d*1e9/kn.count, name+"-"+kn.name+"-ns/value")
			}
		}
	}
}

// checkValuesI16 in this browser, on both modules.
func TestValuesI16MatchesReferenceInBrowser(t *testing.T) {
	for _, file := range []string{"kernels.wasm", "kernels-relaxed.wasm"} {
		if err := checkValuesI16(inBrowser(t, file)); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

// The encoder's Linear layers as linearQ8Q7 and AddBias run them (quantize and pack the
// rows, then each 64-row panel of weights packed and multiplied, then the bias), over
// three layers of distinct weights (38 MB, more than a cache holds, as in the encoder),
// by shape: what the e2e profile's "linear" should add up to where nothing else runs.
func BenchmarkEncoderLinearsInBrowser(b *testing.B) {
	const m, d, ff, layers, blockN = 901, 1024, 4096, 3, 64
	for _, form := range []string{"fused", "split", "quads", "quadssplit", "quads6"} {
		b.Run(form, func(b *testing.B) {
			mod := inBrowser(&testing.T{}, "kernels-relaxed.wasm")
			pack, gemm := mod.PackWQ8, mod.GemmQ8Q7
			switch form {
			case "split":
				gemm = mod.GemmQ8Q7Split
			case "quads":
				pack, gemm = mod.PackWQ8Quads, mod.GemmQ8Q7Quads
			case "quadssplit":
				pack, gemm = mod.PackWQ8Quads, mod.GemmQ8Q7QuadsSplit
			case "quads6":
				pack, gemm = mod.PackWQ8Quads, mod.GemmQ8Q7Quads6
			}
			r := rand.New(rand.NewSource(1))
			weights := func(n, k int) simd.Ptr {
				w := make([]int8, n*k)
				for i := range w {
					w[i] = int8(r.Intn(255) - 127)
				}
				return mod.InI8(w)
			}
			floats := func(n int, scale float32) simd.Ptr {
				s := make([]float32, n)
				for i := range s {
					s[i] = scale * float32(r.NormFloat64())
				}
				return mod.In(s)
			}
			type linear struct {
				shape    string
				n, k     int
				w, s, bs simd.Ptr
			}
			var ls []linear
			for range layers {
				for _, sh := range []struct {
					name string
					n, k int
				}{{"qkvo", d, d}, {"qkvo", d, d}, {"qkvo", d, d}, {"qkvo", d, d}, {"fc1", ff, d}, {"fc2", d, ff}} {
					ls = append(ls, linear{sh.name, sh.n, sh.k, weights(sh.n, sh.k), floats(sh.n, 0.01), floats(sh.n, 0.1)})
				}
			}
			x := floats(m*ff, 1) // each layer's input: its first m×k values
			y := mod.Scratch(m * ff)
			xp, sx, zx := mod.Scratch((m+1)/2*2*ff/4), mod.Scratch(m), mod.Scratch(m)
			wp, ws := mod.Scratch(blockN*ff/4), mod.Scratch(blockN)
			took := map[string]time.Duration{}
			flops := map[string]float64{}
			b.ResetTimer()
			for range b.N {
				for _, l := range ls {
					t := time.Now()
					mod.QuantPackA(x, l.k, m, l.k, xp, l.k, sx, zx)
					for jb := 0; jb < l.n; jb += blockN {
						pack(l.w+simd.Ptr(jb*l.k), l.k, blockN, l.k, wp, l.k, ws)
						gemm(m, blockN, l.k, xp, wp, sx, zx, l.s+simd.Ptr(4*jb), ws, y+simd.Ptr(4*jb), l.n)
					}
					mod.AddBias(y, m, l.n, l.bs)
					took[l.shape] += time.Since(t)
					flops[l.shape] += float64(2 * m * l.n * l.k)
				}
			}
			var all time.Duration
			var allFlops float64
			for shape, t := range took {
				b.ReportMetric(flops[shape]/t.Seconds()/1e9, shape+"-GFLOP/s")
				all += t
				allFlops += flops[shape]
			}
			b.ReportMetric(allFlops/all.Seconds()/1e9, "GFLOP/s")
			b.ReportMetric(all.Seconds()*1e3/float64(b.N*layers), "ms/layer")
		})
	}
}
