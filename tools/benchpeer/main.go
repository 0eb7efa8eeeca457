// Command benchpeer measures gitvqa's image encoder against ONNX Runtime Web's in the
// same headless Chromium, in one run: make bench-peer.
//
//	go run ./tools/benchpeer [-ortbench ../shared/bench/ortbench] [-work .cache/ortbench] [-workers N]
//
// It sets up the ortbench harness in a scratch folder (npm packages pinned by its
// package-lock.json, python3-onnx from Debian), builds its q8 ViT-L/14 at 420² (seeded
// random weights, as ours), times ONNX Runtime Web with 1 and with 2 threads, runs
// gitvqa's browser benchmark (web/e2e BenchmarkBrowser) with 1 and with all workers, and
// prints one table. With -rounds N it does all of that N times and prints a row of
// ratios a round: the host's speed drifts by ±10% within minutes here, on both sides,
// so a ratio needs its two figures measured close in time, and the rounds show its spread.
// Its last line (the medians over the rounds) is
//
//	encoder_ratio_vs_ort=R encoder_ratio_vs_ort2=R2 workers_speedup=S token_ms=T second_question_s=Q
//
// (R2: all the workers against ONNX Runtime's two threads).
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

func main() {
	ortDir := flag.String("ortbench", "../shared/bench/ortbench", "the ONNX Runtime Web harness")
	work := flag.String("work", ".cache/ortbench", "scratch folder for the harness, its packages and models")
	workers := flag.Int("workers", runtime.NumCPU(), "gitvqa workers for the parallel row")
	runs := flag.Int("runs", 5, "ONNX Runtime timed runs (the median is reported)")
	rounds := flag.Int("rounds", 1, "times to measure both, one after the other")
	flag.Parse()
	if err := run(*ortDir, *work, *workers, *runs, max(*rounds, 1)); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer:", err)
		os.Exit(1)
	}
}

func sh(dir string, env []string, name string, args ...string) ([]byte, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s %s: %w", name, strings.Join(args, " "), err)
	}
	return out, nil
}

func setup(ortDir, work string) error {
	if _, err := os.Stat(filepath.Join(ortDir, "drive_web.js")); err != nil {
		return fmt.Errorf("no ortbench harness at %s (-ortbench): %w", ortDir, err)
	}
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	// the harness's files (not its models or packages)
	if _, err := sh(".", nil, "cp", "-r", "-u", ortDir+"/.", work); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(work, "node_modules", "onnxruntime-web")); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer: installing the harness's npm packages")
		if _, err := sh(work, []string{"ONNXRUNTIME_NODE_INSTALL=skip"}, "npm", "ci", "--no-audit", "--no-fund"); err != nil {
			return err
		}
	}
	if _, err := sh(work, nil, "/usr/bin/python3", "-c", "import onnx, numpy"); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer: installing python3-onnx and python3-numpy")
		if _, err := sh(work, []string{"DEBIAN_FRONTEND=noninteractive"}, "apt-get", "install", "-y", "-qq", "python3-onnx", "python3-numpy"); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(filepath.Join(work, "models"), 0o755); err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(work, "web", "tiny.onnx")); err != nil {
		if _, err := sh(work, nil, "/usr/bin/python3", "make_tiny.py"); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(work, "models", "vit420_q8.onnx")); err != nil {
		fmt.Fprintln(os.Stderr, "benchpeer: building the q8 ViT-L/14 (about a minute)")
		if _, err := sh(work, nil, "/usr/bin/python3", "build_model.py", "--image-size", "420", "--quant", "q8", "--out", "models/vit420_q8.onnx"); err != nil {
			return err
		}
	}
	return nil
}

type ortResult struct {
	MedianMs float64   `json:"median_ms"`
	TimesMs  []float64 `json:"times_ms"`
	Error    string    `json:"error"`
	Threads  int       `json:"threads"`
}

func ort(work string, threads, runs int) (ortResult, error) {
	out, err := sh(work, []string{"QUIET_MAX_WAIT=60", "CHROMIUM=/usr/bin/chromium"}, "node", "drive_web.js", "/models/vit420_q8.onnx", fmt.Sprint(threads), "1", fmt.Sprint(runs), "wasm")
	if err != nil {
		return ortResult{}, err
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	var r ortResult
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		return r, fmt.Errorf("ortbench output: %w", err)
	}
	if r.Error != "" {
		return r, errors.New(r.Error)
	}
	return r, nil
}

type ours struct {
	Workers         int
	EncodeS         float64
	ImagePassS      float64
	TokenMs         float64
	SecondQuestionS float64
	LoadFromCacheS  float64
	PeakMemoryMB    float64
	Kernels         string
}

// round is one measurement of both: ONNX Runtime on 1 thread, gitvqa on 1 and on all
// workers, ONNX Runtime on 2 threads, in that order.
type round struct {
	ort1, ort2 ortResult
	one, all   ours
}

