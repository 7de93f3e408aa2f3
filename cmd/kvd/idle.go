package main

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"
	"time"
)

// A member's heap between collections holds its live data plus up to the
// collector's headroom of garbage (GOGC, tuned in gc.go), and Go keeps
// that headroom resident after the load that made it is over: Go's
// scavenger returns only what lies beyond the next collection's goal. Once
// the member goes quiet the idle releaser runs one collection and returns
// every free page to the OS (debug.FreeOSMemory), so a quiet member holds
// what it stores: after 1M keys of 100 B, 304 MiB resident against 353
// MiB without it (kvbench vs --mem-only, largest member, 5 s after the
// last write).
//
// It costs one collection of the live heap (about 0.3 s of CPU at 1M
// keys), taken while the member is quiet, and the page faults of growing
// the heap again when the load comes back. It releases at most once per
// idleReleaseBytesMin allocated, so a member that is never quite quiet
// pays it no more often than a collector with that much headroom would.
const (
	// idleSampleInterval is how often allocation is sampled.
	idleSampleInterval = time.Second
	// idleQuietSamples intervals in a row with less than
	// idleAllocBytesPerSampleMax allocated make the member quiet; an idle
	// 3-member cluster allocates a few KiB a second on heartbeats.
	idleQuietSamples           = 2
	idleAllocBytesPerSampleMax = 1 << 20
	// idleReleaseBytesMin: a release must be able to return at least this
	// much (garbage and free heap), and at least this much must have been
	// allocated since the last one.
	idleReleaseBytesMin = 32 << 20
)

// idleReleases counts the releases, for /metrics.
var idleReleases atomic.Int64

// memorySample is what the releaser reads of the runtime.
type memorySample struct {
	allocBytes   uint64 // allocated since the process started
	objectBytes  uint64 // heap objects, garbage not yet swept included
	liveBytes    uint64 // heap marked live by the last collection
	freeBytes    uint64 // free heap Go still holds resident
	releaseBytes uint64 // objectBytes-liveBytes+freeBytes: what a release returns
}

// newMemorySamples is what readMemorySample reads, in its order.
func newMemorySamples() []metrics.Sample {
	return []metrics.Sample{
		{Name: "/gc/heap/allocs:bytes"},
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
}

func readMemorySample(s []metrics.Sample) memorySample {
	metrics.Read(s)
	v := func(i int) uint64 {
		if s[i].Value.Kind() != metrics.KindUint64 {
			return 0 // not reported by this runtime: the releaser never acts on it
		}
		return s[i].Value.Uint64()
	}
	m := memorySample{allocBytes: v(0), objectBytes: v(1), liveBytes: v(2), freeBytes: v(3)}
	if m.objectBytes > m.liveBytes {
		m.releaseBytes = m.objectBytes - m.liveBytes
	}
	m.releaseBytes += m.freeBytes
	return m
}

// idleReleaser decides, one sample at a time, when to release.
type idleReleaser struct {
	quiet int // samples in a row below idleAllocBytesPerSampleMax
	// lastAllocBytes is the previous sample's; releasedAllocBytes the
	// allocation count at the last release.
	lastAllocBytes, releasedAllocBytes uint64
	started                            bool
}

// observe takes the next sample and reports whether to release now.
func (r *idleReleaser) observe(m memorySample) bool {
	if !r.started {
		r.started, r.lastAllocBytes = true, m.allocBytes
		return false
	}
	if m.allocBytes-r.lastAllocBytes < idleAllocBytesPerSampleMax {
		r.quiet++
	} else {
		r.quiet = 0
	}
	r.lastAllocBytes = m.allocBytes
	if r.quiet < idleQuietSamples || m.allocBytes-r.releasedAllocBytes < idleReleaseBytesMin || m.releaseBytes < idleReleaseBytesMin {
		return false
	}
	r.releasedAllocBytes = m.allocBytes
	return true
}

// releaseWhenIdle samples every idleSampleInterval until ctx ends, and
// releases the heap's headroom to the OS when the member is quiet.
func releaseWhenIdle(ctx context.Context) {
	s := newMemorySamples()
	var r idleReleaser
	t := time.NewTicker(idleSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if r.observe(readMemorySample(s)) {
			debug.FreeOSMemory()
			idleReleases.Add(1)
		}
	}
}
