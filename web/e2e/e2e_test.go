//go:build !js

// Package e2e drives the real page in headless Chromium (chromedp): every fixture case
// answered through the UI, the image cache, offline reload from IndexedDB, dropped and
// corrupted downloads, cancel, and bad input. The model and cases come from
// GITVQA_E2E_MODEL (a Hugging Face GIT folder, converted here to float32 chunks) and
// GITVQA_E2E_CASES (a folder in the fixtures' cases/ format); both default to the
// repository's testdata. It ends by printing "N passed, M failed".
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"image"
	"image/jpeg"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/storage"
	"github.com/chromedp/chromedp"

	"gitvqa/model"
	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/model/kernels/simd"
	"gitvqa/model/modelfile"
	"gitvqa/tools/serve/server"
)

var passed, failed atomic.Int32

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.dir != "" {
		os.RemoveAll(shared.dir)
	}
	fmt.Printf("e2e: %d passed, %d failed\n", passed.Load(), failed.Load())
	os.Exit(code)
}

// step runs one named check as a subtest and counts it.
func step(t *testing.T, name string, f func(t *testing.T)) bool {
	ok := t.Run(name, f)
	if ok {
		passed.Add(1)
	} else {
		failed.Add(1)
	}
	return ok
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildShell assembles the site without models in a temporary folder: the static
// files, the wasm runtime and the kernel modules.
func buildShell(t testing.TB, dir string) string {
	t.Helper()
	root := repoRoot()
	entries, err := os.ReadDir(filepath.Join(root, "static"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.IsDir() || strings.Contains(e.Name(), ".wasm") || e.Name() == "wasm_exec.js" || strings.HasSuffix(e.Name(), ".png") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, "static", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, e.Name()), b, 0o644)
	}
	goroot, err := exec.Command(goTool(), "env", "GOROOT").Output()
	if err != nil {
		t.Fatal(err)
	}
	wasmExec, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(goroot)), "lib", "wasm", "wasm_exec.js"))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "wasm_exec.js"), wasmExec, 0o644)
	plain, relaxed, err := simd.Modules()
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "kernels.wasm"), plain, 0o644)
	os.WriteFile(filepath.Join(dir, "kernels-relaxed.wasm"), relaxed, 0o644)
	// As the Makefile builds it: against tools/slimwasm's edited Gorgonia, and
	// precompressed as a static host would serve it.
	slim := t.TempDir()
	for _, args := range [][]string{
		{"run", "./tools/slimwasm", "-out", slim},
		{"build", "-modfile", filepath.Join(slim, "go.mod"), "-trimpath", "-ldflags=-s -w", "-o", filepath.Join(dir, "gitvqa.wasm"), "./wasm"},
		{"run", "./tools/precompress", filepath.Join(dir, "gitvqa.wasm")},
	} {
		build := exec.Command(goTool(), args...)
		build.Dir = root
		if args[0] == "build" {
			build.Env = append(os.Environ(), "GOOS=js", "GOARCH=wasm")
		}
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("building the wasm (go %s): %v\n%s", args[0], err, out)
		}
	}
	return dir
}

// buildSite adds the models under test to a shell: the Hugging Face checkpoint as
// float32 chunks, and a small random model to cancel.
func buildSite(t testing.TB, dir, hfModel string) (_ string, e2e, small *modelfile.Manifest) {
	t.Helper()
	buildShell(t, dir)
	var err error

	// The model under test, as float32 chunks of 1 MiB (several, so that faults can hit
	// one in the middle).
	in, closeSrc, err := convert.OpenFolder(hfModel)
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	if e2e, err = convert.Convert(in, filepath.Join(dir, "models", "e2e"), convert.Options{DType: "f32", ChunkBytes: 1 << 20}); err != nil {
		t.Fatal(err)
	}

	// A small random int8 model, slow enough (≈0.6 s a picture) to cancel in flight.
	cfg, err := model.ParseConfig(in.Config)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Vision.HiddenSize, cfg.Vision.IntermediateSize, cfg.Vision.NumHiddenLayers = 384, 1536, 12
	cfg.Vision.NumAttentionHeads, cfg.Vision.ImageSize, cfg.Vision.PatchSize = 6, 224, 16
	cj, _ := json.Marshal(cfg)
	small, err = convert.Convert(convert.Inputs{
		Config:       cj,
		Preprocessor: []byte(`{"size":{"shortest_edge":224},"crop_size":{"height":224,"width":224},"resample":3}`),
		Vocab:        in.Vocab,
		Weights:      model.NewRandomSource(&cfg, 5),
	}, filepath.Join(dir, "models", "small"), convert.Options{Description: "Test model: random weights."})
	if err != nil {
		t.Fatal(err)
	}
	// The model under test again, as a captioning model (what the page offers depends on
	// it), and models/index.json listing the three, as make demo writes it.
	if _, err = convert.Convert(in, filepath.Join(dir, "models", "captions"), convert.Options{DType: "f32", Task: model.TaskCaption}); err != nil {
		t.Fatal(err)
	}
	index := exec.Command(goTool(), "run", "./tools/modelindex", "-default", "models/e2e/", filepath.Join(dir, "models"))
	index.Dir = repoRoot()
	if out, err := index.CombinedOutput(); err != nil {
		t.Fatalf("modelindex: %v\n%s", err, out)
	}
	return dir, e2e, small
}

