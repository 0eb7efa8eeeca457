package kernel

import (
	"sort"
	"time"
)

// Profiling: when on, the exported kernels add up the time they take, by kind, so a
// benchmark can say where a picture's seconds go. Off, it costs one branch a call.
var (
	profiling bool
	profile   = map[string]time.Duration{}
)

// StartProfile clears the counters and starts counting.
func StartProfile() {
	profile = map[string]time.Duration{}
	profiling = true
}

// StopProfile stops counting and returns milliseconds by kind.
func StopProfile() map[string]float64 {
	profiling = false
	out := map[string]float64{}
	keys := make([]string, 0, len(profile))
	for k := range profile {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		out[k] = float64(profile[k].Microseconds()) / 1000
	}
	return out
}

// Timed returns a func that adds the time since now to kind, when profiling: for
// work outside this package (a worker waiting for its peers, say).
func Timed(kind string) func() { return timed(kind) }

// AddProfile adds milliseconds measured elsewhere (by a peer worker) to kind.
func AddProfile(kind string, ms float64) {
	if profiling {
		profile[kind] += time.Duration(ms * float64(time.Millisecond))
	}
}

// timed returns a func that adds the time since now to kind, when profiling.
func timed(kind string) func() {
	if !profiling {
		return func() {}
	}
	start := time.Now()
	return func() { profile[kind] += time.Since(start) }
}