func (r round) ratio1() float64  { return r.one.EncodeS / (r.ort1.MedianMs / 1000) }
func (r round) ratio2() float64  { return r.all.EncodeS / (r.ort2.MedianMs / 1000) }
func (r round) speedup() float64 { return r.one.EncodeS / r.all.EncodeS }

func run(ortDir, work string, workers, runs, rounds int) error {
	if err := setup(ortDir, work); err != nil {
		return err
	}
	server := exec.Command("/usr/bin/python3", "server.py", "8765", ".")
	server.Dir = work
	if err := server.Start(); err != nil {
		return err
	}
	defer server.Process.Kill()
	for i := 0; ; i++ {
		if resp, err := http.Get("http://127.0.0.1:8765/web/bench.html"); err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			break
		}
		if i > 50 {
			return errors.New("the harness's server.py did not start")
		}
		time.Sleep(200 * time.Millisecond)
	}
	var rs []round
	for i := range rounds {
		r, err := measure(work, workers, runs)
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "benchpeer: round %d of %d: ratios %.2f, %.2f, workers %.2f×\n", i+1, rounds, r.ratio1(), r.ratio2(), r.speedup())
		rs = append(rs, r)
	}
	last := rs[len(rs)-1]
	fmt.Printf("\nimage encoder (CLIP ViT-L/14 at 420², 626 GFLOP), headless Chromium, %d cores, %d round(s)\n", runtime.NumCPU(), rounds)
	fmt.Printf("| round | ONNX Runtime Web 1.30, q8 (median of %d): 1 thread, 2 threads | gitvqa, int8 (%s; median of 3 pictures): 1 worker, %d workers | ratio gitvqa / ONNX Runtime: 1 worker / 1 thread, %d workers / 2 threads | workers_speedup |\n|---|---|---|---|---|\n",
		runs, last.one.Kernels, workers, workers)
	for i, r := range rs {
		fmt.Printf("| %d | %.2f s, %.2f s | %.2f s, %.2f s | %.2f, %.2f | %.2f |\n", i+1, r.ort1.MedianMs/1000, r.ort2.MedianMs/1000,
			r.one.EncodeS, r.all.EncodeS, r.ratio1(), r.ratio2(), r.speedup())
	}
	all := last.all
	fmt.Printf("\ngitvqa, %d workers (last round): image-token pass %.2f s, %.0f ms per token, second question %.2f s, load from IndexedDB %.1f s, peak wasm memory %.0f MB (main worker)\n\n",
		all.Workers, all.ImagePassS, all.TokenMs, all.SecondQuestionS, all.LoadFromCacheS, all.PeakMemoryMB)
	fmt.Printf("encoder_ratio_vs_ort=%.2f encoder_ratio_vs_ort2=%.2f workers_speedup=%.2f token_ms=%.0f second_question_s=%.2f\n",
		median(rs, round.ratio1), median(rs, round.ratio2), median(rs, round.speedup),
		median(rs, func(r round) float64 { return r.all.TokenMs }), median(rs, func(r round) float64 { return r.all.SecondQuestionS }))
	return nil
}

// median is f's median over the rounds (the mean of the middle two for an even count).
func median(rs []round, f func(round) float64) float64 {
	v := make([]float64, len(rs))
	for i, r := range rs {
		v[i] = f(r)
	}
	slices.Sort(v)
	n := len(v)
	return (v[(n-1)/2] + v[n/2]) / 2
}

// measure runs one round.
func measure(work string, workers, runs int) (round, error) {
	var r round
	var err error
	if r.ort1, err = ort(work, 1, runs); err != nil {
		return r, err
	}
	fmt.Fprintf(os.Stderr, "benchpeer: ONNX Runtime Web q8, 1 thread: %.2f s\n", r.ort1.MedianMs/1000)
	outFile, err := filepath.Abs(filepath.Join(work, "gitvqa-bench.json"))
	if err != nil {
		return r, err
	}
	if _, err := sh(".", []string{fmt.Sprintf("GITVQA_BENCH_WORKERS=1,%d", workers), "GITVQA_BENCH_OUT=" + outFile, "CHROMIUM=/usr/bin/chromium"},
		"go", "test", "-run", "XXX", "-bench", "Browser", "-benchtime", "1x", "-timeout", "60m", "./web/e2e/"); err != nil {
		return r, err
	}
	b, err := os.ReadFile(outFile)
	if err != nil {
		return r, err
	}
	var rows []ours
	if err := json.Unmarshal(b, &rows); err != nil || len(rows) < 2 {
		return r, fmt.Errorf("gitvqa's benchmark wrote %q: %v", b, err)
	}
	r.one, r.all = rows[0], rows[len(rows)-1]
	if r.ort2, err = ort(work, 2, runs); err != nil {
		return r, err
	}
	return r, nil
}