// shared is the site of the tiny fixture model, built once per run for the tests that
// only read it (building the wasm takes most of a minute).
var shared struct {
	once       sync.Once
	dir        string
	e2e, small *modelfile.Manifest
	err        error
}

func sharedSite(t testing.TB) (dir string, e2e, small *modelfile.Manifest) {
	t.Helper()
	shared.once.Do(func() {
		if shared.dir, shared.err = os.MkdirTemp("", "gitvqa-e2e-"); shared.err != nil {
			return
		}
		ok := false
		defer func() {
			if !ok && shared.err == nil {
				shared.err = fmt.Errorf("building the site failed (see the first test that built it)")
			}
		}()
		_, shared.e2e, shared.small = buildSite(t, shared.dir, fixture.TinyDir())
		ok = true
	})
	if shared.err != nil {
		t.Fatal(shared.err)
	}
	return shared.dir, shared.e2e, shared.small
}

// site is the static server, restartable on the same address (for the offline check).
type site struct {
	s    *server.Server
	addr string
	http *http.Server
}

func (st *site) start(t testing.TB) {
	ln, err := net.Listen("tcp", st.addr)
	if err != nil {
		t.Fatal(err)
	}
	st.addr = ln.Addr().String()
	st.http = &http.Server{Handler: st.s}
	go st.http.Serve(ln)
}

func (st *site) stop() { st.http.Close() }

func (st *site) url(path string) string { return "http://" + st.addr + path }

func chromium() string {
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

func browser(t testing.TB) context.Context {
	exe := chromium()
	if exe == "" {
		t.Fatal("no Chromium found: install it (make test runs apt-get install -y chromium) or set CHROMIUM")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.Headless, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1000, 1100),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("enable-unsafe-webgpu", true), // SwiftShader's WebGPU adapter, for device: 'webgpu'
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelC := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelC(); cancelA() })
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	return ctx
}

func within(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

// status is the load line: its text and whether the model is ready.
func waitLoaded(t testing.TB, ctx context.Context, timeout ...time.Duration) (text string, ready bool) {
	t.Helper()
	d := 120 * time.Second
	if len(timeout) > 0 {
		d = timeout[0]
	}
	c, cancel := within(ctx, d)
	defer cancel()
	_, err := chromedp.Run(c, chromedp.Poll[bool](`document.getElementById('load-status')?.dataset.ready === '1' || document.getElementById('load-status')?.className === 'error'`,
		chromedp.WithPollingTimeout(d), chromedp.WithPollingInterval(100*time.Millisecond)))
	if err != nil {
		t.Fatalf("waiting for the model: %v", err)
	}
	text, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').textContent`))
	ready, _ = chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('load-status').dataset.ready === '1'`))
	return text, ready
}

type outcome struct {
	Answer  string          `json:"answer"`
	Code    string          `json:"code"`
	Error   string          `json:"error"`
	Timings json.RawMessage `json:"timings"`
}

func (o outcome) timings() map[string]any {
	var m map[string]any
	json.Unmarshal(o.Timings, &m)
	return m
}

// askUI chooses a picture through the file input (when file is set), types the
// question and presses Ask (Describe when caption), then waits for the outcome.
func askUI(t testing.TB, ctx context.Context, file, question string, maxTokens int, caption bool) outcome {
	t.Helper()
	c, cancel := within(ctx, 20*time.Minute)
	defer cancel()
	if file != "" {
		if err := chromedp.Do(c,
			chromedp.Evaluate[chromedp.Void](`document.getElementById('file').value = ''`),
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{file})); err != nil {
			t.Fatal(err)
		}
	}
	button := "ask"
	if caption {
		button = "describe"
	}
	q, _ := json.Marshal(question)
	if err := chromedp.Do(c,
		chromedp.SetValue(chromedp.ID("max-tokens"), strconv.Itoa(maxTokens)),
		chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById('question').value = %s`, q)),
		chromedp.Evaluate[chromedp.Void](`document.getElementById('answer').dataset.done = ''; document.getElementById('ask-error').hidden = true`),
		chromedp.Poll[chromedp.Void](fmt.Sprintf(`!document.getElementById(%q).disabled`, button)),
		click(button),
	); err != nil {
		t.Fatal(err)
	}
	return waitOutcome(t, c)
}

