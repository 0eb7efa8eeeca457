//go:build !js

package e2e

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"gitvqa/model/fixture"
	"gitvqa/tools/serve/server"
)

// The e2e core in Firefox and in WebKit, through the demo page as a user drives it: the
// first visit loads the model, every fixture case is answered exactly, a second question
// skips the image encoder, bad input gets clear errors and leaves the page usable, and a
// reload with the server gone answers offline from IndexedDB. GITVQA_ENGINES (a comma
// list: firefox, webkit) chooses which run; make test-browsers sets it and installs the
// browsers.

func TestFirefox(t *testing.T) {
	engineSuite(t, "firefox", func(t testing.TB) driver { return startFirefox(t) }, []string{"relaxed-simd"})
}

// WebKitGTK has plain SIMD but not relaxed SIMD: the worker falls back to kernels.wasm.
func TestWebKit(t *testing.T) {
	engineSuite(t, "webkit", func(t testing.TB) driver { return startWebKit(t) }, []string{"simd"})
}

type loadState struct {
	Text    string `json:"text"`
	Ready   bool   `json:"ready"`
	Kernels string `json:"kernels"`
	Offline bool   `json:"offline"`
	Workers string `json:"workers"`
	Note    string `json:"note"`
}

// waitLoadedJS waits for the demo's load line to say ready or failed.
const waitLoadedJS = `
const el = () => document.getElementById('load-status');
const t0 = Date.now();
while (!(el() && (el().dataset.ready === '1' || el().className === 'error'))) {
  if (Date.now() - t0 > 180000) throw new Error('not loaded after 3 minutes: ' + (el() ? el().textContent : 'no load line'));
  await new Promise((r) => setTimeout(r, 100));
}
// the shard workers start in the background: let them settle so that the next step
// measures a page at rest
while (el().dataset.ready === '1' && el().dataset.workers === undefined && Date.now() - t0 < 180000) {
  await new Promise((r) => setTimeout(r, 100));
}
return { text: el().textContent, ready: el().dataset.ready === '1', kernels: el().dataset.kernels || '',
  offline: el().dataset.offline === '1', workers: el().dataset.workers || '', note: el().title || '' };`

// askJS gives the demo a picture as the file input would (its bytes inline, so it works
// offline too), types the question, presses Ask (or Describe) and waits for the outcome.
func askJS(picture []byte, name, question string, maxTokens int, caption bool) string {
	q, _ := json.Marshal(question)
	n, _ := json.Marshal(name)
	button := "ask"
	if caption {
		button = "describe"
	}
	return fmt.Sprintf(`
const $ = (id) => document.getElementById(id);
const b64 = %q;
if (b64) {
  const bin = atob(b64);
  const bytes = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
  const dt = new DataTransfer();
  dt.items.add(new File([bytes], %s, { type: 'image/png' }));
  $('file').files = dt.files;
  $('file').dispatchEvent(new Event('change', { bubbles: true }));
}
$('max-tokens').value = '%d';
$('question').value = %s;
$('answer').dataset.done = '';
$('ask-error').hidden = true;
const sleep = () => new Promise((r) => setTimeout(r, 50));
const t0 = Date.now();
while ($(%q).disabled) {
  if (Date.now() - t0 > 60000) throw new Error('the %s button stayed disabled');
  await sleep();
}
$(%q).click();
while ($('answer').dataset.done !== '1' && $('ask-error').hidden) {
  if (Date.now() - t0 > 600000) throw new Error('no answer after 10 minutes');
  await sleep();
}
return {
  answer: $('answer').dataset.done === '1' ? $('answer').textContent : '',
  code: $('ask-error').hidden ? '' : ($('ask-error').dataset.code || ''),
  error: $('ask-error').hidden ? '' : $('ask-error').textContent,
  timings: JSON.parse($('timings').dataset.json || 'null'),
};`, base64.StdEncoding.EncodeToString(picture), n, maxTokens, q, button, button, button)
}

