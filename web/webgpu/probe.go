//go:build js && wasm

package webgpu

import (
	"errors"
	"fmt"
	"math/rand"
	"strings"
	"time"

	"github.com/hack-pad/safejs"

	"gitvqa/model/kernels"
	"gitvqa/model/kernels/simd"
)

// Rate times y = x·Wᵀ for m rows of x as a program runs it: x and the weights uploaded
// once, the result read back once, the product taking the path LinearQ8 would
// (productShader). It returns GFLOP/s from the difference between
// one dispatch and nine or more (until they take 20 ms more than one; the best of two
// runs each), which cancels the submit and the read-back. Where one dispatch alone
// takes longer than slow, that one's rate is returned (a lower bound, enough to say the
// GPU is slow) without the rest.
func (k *Kernels) Rate(x []float32, m int, w *kernels.Matrix, slow time.Duration) (float64, error) {
	d := k.D
	if !k.ok() {
		return 0, k.Err
	}
	d.begin()
	_, kept := k.weights[keyOf(w)]
	wb := k.q8(w)
	bx, by := d.buffer(f32Bytes(x[:m*w.Cols]), 0), d.empty(4*m*w.Rows)
	defer func() {
		d.call(bx, "destroy")
		d.call(by, "destroy")
		if !kept { // a probe's weights do not stay
			k.forget(w)
		}
	}()
	if err := d.end(); err != nil {
		return 0, err
	}
	y := make([]float32, m*w.Rows)
	run := func(reps int) (time.Duration, error) {
		start := time.Now()
		d.begin()
		var made []safejs.Value
		for range reps {
			made = append(made, k.dispatchLinearQ8(m, w.Rows, w.Cols, wb.kw, scaleGroup(w), bx, wb.w, wb.scales, by)...)
		}
		err := d.end()
		if err == nil {
			err = d.read(by, y)
		}
		for _, b := range made {
			d.call(b, "destroy")
		}
		return time.Since(start), err
	}
	// the best of two runs of each: a hiccup in one of one's would inflate the rate
	best := func(reps int) (time.Duration, error) {
		a, err := run(reps)
		if err != nil || a > slow {
			return a, err
		}
		b, err := run(reps)
		return min(a, b), err
	}
	flop := 2 * float64(m*w.Rows*w.Cols)
	if _, err := run(1); err != nil { // the first run also compiles what the self-test did not
		return 0, err
	}
	one, err := best(1)
	if err != nil || one > slow {
		return flop / one.Seconds() / 1e9, err
	}
	// more dispatches where a few take less than a worker's coarse clock can tell apart
	// (0.1–1 ms a tick): at 1 TFLOP/s, eight take 2 ms
	reps, many := 9, time.Duration(0)
	for {
		if many, err = best(reps); err != nil {
			return 0, err
		}
		if many-one >= 20*time.Millisecond || reps >= 257 {
			break
		}
		reps = 4*reps - 3
	}
	dt := many - one
	if dt <= 0 { // within the clock's grain
		dt = many
	}
	return float64(reps-1) * flop / dt.Seconds() / 1e9, nil
}

// probe is a slice of the encoder's work the GPU is timed on: 128 rows by an int8
// 1024→1024 layer (0.27 GFLOP, a few ms on either device).
func probe() (x []float32, m int, w *kernels.Matrix) {
	const n, c = 1024, 1024
	m = 128
	r := rand.New(rand.NewSource(11))
	w = simd.Quantized(r, n, c, c)
	x = make([]float32, m*c)
	for i := range x {
		x[i] = float32(r.NormFloat64())
	}
	return x, m, w
}

