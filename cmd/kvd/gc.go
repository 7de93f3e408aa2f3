package main

import (
	"context"
	"math"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"sync/atomic"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// kvd's heap is mostly the store itself, long-lived. Go's default GOGC of
// 100 lets the heap grow to twice the live data before collecting: a member
// holding 1M keys of 100 B peaked near 560 MiB resident where GOGC 25 held
// it to 390 MiB. tuneGC lowers GOGC as the store grows, so the headroom
// above the live heap stays about gcHeadroomBytes: never more than Go's
// default (a small store collects as Go would), never under gcPercentMin
// (a quarter of the live heap). An explicit GOGC environment variable turns
// this tuning off; GOMEMLIMIT (or --memory-limit-bytes) bounds the memory on
// top.
//
// The store keeps its history outside the Go heap (mvcc's history arena),
// where neither GOGC nor Go's memory limit sees it. The limit a user sets is
// for the member, so after every collection the tuner gives Go that limit
// less what the arenas hold (mvcc.MappedHistoryBytes), and never less than
// a quarter of it: a history larger than the limit makes the collector work
// harder, it does not starve the heap outright.
//
// It once gave small stores more headroom than Go's default (up to 256 MiB,
// to collect less often): measured A/B against GOGC=100 on a 3-member
// cluster (put then get, 64 in flight, 30,000 keys of 256 B, three
// alternating rounds), that held 300 MiB resident per member against 96 MiB
// and bought no throughput (put median 9,783 vs 11,285 ops/s, get 25,617 vs
// 26,646): it went. With the headroom capped, a small store sits at Go's
// default (97 MiB per member in the same load) and 1M keys of 100 B at
// GOGC 25 (390 MiB, against 560 MiB at GOGC=100), which costs put
// throughput while the store is that large (8,082 vs 10,086 ops/s loading
// the 1M keys, one run each: more collections of a larger heap).
//
// The tuner runs after every collection, not on a timer: restarting with
// 1M keys builds the store from its snapshot in about a second, and a
// tuner ticking once a second let that heap double at GOGC 100 first —
// 676 MiB peak against 390 MiB at rest.
const (
	gcHeadroomBytes = 64 << 20
	gcPercentMin    = 25
	gcPercentMax    = 100
)

// gcPercentFor is the GOGC giving about gcHeadroomBytes of headroom above
// liveBytes, within [gcPercentMin, gcPercentMax].
func gcPercentFor(liveBytes uint64) int {
	if liveBytes == 0 {
		return gcPercentMax
	}
	return int(min(max(uint64(gcHeadroomBytes)*100/liveBytes, gcPercentMin), gcPercentMax))
}

// memoryLimitBytes is the member's memory limit: --memory-limit-bytes,
// else GOMEMLIMIT's, else math.MaxInt64 (none).
var memoryLimitBytes atomic.Int64

func init() { memoryLimitBytes.Store(debug.SetMemoryLimit(-1)) }

// setMemoryLimit makes limitBytes the member's memory limit.
func setMemoryLimit(limitBytes int64) {
	memoryLimitBytes.Store(limitBytes)
	applyMemoryLimit()
}

// applyMemoryLimit gives Go the member's limit less its history arenas.
func applyMemoryLimit() {
	limit := memoryLimitBytes.Load()
	if limit == math.MaxInt64 {
		return
	}
	debug.SetMemoryLimit(max(limit-mvcc.MappedHistoryBytes(), limit/4))
}

// gcTuner sets GOGC from the live heap (when tuneGOGC) and Go's memory
// limit from the history arenas after each collection.
type gcTuner struct {
	ctx      context.Context
	tuneGOGC bool
	sample   []metrics.Sample
	current  int
	// retuned counts the collections it has run after, for tests.
	retuned atomic.Int64
}

// tuneGC adjusts GOGC (if tuneGOGC: no GOGC was given) and Go's memory
// limit after every collection until ctx ends.
func tuneGC(ctx context.Context, tuneGOGC bool) *gcTuner {
	t := &gcTuner{ctx: ctx, tuneGOGC: tuneGOGC, sample: []metrics.Sample{{Name: "/gc/heap/live:bytes"}}, current: gcPercentMax}
	t.arm()
	return t
}

// arm has the next collection call retune: a cleanup runs once its object
// is found unreachable, so an object dropped at once is a per-GC hook.
func (t *gcTuner) arm() {
	runtime.AddCleanup(new(gcCycle), func(t *gcTuner) { t.retune() }, t)
}

// gcCycle is the object whose collection marks a GC cycle; it is not
// zero-sized, as the runtime may not collect those individually.
type gcCycle struct{ _ [16]byte }

func (t *gcTuner) retune() {
	if t.ctx.Err() != nil {
		return
	}
	applyMemoryLimit()
	if t.tuneGOGC {
		metrics.Read(t.sample)
		if t.sample[0].Value.Kind() != metrics.KindUint64 {
			return // the runtime no longer reports it: keep Go's default
		}
		if pct := gcPercentFor(t.sample[0].Value.Uint64()); pct != t.current {
			debug.SetGCPercent(pct)
			t.current = pct
		}
	}
	t.retuned.Add(1)
	t.arm()
}
