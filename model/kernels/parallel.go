package kernels

import (
	"runtime"
	"sync"
)

// parallelFor splits [0, n) into contiguous ranges, multiples of align where possible,
// one per available CPU. Under js/wasm GOMAXPROCS is 1 and fn runs inline.
func parallelFor(n, align int, fn func(lo, hi int)) {
	workers := runtime.GOMAXPROCS(0)
	if workers > n/align {
		workers = n / align
	}
	if workers <= 1 {
		fn(0, n)
		return
	}
	chunk := (n + workers - 1) / workers
	chunk = (chunk + align - 1) / align * align
	var wg sync.WaitGroup
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(lo, hi)
		}()
	}
	wg.Wait()
}
