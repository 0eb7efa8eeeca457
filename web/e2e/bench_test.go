//go:build !js

package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/tools/serve/server"
)

// benchModel returns a folder holding the full git-large-vqav2 architecture with
// seeded random int8 weights (made once, into .cache/bench).
func benchModel(b *testing.B) string {
	// -2: converted since tensors keep to one chunk (an older folder loads, with copies).
	dir := filepath.Join(repoRoot(), ".cache", "bench", "large-random-2")
	if _, err := os.Stat(filepath.Join(dir, "manifest.json")); err == nil {
		return dir
	}
	cfg := model.LargeVQAv2Config()
	cj, _ := json.Marshal(cfg)
	vocab, err := os.ReadFile(filepath.Join(fixture.TinyDir(), "vocab.txt"))
	if err != nil {
		b.Fatal(err)
	}
	_, err = convert.Convert(convert.Inputs{
		Config: cj,
		Preprocessor: []byte(`{"size":{"shortest_edge":420},"crop_size":{"height":420,"width":420},"resample":3,` +
			`"image_mean":[0.48145466,0.4578275,0.40821073],"image_std":[0.26862954,0.26130258,0.27577711]}`),
		Vocab:   vocab,
		Weights: model.NewRandomSource(&cfg, 42),
	}, dir, convert.Options{Description: "Benchmark model: git-large-vqav2's architecture with random weights."})
	if err != nil {
		b.Fatal(err)
	}
	return dir
}

// benchSite serves the page shell with the full-size benchmark model at models/bench/.
func benchSite(b *testing.B) *site {
	modelDir := benchModel(b)
	dir := buildShell(b, b.TempDir())
	must(b, os.MkdirAll(filepath.Join(dir, "models"), 0o755))
	must(b, os.Symlink(modelDir, filepath.Join(dir, "models", "bench")))
	st := &site{s: server.New(dir), addr: "127.0.0.1:0"}
	st.start(b)
	return st
}

// benchWorkers is GITVQA_BENCH_WORKERS (comma-separated worker counts), else def.
func benchWorkers(def ...int) []int {
	v := os.Getenv("GITVQA_BENCH_WORKERS")
	if v == "" {
		return def
	}
	var workers []int
	for _, f := range strings.Split(v, ",") {
		n, _ := strconv.Atoi(f)
		workers = append(workers, n)
	}
	return workers
}

type benchRow struct {
	Workers                      int
	EncodeS, ImagePassS, TokenMs float64
	SecondQuestionS, FirstLoadS  float64
	LoadFromCacheS, PeakMemoryMB float64
	ShardMemoryMB                []float64
	Kernels                      string
	Tokens                       int
	FirstPhases, CachedPhases    [][]phase // per worker: the main one, then the shards
	// A 12-megapixel JPEG: ask(file) to pixel values, the first time and again.
	PhotoMs, PhotoAgainMs float64
	PhotoDecodedBy        string
	PhotoAgainCached      bool
	// Profile is the first picture's ms by kind of work (the main worker's), and
	// Timings its answer's timings; SecondProfile and SecondTimings the second
	// question's (the picture cached: the prompt and the tokens alone).
	Profile, Timings, SecondProfile, SecondTimings map[string]float64
}

type phase struct {
	Name string  `json:"name"`
	Ms   float64 `json:"ms"`
}

// loadPhases reads where the page's workers spent their load: the main worker's ready
// message, then each shard worker's.
func loadPhases(b *testing.B, ctx context.Context) [][]phase {
	var main []phase
	js, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.phases || '[]'`))
	json.Unmarshal([]byte(js), &main)
	var shards []struct {
		Phases []phase `json:"phases"`
		LoadMs float64 `json:"loadMs"`
	}
	js, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.shards || '[]'`))
	json.Unmarshal([]byte(js), &shards)
	out := [][]phase{main}
	for _, s := range shards {
		out = append(out, append(s.Phases, phase{"total", s.LoadMs}))
	}
	return out
}

