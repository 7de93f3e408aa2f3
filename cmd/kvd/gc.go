package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// kvd's heap is mostly the store itself, long-lived. Go's default GOGC of
// 100 lets the heap grow to twice the live data before collecting: a member
// holding 1M keys of 100 B sat near twice its live heap in resident memory,
// while a small store collected every few MB allocated, a cycle every few
// hundred requests. tuneGC instead keeps the collector's headroom near
// gcHeadroomBytes whatever the live heap: GOGC up to gcPercentMax while it
// is small, lower as it grows, never below gcPercentMin. An explicit GOGC
// environment variable turns the tuner off.
const (
	gcHeadroomBytes = 64 << 20
	gcPercentMin    = 25
	gcPercentMax    = 800
	gcTuneEvery     = time.Second
)

// gcPercentFor is the GOGC giving about gcHeadroomBytes of headroom over
// liveBytes, clamped to [gcPercentMin, gcPercentMax].
func gcPercentFor(liveBytes uint64) int {
	if liveBytes == 0 {
		return gcPercentMax
	}
	return int(min(max(uint64(gcHeadroomBytes)*100/liveBytes, gcPercentMin), gcPercentMax))
}

// tuneGC adjusts GOGC to the live heap once every gcTuneEvery until ctx ends.
func tuneGC(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	t := time.NewTicker(gcTuneEvery)
	defer t.Stop()
	current := gcPercentMax
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		metrics.Read(sample)
		if sample[0].Value.Kind() != metrics.KindUint64 {
			return // the runtime no longer reports it: keep Go's default
		}
		if pct := gcPercentFor(sample[0].Value.Uint64()); pct != current {
			debug.SetGCPercent(pct)
			current = pct
		}
	}
}
