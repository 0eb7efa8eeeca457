//go:build !js

package e2e

import (
	"context"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gitvqa/model/convert"
	"gitvqa/model/fixture"
	"gitvqa/tools/serve/server"
)

// TestBundledPackage runs the scratch app that make test-package built: gitvqa's npm
// tarball installed into it, bundled by Vite with the assets copied as the package's
// README says. Every fixture case must come back with Hugging Face's token ids. It
// needs that build (GITVQA_PACKAGE_APP: the app's dist folder), so only make
// test-package runs it.
func TestBundledPackage(t *testing.T) {
	app := os.Getenv("GITVQA_PACKAGE_APP")
	if app == "" {
		t.Skip("GITVQA_PACKAGE_APP is unset: make test-package builds the app and runs this")
	}
	// The bundle holds the app's code, not a copy of vqa.js made from a
	// new URL('…', import.meta.url) the bundler took for an asset.
	if copies, _ := filepath.Glob(filepath.Join(app, "assets", "vqa*")); len(copies) > 0 {
		t.Errorf("the bundler copied vqa.js as an asset: %v", copies)
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(app)); err != nil {
		t.Fatal(err)
	}
	in, closeSrc, err := convert.OpenFolder(fixture.TinyDir())
	if err != nil {
		t.Fatal(err)
	}
	defer closeSrc()
	if _, err := convert.Convert(in, filepath.Join(dir, "models", "e2e"), convert.Options{DType: "f32"}); err != nil {
		t.Fatal(err)
	}
	cases := fixture.TinyCases(t)
	st := &site{s: server.New(dir), addr: "127.0.0.1:0"}
	st.start(t)
	defer st.stop()
	ctx := browser(t)
	for _, c := range cases {
		step(t, "bundled package: case "+c.Name, func(t *testing.T) {
			img, err := os.ReadFile(c.Path(c.Image))
			if err != nil {
				t.Fatal(err)
			}
			name := c.Name + "-" + c.Image
			os.WriteFile(filepath.Join(dir, name), img, 0o644)
			q := url.Values{"model": {"models/e2e/"}, "image": {name}, "q": {c.Question}, "max": {strconv.Itoa(c.MaxTokens)}}
			type outcome struct {
				Text           string `json:"text"`
				IDs            []int  `json:"ids"`
				Kernels        string `json:"kernels"`
				Code           string `json:"code"`
				ProgressEvents int    `json:"progressEvents"`
			}
			c2, cancel := context.WithTimeout(ctx, 90*time.Second)
			defer cancel()
			if err := chromedp.Do(c2, chromedp.Navigate(st.url("/index.html?"+q.Encode()))); err != nil {
				t.Fatal(err)
			}
			if _, err := chromedp.Run(c2, chromedp.Poll[bool](`!!window.outcome`, chromedp.WithPollingInterval(100*time.Millisecond))); err != nil {
				t.Fatal(err)
			}
			out, err := chromedp.Run(c2, chromedp.Evaluate[outcome](`window.outcome`))
			if err != nil {
				t.Fatal(err)
			}
			if out.Code != "" || !reflect.DeepEqual(out.IDs, c.GeneratedIDs) || out.Text != c.Answer {
				t.Fatalf("outcome %+v, want ids %v (%q)", out, c.GeneratedIDs, c.Answer)
			}
			if out.Kernels != "relaxed-simd" || out.ProgressEvents == 0 {
				t.Fatalf("kernels %q, %d progress events: want the relaxed SIMD module and load progress", out.Kernels, out.ProgressEvents)
			}
		})
	}
}