func waitOutcome(t testing.TB, ctx context.Context) outcome {
	t.Helper()
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.getElementById('answer').dataset.done === '1' || !document.getElementById('ask-error').hidden`,
		chromedp.WithPollingTimeout(20*time.Minute), chromedp.WithPollingInterval(50*time.Millisecond))); err != nil {
		t.Fatalf("waiting for the answer: %v", err)
	}
	o, err := chromedp.Run(ctx, chromedp.Evaluate[outcome](`({
		answer: document.getElementById('answer').dataset.done === '1' ? document.getElementById('answer').textContent : '',
		code: document.getElementById('ask-error').hidden ? '' : (document.getElementById('ask-error').dataset.code || ''),
		error: document.getElementById('ask-error').hidden ? '' : document.getElementById('ask-error').textContent,
		timings: JSON.parse(document.getElementById('timings').dataset.json || 'null'),
	})`))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func serverCounts(s *server.Server, m *modelfile.Manifest, folder string) []int {
	out := make([]int, len(m.Chunks))
	for i, c := range m.Chunks {
		out[i] = s.Count("/models/" + folder + "/" + c.File)
	}
	return out
}

func clearCacheAndReload(t testing.TB, ctx context.Context, page string) {
	t.Helper()
	// The page's shard workers load after the main one: let them finish first, or they
	// would fetch what the clearing removes under them.
	waitTrue(t, ctx, `document.getElementById('load-status').className === 'error' || document.getElementById('load-status').dataset.workers !== undefined`, 2*time.Minute)
	if err := chromedp.Do(ctx,
		chromedp.Evaluate[chromedp.Void](`gitvqaDemo.cache.clear()`, chromedp.EvalAwaitPromise),
		chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
}

func TestPage(t *testing.T) {
	hf := os.Getenv("GITVQA_E2E_MODEL")
	if hf == "" {
		hf = fixture.TinyDir()
	}
	casesDir := os.Getenv("GITVQA_E2E_CASES")
	if casesDir == "" {
		casesDir = filepath.Join(fixture.TinyDir(), "cases")
	}
	cases, err := fixture.Load(casesDir)
	if err != nil {
		t.Fatal(err)
	}
	var dir string
	var man, small *modelfile.Manifest
	if hf == fixture.TinyDir() {
		dir, man, small = sharedSite(t)
	} else {
		dir, man, small = buildSite(t, t.TempDir(), hf)
	}
	st := &site{s: server.New(dir), addr: "127.0.0.1:0"}
	// Every chunk request reaches the server (no HTTP cache), so the fault checks count
	// what the page really asked for.
	st.s.NoStore = true
	st.start(t)
	defer func() { st.stop() }()
	ctx := browser(t)
	// GITVQA_E2E_BACKEND=webgpu runs the suite with the GPU forced (SwiftShader here):
	// the pages below ask for device=webgpu, and one worker runs (the GPU's alone).
	device := os.Getenv("GITVQA_E2E_BACKEND")
	if device != "" && device != "webgpu" {
		t.Fatalf("GITVQA_E2E_BACKEND=%q: want webgpu or nothing", device)
	}
	onDevice := func(u string) string {
		if device == "" {
			return u
		}
		return u + "&device=" + device
	}
	wantKernels, wantWorkers := []string{"relaxed-simd", "simd"}, "2"
	if device != "" {
		wantKernels, wantWorkers = []string{"webgpu"}, "1"
	}
	page := onDevice(st.url("/?model=models/e2e/&workers=2"))

	if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
		t.Fatal(err)
	}
	var firstLoad string
	if !step(t, "first visit loads the model", func(t *testing.T) {
		text, ready := waitLoaded(t, ctx)
		if !ready {
			t.Fatalf("not ready: %s", text)
		}
		firstLoad = text
		// The fast path: the cases below are answered by the SIMD kernels (or the GPU).
		k, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.kernels`))
		if !slices.Contains(wantKernels, k) {
			t.Errorf("kernels in use: %q, want %v", k, wantKernels)
		}
		// On 'auto' the GPU is weighed first: SwiftShader, a software adapter, is refused,
		// and the page says the CPU runs, its title why.
		if device == "" {
			note, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').title`))
			if !strings.Contains(text, "on the CPU") || !strings.Contains(note, "software adapter") {
				t.Errorf("auto with only a software adapter: status %q, title %q", text, note)
			}
		}
		ms, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.loadMs`))
		// The cases below run with the image encoder shared between two workers (on the
		// CPU).
		waitTrue(t, ctx, fmt.Sprintf(`document.getElementById('load-status').dataset.workers === %q`, wantWorkers), 60*time.Second)
		wasm, _ := os.Stat(filepath.Join(dir, "gitvqa.wasm"))
		t.Logf("first load: %s ms for %d model bytes (wasm %d bytes), kernels %s; status: %s", ms, man.TotalBytes, wasm.Size(), k, text)
	}) {
		t.FailNow()
	}

	for _, c := range cases {
		step(t, "case "+c.Name, func(t *testing.T) {
			o := askUI(t, ctx, c.Path(c.Image), c.Question, c.MaxTokens, c.Question == "")
			if o.Answer != c.Answer || o.Code != "" {
				t.Fatalf("answer %q (error %q %s), want %q", o.Answer, o.Code, o.Error, c.Answer)
			}
			if c.Name == "dogs_640x480" {
				shot(t, ctx)
			}
		})
	}
	last := cases[len(cases)-1]

	step(t, "second question skips the image encoder", func(t *testing.T) {
		o := askUI(t, ctx, "", "is it raining?", 5, false)
		tm := o.timings()
		if o.Code != "" || tm["imageCached"] != true || tm["encodeMs"] != 0.0 || tm["imagePrefillMs"] != 0.0 {
			t.Fatalf("outcome %+v, timings %v", o, tm)
		}
	})

	step(t, "a JPEG is decoded by the browser, and a second question about the file does not decode it again", func(t *testing.T) {
		jpg := filepath.Join(t.TempDir(), "dogs.jpg")
		writeJPEG(t, cases[1].Path(cases[1].Image), jpg)
		o := askUI(t, ctx, jpg, "what is this?", 2, false)
		if tm := o.timings(); o.Code != "" || tm["decodedBy"] != "browser" || tm["pictureCached"] != false {
			t.Fatalf("first question: %+v, timings %v", o, tm)
		}
		o = askUI(t, ctx, "", "and what color is it?", 2, false)
		if tm := o.timings(); o.Code != "" || tm["pictureCached"] != true || tm["imageCached"] != true || tm["decodedBy"] != nil {
			t.Fatalf("second question: %+v, timings %v", o, tm)
		}
	})

	step(t, "reload answers offline from IndexedDB", func(t *testing.T) {
		// The page says it works offline once the service worker holds its files too.
		waitTrue(t, ctx, `document.getElementById('load-status').dataset.offlineReady === '1'`, 60*time.Second)
		st.stop()
		defer st.start(t)
		if err := chromedp.Do(ctx, chromedp.Reload()); err != nil {
			t.Fatal(err)
		}
		text, ready := waitLoaded(t, ctx)
		if off, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.offline`)); !ready || off != "1" {
			t.Fatalf("offline reload: %s", text)
		}
		o := askUI(t, ctx, last.Path(last.Image), last.Question, last.MaxTokens, last.Question == "")
		if o.Answer != last.Answer {
			t.Fatalf("offline answer %q, want %q", o.Answer, last.Answer)
		}
	})

	victim := len(man.Chunks) / 2
	step(t, "a dropped connection resumes without refetching verified chunks", func(t *testing.T) {
		st.s.SetFaults(server.Faults{DropAfter: map[string]int{man.Chunks[victim].File: 300 << 10}, DropTimes: map[string]int{man.Chunks[victim].File: 1}})
		st.s.ResetCounts()
		clearCacheAndReload(t, ctx, page)
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("load with a dropped connection: %s", text)
		}
		got := serverCounts(st.s, man, "e2e")
		for i, n := range got {
			if want := map[bool]int{true: 2, false: 1}[i == victim]; n != want {
				t.Errorf("chunk %d fetched %d times, want %d (counts %v)", i, n, want, got)
			}
		}
		// Reload: everything comes from IndexedDB.
		st.s.ResetCounts()
		chromedp.Do(ctx, chromedp.Reload())
		if _, ready := waitLoaded(t, ctx); !ready {
			t.Fatal("reload failed")
		}
		if got := serverCounts(st.s, man, "e2e"); !reflect.DeepEqual(got, make([]int, len(man.Chunks))) {
			t.Fatalf("chunks fetched again after a complete download: %v", got)
		}
	})

	step(t, "an interrupted download resumes at the first missing chunk", func(t *testing.T) {
		st.s.SetFaults(server.Faults{Status: map[string]int{man.Chunks[victim].File: -1}})
		clearCacheAndReload(t, ctx, page)
		if text, ready := waitLoaded(t, ctx); ready || !strings.Contains(text, man.Chunks[victim].File) {
			t.Fatalf("a dead chunk should fail the load, naming it: %s", text)
		}
		st.s.SetFaults(server.Faults{})
		st.s.ResetCounts()
		chromedp.Do(ctx, chromedp.Reload())
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("resumed load: %s", text)
		}
		got := serverCounts(st.s, man, "e2e")
		if got[victim] != 1 {
			t.Errorf("the missing chunk was fetched %d times", got[victim])
		}
		for i := 0; i < victim-2; i++ { // well before it: stored by the first attempt
			if got[i] != 0 {
				t.Errorf("chunk %d was fetched again although it was stored: %v", i, got)
			}
		}
	})

	step(t, "a corrupted chunk is refused, refetched and never stored", func(t *testing.T) {
		bad := man.Chunks[1]
		st.s.SetFaults(server.Faults{Corrupt: map[string]int{bad.File: 1}})
		st.s.ResetCounts()
		clearCacheAndReload(t, ctx, page)
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("load: %s", text)
		}
		if n := st.s.Count("/models/e2e/" + bad.File); n != 2 {
			t.Errorf("corrupted chunk fetched %d times, want 2", n)
		}
		if h := storedHash(t, ctx, bad.SHA256); h != bad.SHA256 {
			t.Errorf("stored copy hashes to %q", h)
		}
		// Corrupt every time: the load fails, and nothing is stored under its name.
		st.s.SetFaults(server.Faults{Corrupt: map[string]int{bad.File: -1}})
		clearCacheAndReload(t, ctx, page)
		if text, ready := waitLoaded(t, ctx); ready || !strings.Contains(text, "sha256") {
			t.Fatalf("permanently corrupt chunk: %s", text)
		}
		if h := storedHash(t, ctx, bad.SHA256); h != "" {
			t.Fatalf("a corrupt chunk was stored (hash %q)", h)
		}
		st.s.SetFaults(server.Faults{})
		chromedp.Do(ctx, chromedp.Reload())
		if _, ready := waitLoaded(t, ctx); !ready {
			t.Fatal("recovery load failed")
		}
	})

	step(t, "a chunk damaged in IndexedDB is caught, fetched again and never run", func(t *testing.T) {
		waitTrue(t, ctx, `document.getElementById('load-status').dataset.workers !== undefined`, 2*time.Minute)
		bad := man.Chunks[victim]
		if _, err := chromedp.Run(ctx, chromedp.Evaluate[bool](fmt.Sprintf(`new Promise((resolve, reject) => {
			const req = indexedDB.open('gitvqa');
			req.onerror = () => reject(req.error);
			req.onsuccess = () => {
				const db = req.result;
				const st = db.transaction('chunks', 'readwrite').objectStore('chunks');
				const get = st.get(%q);
				get.onsuccess = async () => {
					const rec = get.result; // {data: Blob, crc32c}
					const b = new Uint8Array(await rec.data.arrayBuffer());
					b[b.length >> 1] ^= 1; // one flipped bit, under the record's CRC
					const tx = db.transaction('chunks', 'readwrite');
					tx.objectStore('chunks').put({data: new Blob([b]), crc32c: rec.crc32c}, %q);
					tx.oncomplete = () => { db.close(); resolve(true); };
					tx.onerror = () => reject(tx.error);
				};
				get.onerror = () => reject(get.error);
			};
		})`, bad.SHA256, bad.SHA256), chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		st.s.ResetCounts()
		chromedp.Do(ctx, chromedp.Reload())
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("reload with a damaged chunk: %s", text)
		}
		if n := st.s.Count("/models/e2e/" + bad.File); n != 1 {
			t.Errorf("the damaged chunk was fetched %d times, want 1", n)
		}
		if h := storedHash(t, ctx, bad.SHA256); h != bad.SHA256 {
			t.Errorf("the stored copy now hashes to %q", h)
		}
		c := cases[0]
		if o := askUI(t, ctx, c.Path(c.Image), c.Question, c.MaxTokens, c.Question == ""); o.Answer != c.Answer {
			t.Errorf("after the repair: %+v, want %q", o, c.Answer)
		}
	})

	stallPage := page + "&stallMs=400"
	step(t, "a stalled chunk is abandoned and fetched again", func(t *testing.T) {
		st.s.SetFaults(server.Faults{Stall: map[string]int{man.Chunks[victim].File: 1}, StallAfter: 300 << 10})
		st.s.ResetCounts()
		clearCacheAndReload(t, ctx, stallPage)
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("load with a stalled chunk: %s", text)
		}
		if n := st.s.Count("/models/e2e/" + man.Chunks[victim].File); n != 2 {
			t.Errorf("the stalled chunk was fetched %d times, want 2", n)
		}
	})

	step(t, "a manifest that always stalls ends in a clear error, and Try again recovers", func(t *testing.T) {
		st.s.SetFaults(server.Faults{Stall: map[string]int{"/models/e2e/manifest.json": -1}})
		clearCacheAndReload(t, ctx, stallPage)
		text, ready := waitLoaded(t, ctx)
		if ready || !strings.Contains(text, "stalled") || !strings.Contains(text, "manifest.json") {
			t.Fatalf("an always-stalled manifest: %s", text)
		}
		st.s.SetFaults(server.Faults{})
		if err := chromedp.Do(ctx, click("retry-load")); err != nil {
			t.Fatal(err)
		}
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("after Try again: %s", text)
		}
	})

	step(t, "web pages where model files belong are named as such", func(t *testing.T) {
		for _, file := range []string{"manifest.json", man.Chunks[victim].File} {
			st.s.SetFaults(server.Faults{HTML: map[string]int{"/models/e2e/" + file: -1}})
			clearCacheAndReload(t, ctx, page)
			if text, ready := waitLoaded(t, ctx); ready || !strings.Contains(text, "web page") || !strings.Contains(text, file) {
				t.Errorf("HTML for %s: %s", file, text)
			}
		}
		st.s.SetFaults(server.Faults{})
	})

	step(t, "a cache cleared during the download is not called offline-ready, and the offline visit says why it fails", func(t *testing.T) {
		// One worker: a shard worker would fetch the missing chunks again and so repair
		// the copy before the offline visit.
		st.s.SetFaults(server.Faults{Delay: 250 * time.Millisecond})
		st.s.ResetCounts()
		clearCacheAndReload(t, ctx, onDevice(st.url("/?model=models/e2e/&workers=1")))
		// Clear once some chunks are stored (they are written behind the download).
		for deadline := time.Now().Add(time.Minute); storedCount(t, ctx) < 3 && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`gitvqaDemo.cache.clear()`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		text, ready := waitLoaded(t, ctx)
		st.s.SetFaults(server.Faults{})
		if off, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.offlineReady`)); !ready || off == "1" || !strings.Contains(text, "cleared") {
			t.Fatalf("after the clear: %s (offline-ready %q)", text, off)
		}
		st.stop()
		chromedp.Do(ctx, chromedp.Reload())
		text, ready = waitLoaded(t, ctx)
		st.start(t)
		if ready || !strings.Contains(text, "incomplete") || !strings.Contains(text, "connect once") {
			t.Fatalf("offline with holes: %s", text)
		}
		if err := chromedp.Do(ctx, chromedp.Navigate(page)); err != nil {
			t.Fatal(err)
		}
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("online again: %s", text)
		}
		waitTrue(t, ctx, `document.getElementById('load-status').dataset.offlineReady === '1'`, 60*time.Second)
	})

	step(t, "asks always settle: abort in the same tick, ask after close, close during an ask", func(t *testing.T) {
		waitTrue(t, ctx, `document.getElementById('load-status').dataset.workers !== undefined`, 2*time.Minute)
		res, err := chromedp.Run(ctx, chromedp.Evaluate[map[string]string](`(async () => {
			const { GitVQA } = await import('./vqa.js');
			const canvas = Object.assign(document.createElement('canvas'), { width: 8, height: 8 });
			const settle = (p) => Promise.race([p.then(() => 'answered', (e) => e.code || String(e)), new Promise((r) => setTimeout(() => r('never settled'), 20000))]);
			const out = {};
			const vqa = gitvqaDemo.state.vqa;
			const c = new AbortController();
			const p = vqa.ask(canvas, 'what is this?', { signal: c.signal, maxTokens: 20 });
			c.abort();
			out.abortSameTick = await settle(p);
			const other = await GitVQA.load({ model: 'models/e2e/', workers: 1 });
			const during = other.ask(canvas, 'what is this?');
			other.close();
			out.closeDuringAsk = await settle(during);
			out.askAfterClose = await settle(other.ask(canvas, 'what is this?'));
			out.afterwards = await settle(vqa.ask(canvas, 'what is this?', { maxTokens: 2 }));
			return out;
		})()`, chromedp.EvalAwaitPromise))
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{"abortSameTick": "cancelled", "closeDuringAsk": "cancelled", "askAfterClose": "cancelled", "afterwards": "answered"}
		if !reflect.DeepEqual(res, want) {
			t.Fatalf("got %v, want %v", res, want)
		}
	})

	step(t, "with a quota too small for the page itself, the page does not claim to work offline", func(t *testing.T) {
		tight := browser(t) // a fresh profile
		if err := chromedp.Do(tight, chromedp.Func(func(ctx context.Context, tg *chromedp.Target) error {
			q := float64(30 << 20) // the model (17 MB) fits, the page's 38 MB wasm does not
			if _, err := cdp.Call(ctx, tg, storage.OverrideQuotaForOrigin, storage.OverrideQuotaForOriginParams{Origin: "http://" + st.addr, QuotaSize: &q}); err != nil {
				return err
			}
			// Count the page's requests for persistent storage (Firefox prompts for each).
			_, err := cdp.Call(ctx, tg, cdppage.AddScriptToEvaluateOnNewDocument, cdppage.AddScriptToEvaluateOnNewDocumentParams{Source: `
				if (navigator.storage) { window.persistCalls = 0; navigator.storage.persist = async () => { window.persistCalls++; return false; }; navigator.storage.persisted = async () => false; }`})
			return err
		}), chromedp.Navigate(onDevice(st.url("/?model=models/e2e/&workers=1")))); err != nil {
			t.Fatal(err)
		}
		if text, ready := waitLoaded(t, tight); !ready {
			t.Fatalf("load: %s", text)
		}
		waitTrue(t, tight, `!document.getElementById('load-status').textContent.includes('checking')`, 60*time.Second)
		text, _ := chromedp.Run(tight, chromedp.Evaluate[string](`document.getElementById('load-status').textContent`))
		off, _ := chromedp.Run(tight, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.offlineReady`))
		if off == "1" || strings.Contains(text, "cached for offline use") {
			t.Fatalf("claims offline use with the page not stored: %s", text)
		}
		t.Logf("status with a 30 MB quota: %s", text)
		// A 17 MB model is not worth a prompt for persistent storage, on any visit.
		for visit := 0; visit < 2; visit++ {
			if n, _ := chromedp.Run(tight, chromedp.Evaluate[int](`window.persistCalls`)); n != 0 {
				t.Errorf("visit %d: persistent storage asked for %d times for a small model", visit+1, n)
			}
			chromedp.Do(tight, chromedp.Reload())
			waitLoaded(t, tight)
		}
	})

	step(t, "bad input gets clear errors and the page keeps working", func(t *testing.T) {
		notImage := filepath.Join(hf, "vocab.txt")
		if o := askUI(t, ctx, notImage, "what is this?", 5, false); o.Code != "bad_image" {
			t.Errorf("a text file: %+v", o)
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`gitvqaDemo.ask(Object.assign(document.createElement('canvas'), {width: 0, height: 0}), 'what is this?')`, chromedp.EvalAwaitPromise)); err != nil {
			t.Fatal(err)
		}
		if o := waitOutcome(t, ctx); o.Code != "empty_image" || !strings.Contains(o.Error, "0×0") {
			t.Errorf("a 0×0 canvas: %+v", o)
		}
		c := cases[0]
		if o := askUI(t, ctx, c.Path(c.Image), "   ", 5, false); o.Code != "empty_question" {
			t.Errorf("an empty question: %+v", o)
		}
		if o := askUI(t, ctx, "", strings.Repeat("why ", 20000), 5, false); o.Code != "question_too_long" {
			t.Errorf("an 80 KB question: %+v", o)
		}
		// (The page's own field refuses -1: through the API.)
		if code, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`gitvqaDemo.state.vqa.ask(Object.assign(document.createElement('canvas'), {width: 4, height: 4}), 'q', {maxTokens: -1}).then(() => 'answered', (e) => e.code)`, chromedp.EvalAwaitPromise)); code != "bad_message" {
			t.Errorf("maxTokens -1: %q", code)
		}
		for js, want := range map[string]string{
			`Object.assign(new Image(), {src: 'nope.png'})`:                                "has no picture",
			`Object.assign(document.createElement('canvas'), {width: 9000, height: 9000})`: "too large",
		} {
			if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`gitvqaDemo.ask(`+js+`, 'what is this?')`, chromedp.EvalAwaitPromise)); err != nil {
				t.Fatal(err)
			}
			if o := waitOutcome(t, ctx); o.Code != "bad_image" || !strings.Contains(o.Error, want) {
				t.Errorf("%s: %+v", js, o)
			}
		}
		if o := askUI(t, ctx, "", c.Question, c.MaxTokens, false); o.Answer != c.Answer {
			t.Errorf("after the errors: %+v, want %q", o, c.Answer)
		}
	})

	step(t, "the plain SIMD module, forced, is named simd and answers exactly", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(st.url("/?model=models/e2e/&workers=1&kernels=simd"))); err != nil {
			t.Fatal(err)
		}
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("load: %s", text)
		}
		if k, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.kernels`)); k != "simd" {
			t.Errorf("kernels %q, want simd", k)
		}
		c := cases[0]
		if o := askUI(t, ctx, c.Path(c.Image), c.Question, c.MaxTokens, c.Question == ""); o.Answer != c.Answer {
			t.Errorf("on the plain module: %+v, want %q", o, c.Answer)
		}
	})

	step(t, "cancel stops a running question and the next one works", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(onDevice(st.url("/?model=models/small/")))); err != nil {
			t.Fatal(err)
		}
		if text, ready := waitLoaded(t, ctx); !ready {
			t.Fatalf("small model: %s", text)
		}
		note, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('model-note').textContent`))
		if !strings.Contains(note, "Test model") {
			t.Errorf("the page does not say it runs a test model: %q", note)
		}
		c := cases[1]
		c2, cancel := within(ctx, 60*time.Second)
		defer cancel()
		if err := chromedp.Do(c2,
			chromedp.SetUploadFiles(chromedp.ID("file"), []string{c.Path(c.Image)}),
			chromedp.SetValue(chromedp.ID("question"), "what is it?"),
			chromedp.Poll[chromedp.Void](`!document.getElementById('ask').disabled`),
			click("ask"),
			chromedp.Poll[chromedp.Void](`!document.getElementById('compute-bar').hidden`),
			click("cancel"),
		); err != nil {
			t.Fatal(err)
		}
		if o := waitOutcome(t, c2); o.Code != "cancelled" {
			t.Fatalf("cancelled question: %+v", o)
		}
		o := askUI(t, ctx, "", "what is it?", 3, false)
		if o.Code != "" || o.Answer == "" {
			t.Fatalf("after cancel: %+v", o)
		}
		t.Logf("small model (%d bytes): %v", small.TotalBytes, o.timings())
	})

	step(t, "the cache lists models and deletes one, keeping the other's files", func(t *testing.T) {
		type entry struct {
			URL      string  `json:"url"`
			Bytes    float64 `json:"bytes"`
			Complete bool    `json:"complete"`
			Updated  float64 `json:"updated"`
		}
		list := func() []entry {
			l, err := chromedp.Run(ctx, chromedp.Evaluate[[]entry](`gitvqaDemo.cache.list().then(l => l.map(m => ({...m, updated: m.updated.getTime()})))`, chromedp.EvalAwaitPromise))
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		smallURL, e2eURL := st.url("/models/small/manifest.json"), st.url("/models/e2e/manifest.json")
		got := map[string]entry{}
		for _, e := range list() {
			got[e.URL] = e
		}
		if len(got) != 2 || !got[smallURL].Complete || got[smallURL].Bytes != float64(small.TotalBytes) || got[e2eURL].Bytes != float64(man.TotalBytes) || got[e2eURL].Updated == 0 {
			t.Fatalf("cached: %+v", got)
		}
		deleted, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`gitvqaDemo.cache.delete('models/small/')`, chromedp.EvalAwaitPromise))
		if err != nil || !deleted {
			t.Fatalf("delete: %v %v", deleted, err)
		}
		if l := list(); len(l) != 1 || l[0].URL != e2eURL {
			t.Fatalf("after the delete: %+v", l)
		}
		if h := storedHash(t, ctx, small.Chunks[0].SHA256); h != "" {
			t.Error("the deleted model's chunk is still stored")
		}
		if h := storedHash(t, ctx, man.Chunks[0].SHA256); h != man.Chunks[0].SHA256 {
			t.Error("the other model's chunk went with it")
		}
		again, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`gitvqaDemo.cache.delete('models/small/')`, chromedp.EvalAwaitPromise))
		if again {
			t.Error("deleting a model that is not cached said it was")
		}
		// With no model loaded the call starts a worker of its own.
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`gitvqaDemo.state.vqa.close()`)); err != nil {
			t.Fatal(err)
		}
		if l := list(); len(l) != 1 || l[0].URL != e2eURL {
			t.Fatalf("listed with no model loaded: %+v", l)
		}
	})

	step(t, "WebGPU, asked for: the page says the GPU runs (a software adapter here) and answers every case exactly", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(st.url("/?model=models/e2e/&device=webgpu"))); err != nil {
			t.Fatal(err)
		}
		text, ready := waitLoaded(t, ctx)
		k, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('load-status').dataset.kernels`))
		if !ready || k != "webgpu" || !strings.Contains(text, "on the GPU") || !strings.Contains(text, "software adapter") {
			t.Fatalf("kernels %q, status: %s", k, text)
		}
		waitTrue(t, ctx, `document.getElementById('load-status').dataset.workers === '1'`, 30*time.Second) // the GPU's alone
		for _, c := range cases {
			if o := askUI(t, ctx, c.Path(c.Image), c.Question, c.MaxTokens, c.Question == ""); o.Answer != c.Answer || o.Code != "" {
				t.Fatalf("%s on WebGPU: %+v, want %q", c.Name, o, c.Answer)
			}
		}
		t.Logf("status: %s", text)
	})

	step(t, "the model list switches models; a captioning model offers Describe only, and describes exactly", func(t *testing.T) {
		if err := chromedp.Do(ctx, chromedp.Navigate(st.url("/"))); err != nil {
			t.Fatal(err)
		}
		if _, ready := waitLoaded(t, ctx); !ready {
			t.Fatal("the default model did not load")
		}
		options, _ := chromedp.Run(ctx, chromedp.Evaluate[[]string](`[...document.getElementById('model-select').options].map(o => o.value + ' ' + o.textContent)`))
		if len(options) != 3 || !strings.Contains(strings.Join(options, "|"), "captions — ") || !strings.Contains(strings.Join(options, "|"), "describes pictures") {
			t.Fatalf("model list: %q", options)
		}
		if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`(() => { const s = document.getElementById('model-select'); s.value = 'models/captions/'; s.dispatchEvent(new Event('change')); })()`)); err != nil {
			t.Fatal(err)
		}
		waitTrue(t, ctx, `location.search.includes('captions')`, 10*time.Second)
		if _, ready := waitLoaded(t, ctx); !ready {
			t.Fatal("the captioning model did not load")
		}
		hidden, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById('ask').hidden && document.getElementById('question').hidden && !document.getElementById('describe').hidden`))
		if !hidden {
			t.Fatal("a captioning model still offers questions")
		}
		var c fixture.Case
		for _, k := range cases {
			if k.Question == "" {
				c = k
			}
		}
		if o := askUI(t, ctx, c.Path(c.Image), "", c.MaxTokens, true); o.Answer != c.Answer {
			t.Fatalf("caption %+v, want %q", o, c.Answer)
		}
		// The choice sticks: the next visit without ?model= loads it again.
		if err := chromedp.Do(ctx, chromedp.Navigate(st.url("/"))); err != nil {
			t.Fatal(err)
		}
		waitLoaded(t, ctx)
		if v, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.getElementById('model-select').value`)); v != "models/captions/" {
			t.Fatalf("after a reload the page chose %q", v)
		}
	})
	_ = firstLoad
}

// click presses a button through the DOM: a mouse click at computed coordinates can
// miss while the picture's preview is still changing the layout.
func click(id string) chromedp.Action[chromedp.Void] {
	return chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.getElementById(%q).click()`, id))
}

