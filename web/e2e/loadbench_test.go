//go:build !js

package e2e

import (
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// BenchmarkRevisit loads the full-size benchmark model into the page once, then from
// IndexedDB five times, and prints each revisit's navigation-to-ready time and phases:
// the start-up figure alone, without the questions of BenchmarkBrowser.
// go test -run XXX -bench Revisit -benchtime 1x ./web/e2e/
func BenchmarkRevisit(b *testing.B) {
	st := benchSite(b)
	defer st.stop()
	workers := benchWorkers(1, 2)
	for _, n := range workers {
		ctx := browser(b)
		page := st.url(fmt.Sprintf("/?model=models/bench/&workers=%d", n))
		start := time.Now()
		must(b, chromedp.Do(ctx, chromedp.Navigate(page)))
		if text, ok := waitLoaded(b, ctx, 30*time.Minute); !ok {
			b.Fatal(text)
		}
		fmt.Printf("%d workers, first visit: %.2f s\n", n, time.Since(start).Seconds())
		waitTrue(b, ctx, fmt.Sprintf(`document.getElementById('load-status').dataset.workers === '%d'`, n), 10*time.Minute)
		var times []float64
		for i := 0; i < 5; i++ {
			must(b, chromedp.Do(ctx, chromedp.Navigate(page)))
			if text, ok := waitLoaded(b, ctx, 30*time.Minute); !ok {
				b.Fatal(text)
			}
			ready, _ := chromedp.Run(ctx, chromedp.Evaluate[float64](`performance.now()`))
			times = append(times, ready/1000)
			ph := loadPhases(b, ctx)[0]
			fmt.Printf("%d workers, revisit %d: %.2f s %v\n", n, i+1, ready/1000, ph)
			waitTrue(b, ctx, fmt.Sprintf(`document.getElementById('load-status').dataset.workers === '%d'`, n), 10*time.Minute)
		}
		sort.Float64s(times)
		fmt.Printf("%d workers, revisit: median %.2f s (min %.2f, max %.2f)\n", n, times[2], times[0], times[4])
	}
}
