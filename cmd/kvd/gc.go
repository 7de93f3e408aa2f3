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
// hundred requests, each one slowing the member loop while it ran. tuneGC
// instead gives the collector a headroom that shrinks as the store grows:
// gcHeadroomMaxBytes minus the live heap, never less than
// gcHeadroomMinBytes, and GOGC within [gcPercentMin, gcPercentMax]. A small
// store may so reach about 256 MiB before a collection; a large one stays
// within a quarter of its live size. An explicit GOGC environment variable
// turns the tuner off.
const (
	gcHeadroomMaxBytes = 256 << 20
	gcHeadroomMinBytes = 64 << 20
	gcPercentMin       = 25
	gcPercentMax       = 3200
	gcTuneEvery        = time.Second
)

// gcPercentFor is the GOGC giving the headroom above for liveBytes.
func gcPercentFor(liveBytes uint64) int {
	if liveBytes == 0 {
		return gcPercentMax
	}
	headroom := uint64(gcHeadroomMinBytes)
	if liveBytes < gcHeadroomMaxBytes-gcHeadroomMinBytes {
		headroom = gcHeadroomMaxBytes - liveBytes
	}
	return int(min(max(headroom*100/liveBytes, gcPercentMin), gcPercentMax))
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