// waitTrue evaluates expr (which may return a promise) until it gives true.
func waitTrue(t testing.TB, ctx context.Context, expr string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr, chromedp.EvalAwaitPromise))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("still false after %v: %s (%v)", timeout, expr, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// storedHash reads a chunk from IndexedDB and hashes it in the page ("" if absent).
// storedCount is how many files the page's IndexedDB holds.
func storedCount(t testing.TB, ctx context.Context) int {
	t.Helper()
	n, err := chromedp.Run(ctx, chromedp.Evaluate[int](`new Promise((resolve) => {
		const req = indexedDB.open('gitvqa', 1);
		req.onerror = () => resolve(0);
		req.onsuccess = () => {
			const db = req.result;
			try {
				const c = db.transaction('chunks').objectStore('chunks').count();
				c.onsuccess = () => { db.close(); resolve(c.result); };
				c.onerror = () => { db.close(); resolve(0); };
			} catch (e) { db.close(); resolve(0); }
		};
	})`, chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func storedHash(t testing.TB, ctx context.Context, sha string) string {
	t.Helper()
	h, err := chromedp.Run(ctx, chromedp.Evaluate[string](fmt.Sprintf(`new Promise((resolve, reject) => {
		const req = indexedDB.open('gitvqa', 1);
		req.onerror = () => reject(req.error);
		req.onsuccess = () => {
			const db = req.result;
			const get = db.transaction('chunks').objectStore('chunks').get(%q);
			get.onsuccess = async () => {
				db.close();
				try {
					const v = get.result && get.result.data;
					if (!v) return resolve('');
					const d = await crypto.subtle.digest('SHA-256', await v.arrayBuffer());
					resolve([...new Uint8Array(d)].map(b => b.toString(16).padStart(2, '0')).join(''));
				} catch (e) { reject(e); }
			};
			get.onerror = () => reject(get.error);
		};
	})`, sha), chromedp.EvalAwaitPromise))
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func shot(t testing.TB, ctx context.Context) {
	out := os.Getenv("GITVQA_SCREENSHOT")
	if out == "" {
		return
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(out, png, 0o644); err != nil {
		t.Errorf("screenshot: %v", err)
	}
}

// writeJPEG re-encodes a fixture picture as a JPEG.
func writeJPEG(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := image.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(dst)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := jpeg.Encode(f, m, &jpeg.Options{Quality: 90}); err != nil {
		t.Fatal(err)
	}
}