// printPhases prints one table: a row per phase, a column per worker.
func printPhases(title string, rows []benchRow, get func(benchRow) [][]phase) {
	fmt.Printf("\n%s (ms; parts that overlap each count in full)\n", title)
	var cols []string
	var tables [][]phase
	for _, r := range rows {
		for i, ps := range get(r) {
			name := fmt.Sprintf("%d workers: main", r.Workers)
			if i > 0 {
				name = fmt.Sprintf("%d workers: shard %d", r.Workers, i)
			}
			cols = append(cols, name)
			tables = append(tables, ps)
		}
	}
	fmt.Printf("| phase | %s |\n|---|%s\n", strings.Join(cols, " | "), strings.Repeat("---|", len(cols)))
	var names []string
	seen := map[string]bool{}
	for _, t := range tables {
		for _, p := range t {
			if !seen[p.Name] {
				seen[p.Name] = true
				names = append(names, p.Name)
			}
		}
	}
	for _, n := range names {
		fmt.Printf("| %s |", n)
		for _, t := range tables {
			cell := ""
			for _, p := range t {
				if p.Name == n {
					cell = fmt.Sprintf(" %.0f", p.Ms)
				}
			}
			fmt.Printf("%s |", cell)
		}
		fmt.Println()
	}
}

// BenchmarkBrowser runs the full-size model (random int8 weights) through the real
// page and worker in headless Chromium and prints one table: make bench.
func BenchmarkBrowser(b *testing.B) {
	st := benchSite(b)
	defer st.stop()
	workers := benchWorkers(1)
	var pictures []string
	for _, c := range []string{"dogs_640x480", "car_97x61", "square_224_accents"} {
		pictures = append(pictures, filepath.Join(fixture.TinyDir(), "cases", c, "image.png"))
	}
	photo := phonePhoto(b)
	cfg := model.LargeVQAv2Config()
	flops := model.CountFLOPs(&cfg)
	var rows []benchRow
	for _, n := range workers {
		ctx := browser(b)
		page := st.url(fmt.Sprintf("/?model=models/bench/&workers=%d&profile=%s", n, cmp.Or(os.Getenv("GITVQA_BENCH_PROFILE"), "1")))
		row := benchRow{Workers: n}
		start := time.Now()
		must(b, chromedp.Do(ctx, chromedp.Navigate(page)))
		if text, ok := waitLoaded(b, ctx, 30*time.Minute); !ok {
			b.Fatal(text)
		}
		row.FirstLoadS = time.Since(start).Seconds()
		waitTrue(b, ctx, fmt.Sprintf(`document.getElementById('load-status').dataset.workers === '%d'`, n), 10*time.Minute)
		row.FirstPhases = loadPhases(b, ctx)
		row.FirstPhases[0] = append(row.FirstPhases[0], phase{"navigation to ready", row.FirstLoadS * 1000})
		// Second visit: from IndexedDB to ready, as the page sees it.
		must(b, chromedp.Do(ctx, chromedp.Navigate(page)))
		if text, ok := waitLoaded(b, ctx, 30*time.Minute); !ok {
			b.Fatal(text)
		}
		ready, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.now()`))
		must(b, err)
		row.LoadFromCacheS = ready / 1000
		waitTrue(b, ctx, fmt.Sprintf(`document.getElementById('load-status').dataset.workers === '%d'`, n), 10*time.Minute)
		row.CachedPhases = loadPhases(b, ctx)
		row.CachedPhases[0] = append(row.CachedPhases[0], phase{"navigation to ready", row.LoadFromCacheS * 1000})
		row.Kernels, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.kernels + (/split dot/.test(document.getElementById('load-status').title) ? ' (split dot)' : '')`))

		// Three pictures, each new to the worker: the medians are reported.
		var enc, pass, tok []float64
		var o outcome
		for _, pic := range pictures {
			o = askUI(b, ctx, pic, "how many dogs are there?", 20, false)
			if o.Code != "" {
				b.Fatalf("%s: %s", o.Code, o.Error)
			}
			tm := o.timings()
			enc = append(enc, num(tm["encodeMs"])/1000)
			pass = append(pass, num(tm["imagePrefillMs"])/1000)
			if n := num(tm["tokens"]); n > 1 {
				tok = append(tok, num(tm["decodeMs"])/(n-1))
			}
			row.Tokens = int(num(tm["tokens"]))
			if row.Profile == nil {
				row.Timings, row.Profile = answerProfile(ctx, o)
			}
		}
		row.EncodeS, row.ImagePassS, row.TokenMs = median(enc), median(pass), median(tok)
		o2 := askUI(b, ctx, "", "what color is the grass?", 20, false)
		row.SecondQuestionS = num(o2.timings()["totalMs"]) / 1000
		row.SecondTimings, row.SecondProfile = answerProfile(ctx, o2)
		row.PeakMemoryMB = num(o2.timings()["memoryBytes"]) / (1 << 20)
		if sm, ok := o2.timings()["shardMemoryBytes"].([]any); ok {
			for _, v := range sm {
				row.ShardMemoryMB = append(row.ShardMemoryMB, num(v)/(1<<20))
			}
		}
		// A phone photo, then a second question about the same file.
		o3 := askUI(b, ctx, photo, "what is this?", 1, false)
		if o3.Code != "" {
			b.Fatalf("phone photo: %s: %s", o3.Code, o3.Error)
		}
		row.PhotoMs, row.PhotoDecodedBy = num(o3.timings()["preprocessMs"]), fmt.Sprint(o3.timings()["decodedBy"])
		o4 := askUI(b, ctx, "", "and what color is it?", 1, false)
		row.PhotoAgainMs, row.PhotoAgainCached = num(o4.timings()["preprocessMs"]), o4.timings()["pictureCached"] == true
		rows = append(rows, row)
	}
	fmt.Printf("\nfull-size git-large-vqav2 architecture, random int8 weights, headless Chromium (%d cores)\n", runtime.NumCPU())
	fmt.Printf("| workers | kernels | image encoder | image-token pass | per token | second question | load from IndexedDB | first load | wasm memory, all workers (each) |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, r := range rows {
		total, each := r.PeakMemoryMB, []string{fmt.Sprintf("%.0f", r.PeakMemoryMB)}
		for _, m := range r.ShardMemoryMB {
			total += m
			each = append(each, fmt.Sprintf("%.0f", m))
		}
		fmt.Printf("| %d | %s | %.2f s (%.1f GFLOP/s) | %.2f s (%.1f GFLOP/s) | %.0f ms | %.2f s | %.2f s | %.2f s | %.0f MB (%s) |\n",
			r.Workers, r.Kernels, r.EncodeS, flops.Encoder/r.EncodeS/1e9, r.ImagePassS, flops.ImagePrefill/r.ImagePassS/1e9,
			r.TokenMs, r.SecondQuestionS, r.LoadFromCacheS, r.FirstLoadS, total, strings.Join(each, " + "))
	}
	for _, r := range rows {
		fmt.Printf("12-megapixel JPEG (4032×3024), %d workers: to pixel values %.0f ms (decoded by %s); a second question about it %.1f ms (decoded again: %v)\n",
			r.Workers, r.PhotoMs, r.PhotoDecodedBy, r.PhotoAgainMs, !r.PhotoAgainCached)
	}
	printProfile(rows, &cfg)
	printPhases("Load phases, first visit over loopback", rows, func(r benchRow) [][]phase { return r.FirstPhases })
	printPhases("Load phases, revisit from IndexedDB", rows, func(r benchRow) [][]phase { return r.CachedPhases })
	js, _ := json.Marshal(rows)
	fmt.Printf("bench-json: %s\n", js)
	if out := os.Getenv("GITVQA_BENCH_OUT"); out != "" {
		os.WriteFile(out, js, 0o644)
	}
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	return s[len(s)/2]
}