func engineSuite(t *testing.T, engine string, start func(testing.TB) driver, wantKernels []string) {
	if !slices.Contains(strings.Split(os.Getenv("GITVQA_ENGINES"), ","), engine) {
		t.Skipf("GITVQA_ENGINES does not name %s: make test-browsers runs it", engine)
	}
	cases := fixture.TinyCases(t)
	dir, _, _ := sharedSite(t)
	st := &site{s: server.New(dir), addr: "127.0.0.1:0"}
	st.s.NoStore = true // every request reaches the server: the boot's fetches are counted
	st.start(t)
	defer func() { st.stop() }()
	d := start(t)
	defer d.Close()
	page := st.url("/?model=models/e2e/")
	ask := func(t *testing.T, picture []byte, question string, maxTokens int, caption bool) outcome {
		var o outcome
		if err := d.Run(askJS(picture, "picture.png", question, maxTokens, caption), &o); err != nil {
			t.Fatal(err)
		}
		return o
	}
	read := func(t *testing.T, c fixture.Case) []byte {
		b, err := os.ReadFile(c.Path(c.Image))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	label := engine + ": "

	if !step(t, label+"first visit loads the model", func(t *testing.T) {
		if err := d.Navigate(page); err != nil {
			t.Fatal(err)
		}
		var s loadState
		if err := d.Run(waitLoadedJS, &s); err != nil {
			t.Fatal(err)
		}
		if !s.Ready {
			t.Fatalf("not ready: %s", s.Text)
		}
		if !slices.Contains(wantKernels, s.Kernels) {
			t.Errorf("kernels in use: %q, want one of %v", s.Kernels, wantKernels)
		}
		// Each worker fetches each module once, even one the browser cannot compile.
		if boots, relaxed := st.s.Count("/gitvqa.wasm"), st.s.Count("/kernels-relaxed.wasm"); boots == 0 || relaxed != boots {
			t.Errorf("%d workers booted, kernels-relaxed.wasm fetched %d times", boots, relaxed)
		}
		t.Logf("%s: kernels %s, %s workers; %s (kernels note: %q)", engine, s.Kernels, s.Workers, s.Text, s.Note)
	}) {
		t.FailNow()
	}
	for _, c := range cases {
		step(t, label+"case "+c.Name, func(t *testing.T) {
			o := ask(t, read(t, c), c.Question, c.MaxTokens, c.Question == "")
			if o.Answer != c.Answer || o.Code != "" {
				t.Fatalf("answer %q (error %q %s), want %q", o.Answer, o.Code, o.Error, c.Answer)
			}
		})
	}
	last := cases[len(cases)-1]
	step(t, label+"second question skips the image encoder", func(t *testing.T) {
		o := ask(t, nil, "is it raining?", 5, false)
		tm := o.timings()
		if o.Code != "" || tm["imageCached"] != true || tm["encodeMs"] != 0.0 || tm["imagePrefillMs"] != 0.0 {
			t.Fatalf("outcome %+v, timings %v", o, tm)
		}
	})
	step(t, label+"bad input gets clear errors and the page still answers", func(t *testing.T) {
		if o := ask(t, nil, "   ", 5, false); o.Code != "empty_question" {
			t.Errorf("a blank question: %+v", o)
		}
		if o := ask(t, []byte("this is not a picture"), "what is it?", 5, false); o.Code != "bad_image" || !strings.Contains(o.Error, "not a readable image") {
			t.Errorf("bytes that are no picture: %+v", o)
		}
		if o := ask(t, read(t, last), last.Question, last.MaxTokens, last.Question == ""); o.Answer != last.Answer {
			t.Errorf("after bad input: %+v, want %q", o, last.Answer)
		}
	})
	step(t, label+"reload answers offline from IndexedDB", func(t *testing.T) {
		if err := d.Run(`
const t0 = Date.now();
while (document.getElementById('load-status').dataset.offlineReady !== '1') {
  if (Date.now() - t0 > 60000) throw new Error('the page never said it works offline: ' + document.getElementById('load-status').textContent);
  await new Promise((r) => setTimeout(r, 100));
}`, nil); err != nil {
			t.Fatal(err)
		}
		st.stop()
		defer st.start(t)
		if err := d.Navigate(page); err != nil {
			t.Fatal(err)
		}
		var s loadState
		if err := d.Run(waitLoadedJS, &s); err != nil {
			t.Fatal(err)
		}
		if !s.Ready || !s.Offline {
			t.Fatalf("offline reload: %+v", s)
		}
		if o := ask(t, read(t, last), last.Question, last.MaxTokens, last.Question == ""); o.Answer != last.Answer {
			t.Fatalf("offline answer %+v, want %q", o, last.Answer)
		}
	})
}
