//go:build !js

package e2e

import (
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"gitvqa/model/fixture"
	"gitvqa/tools/serve/server"
)

// BenchmarkPictureMemory asks about the pictures named in GITVQA_BENCH_PICTURES
// (comma-separated files) through the page with the fixture model, one fresh page each,
// and prints the worker's wasm memory after each answer. For the README's fault table:
// go test -run XXX -bench PictureMemory -benchtime 1x ./web/e2e/
func BenchmarkPictureMemory(b *testing.B) {
	pics := os.Getenv("GITVQA_BENCH_PICTURES")
	if pics == "" {
		b.Skip("set GITVQA_BENCH_PICTURES")
	}
	dir, _, _ := buildSite(b, b.TempDir(), fixture.TinyDir())
	st := &site{s: server.New(dir), addr: "127.0.0.1:0"}
	st.start(b)
	defer st.stop()
	c := fixture.TinyCases(&testing.T{})[0]
	for _, pic := range append([]string{c.Path(c.Image)}, splitComma(pics)...) {
		ctx := browser(b)
		must(b, chromedp.Do(ctx, chromedp.Navigate(st.url("/?model=models/e2e/&workers=1"))))
		if text, ok := waitLoaded(b, ctx); !ok {
			b.Fatal(text)
		}
		start := time.Now()
		o := askUI(b, ctx, pic, "what is this?", 2, false)
		fmt.Printf("picture-memory %s: %q %s, wasm memory after %.0f MB, %.1f s\n", pic, o.Answer, o.Code, num(o.timings()["memoryBytes"])/(1<<20), time.Since(start).Seconds())
	}
}

func splitComma(s string) []string {
	var out []string
	for len(s) > 0 {
		i := 0
		for i < len(s) && s[i] != ',' {
			i++
		}
		out = append(out, s[:i])
		s = s[min(i+1, len(s)):]
	}
	return out
}