func num(v any) float64 {
	f, _ := v.(float64)
	return f
}

func must(b *testing.B, err error) {
	b.Helper()
	if err != nil {
		b.Fatal(err)
	}
}

// phonePhoto writes a 4032×3024 JPEG (a phone camera's 12 megapixels, smooth gradients
// and fine detail at quality 90) and returns its path.
func phonePhoto(b *testing.B) string {
	m := image.NewYCbCr(image.Rect(0, 0, 4032, 3024), image.YCbCrSubsampleRatio420)
	for y := 0; y < 3024; y++ {
		for x := 0; x < 4032; x++ {
			m.Y[y*m.YStride+x] = uint8((x/16+y/12)&0xff ^ (x*y>>10)&0x1f)
		}
	}
	for i := range m.Cb {
		m.Cb[i], m.Cr[i] = uint8(i>>9), uint8(255-i>>10)
	}
	path := filepath.Join(b.TempDir(), "photo.jpg")
	f, err := os.Create(path)
	must(b, err)
	must(b, jpeg.Encode(f, m, &jpeg.Options{Quality: 90}))
	must(b, f.Close())
	return path
}

// answerProfile is an answer's numeric timings and the page's profile of it (ms by kind
// of work, the main worker's).
func answerProfile(ctx context.Context, o outcome) (timings, profile map[string]float64) {
	timings, profile = map[string]float64{}, map[string]float64{}
	for k, v := range o.timings() {
		if f, ok := v.(float64); ok {
			timings[k] = f
		}
	}
	prof, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('timings').dataset.profile || '{}'`))
	json.Unmarshal([]byte(prof), &profile)
	return timings, profile
}

// printProfileHead starts a profile table: title, then a column a row of rows.
func printProfileHead(title string, rows []benchRow) {
	fmt.Printf("\n%s\n| op |", title)
	for _, r := range rows {
		fmt.Printf(" %d workers |", r.Workers)
	}
	fmt.Printf("\n|---|")
	for range rows {
		fmt.Printf("---|")
	}
	fmt.Println()
}

// profileMs is kind's ms in profile; for "outside the kernels", the timings' phases
// less every kind in kinds.
func profileMs(kind string, profile, timings map[string]float64, phases, kinds []string) float64 {
	if kind != "outside the kernels" {
		return profile[kind]
	}
	var ms float64
	for _, p := range phases {
		ms += timings[p]
	}
	for _, k := range kinds {
		ms -= profile[k]
	}
	return ms
}

// printProfile prints where the first picture's time went in the main worker, by kind
// of kernel, with the throughput of its share of the work (the encoder's Linear layers
// and attention are split between the workers; the decoder's are not), then the second
// question's (the prompt and the tokens alone).
func printProfile(rows []benchRow, c *model.Config) {
	if len(rows) == 0 || len(rows[0].Profile) == 0 {
		return
	}
	f := model.CountFLOPs(c)
	n := float64(c.NumImageTokens())
	printProfileHead("Per-op profile, first picture (encoder, image-token pass, prompt and tokens), the main worker (ms, GFLOP/s of its share)", rows)
	flops := func(r benchRow, kind string) float64 {
		w := float64(r.Workers)
		steps := r.Timings["tokens"] // forward steps, about (the prompt's rows go in one)
		switch kind {
		case "linear":
			return (f.Encoder-f.EncoderAttention)/w + f.ImagePrefill - f.ImagePrefillAttention + steps*model.TokenFLOPs(c, 0)
		case "attention":
			return f.EncoderAttention/w + f.ImagePrefillAttention + steps*(model.TokenFLOPs(c, int(n))-model.TokenFLOPs(c, 0))
		}
		return 0
	}
	kinds := []string{"linear", "attention", "activation", "layernorm", "peers.wait"}
	for _, kind := range append(kinds, "outside the kernels") {
		fmt.Printf("| %s |", kind)
		for _, r := range rows {
			ms := profileMs(kind, r.Profile, r.Timings, []string{"encodeMs", "imagePrefillMs", "promptMs", "decodeMs"}, kinds)
			if fl := flops(r, kind); fl > 0 && ms > 0 {
				fmt.Printf(" %.0f ms (%.1f GFLOP/s) |", ms, fl/ms/1e6)
			} else {
				fmt.Printf(" %.0f ms |", ms)
			}
		}
		fmt.Println()
	}
	printProfileHead(fmt.Sprintf("Per-op profile, second question (the picture cached: the prompt and %d tokens), the main worker (ms)", rows[0].Tokens), rows)
	kinds = []string{"linear", "attention", "activation", "layernorm"} // the tokens are the main worker's alone
	for _, kind := range append(kinds, "outside the kernels") {
		fmt.Printf("| %s |", kind)
		for _, r := range rows {
			fmt.Printf(" %.0f ms |", profileMs(kind, r.SecondProfile, r.SecondTimings, []string{"promptMs", "decodeMs"}, kinds))
		}
		fmt.Println()
	}
}