// products are the paths Choose weighs on this device: the float ones; where Int8
// allows rounding activations, DP4A (dot4I8Packed) and f16 where the device has them.
// The default first (dp4a 64×64 where it may, else f32 16×16), then exact before not: a
// later path must be clearly faster to replace one before. None on SwiftShader (not
// Tiled): it takes the default.
func (k *Kernels) products() []string {
	if !k.D.Tiled {
		return nil
	}
	ps := []string{ProductF32, ProductF32x4}
	if k.Int8 && k.D.DP4A {
		ps = append([]string{ProductDP4A64}, append(ps, ProductDP4A16)...)
	}
	if k.Int8 && k.D.F16 {
		ps = append(ps, ProductF16, ProductF16x4)
	}
	return ps
}

// Choose checks each of this GPU's product paths (checkProduct) and times it on the
// probe, and keeps the fastest in Product (a path replaces the one before only if 3%
// faster); a path that fails its check is dropped (f16 for good where its shader is
// refused). It says what it timed. Outruns then weighs the chosen path's rate.
func (k *Kernels) Choose() (timed string) {
	ps := k.products()
	if len(ps) < 2 {
		return ""
	}
	x, m, w := probe()
	best, bestRate := "", 0.0
	var said []string
	for _, p := range ps {
		if productPaths[p].kind == "f16" && !k.D.F16 {
			continue // its shader was refused
		}
		if err := checkProduct(k, p); err != nil {
			if !k.ok() {
				said = append(said, fmt.Sprintf("%s failed (%v)", p, k.Err))
				break
			}
			if productPaths[p].kind == "f16" {
				k.D.F16 = false
			}
			said = append(said, fmt.Sprintf("%s dropped (%v)", p, err))
			continue
		}
		k.Product = p
		r, err := k.Rate(x, m, w, 50*time.Millisecond)
		if err != nil || !k.ok() {
			said = append(said, fmt.Sprintf("%s failed (%v)", p, errors.Join(err, k.Err)))
			break
		}
		said = append(said, fmt.Sprintf("%s %s", p, rate(r)))
		if r > bestRate*1.03 {
			best, bestRate = p, r
		}
	}
	k.Product, k.rate = best, bestRate
	k.ok() // Err says whether the device survived
	if best == "" {
		best = "none"
	}
	return fmt.Sprintf("products timed (GFLOP/s): %s; %s runs", strings.Join(said, ", "), best)
}

// Outruns weighs the GPU against the CPU on the probe, each on the path it would run
// (the GPU's as Choose left it): the GPU is taken where its rate beats the CPU's times
// the workers the CPU's work would be shared among (which never scale better than
// that). weighed says the figures.
func Outruns(gpu *Kernels, cpu kernels.Kernels, workers int) (pick bool, weighed string) {
	if !gpu.ok() {
		return false, fmt.Sprintf("the GPU failed (%v)", gpu.Err)
	}
	x, m, w := probe()
	gpuRate := gpu.rate
	if gpuRate == 0 { // Choose timed nothing
		var err error
		gpuRate, err = gpu.Rate(x, m, w, 50*time.Millisecond) // slower than 5 GFLOP/s: no GPU worth weighing
		if err != nil {
			return false, fmt.Sprintf("its probe product failed (%v)", err)
		}
	}
	y := make([]float32, m*w.Rows)
	best := time.Hour
	for range 3 { // the best of three, or of one that took long enough to be sure
		start := time.Now()
		cpu.LinearQ8(y, x, m, w)
		if best = min(best, time.Since(start)); best > 100*time.Millisecond {
			break
		}
	}
	cpuRate := 2 * float64(m*w.Rows*w.Cols) / max(best, time.Microsecond).Seconds() / 1e9
	weighed = fmt.Sprintf("%s GFLOP/s on a probe product, the CPU %s GFLOP/s × %d workers", rate(gpuRate), rate(cpuRate), workers)
	return gpuRate > cpuRate*float64(workers), weighed
}

func rate(gflops float64) string {
	if gflops < 10 {
		return fmt.Sprintf("%.1f", gflops)
	}
	return fmt.Sprintf("%.0f", gflops)
}
