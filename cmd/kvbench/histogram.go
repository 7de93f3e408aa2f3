package main

import (
	"fmt"
	"math/bits"
	"time"
)

// Histogram records latencies in log-linear buckets, HDR style: every power
// of two is split into histSubBuckets equal sub-buckets, so any recorded
// value is known to within 1/histSubBuckets (about 1.6 %) whatever its
// magnitude, in constant memory. Max and Min are exact.
//
// The zero value is ready to use. It is not safe for concurrent use: each
// worker records into its own and the runner merges them.
type Histogram struct {
	counts [histBucketCount]uint64
	count  uint64
	sumNs  uint64
	minNs  uint64
	maxNs  uint64
}

const (
	// histSubBucketBits sets the precision: 2^6 = 64 sub-buckets per octave.
	histSubBucketBits = 6
	histSubBuckets    = 1 << histSubBucketBits
	// histOctaves covers every int64 nanosecond duration.
	histOctaves     = 64 - histSubBucketBits
	histBucketCount = (histOctaves + 1) * histSubBuckets
)

// bucketOf maps a value to its bucket: values below histSubBuckets get a
// bucket each; above, the octave picks a row and the next histSubBucketBits
// bits below the leading one pick the column.
func bucketOf(v uint64) int {
	if v < histSubBuckets {
		return int(v)
	}
	shift := bits.Len64(v) - histSubBucketBits - 1
	return (shift+1)*histSubBuckets + int(v>>shift) - histSubBuckets
}

// bucketUpperNs is the largest value that falls into bucket b.
func bucketUpperNs(b int) uint64 {
	if b < histSubBuckets {
		return uint64(b)
	}
	shift := b/histSubBuckets - 1
	sub := uint64(b%histSubBuckets + histSubBuckets)
	return (sub+1)<<shift - 1
}

// Record adds one latency; a negative one is a bug in the caller.
func (h *Histogram) Record(d time.Duration) {
	if d < 0 {
		panic(fmt.Sprintf("kvbench: negative latency %v recorded", d))
	}
	v := uint64(d)
	h.counts[bucketOf(v)]++
	if h.count == 0 || v < h.minNs {
		h.minNs = v
	}
	if v > h.maxNs {
		h.maxNs = v
	}
	h.count++
	h.sumNs += v
}

// Merge adds every value recorded in o.
func (h *Histogram) Merge(o *Histogram) {
	if o.count == 0 {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	if h.count == 0 || o.minNs < h.minNs {
		h.minNs = o.minNs
	}
	h.maxNs = max(h.maxNs, o.maxNs)
	h.count += o.count
	h.sumNs += o.sumNs
}

// Count is the number of values recorded.
func (h *Histogram) Count() uint64 { return h.count }

// Max is the largest value recorded (exact); 0 when empty.
func (h *Histogram) Max() time.Duration { return time.Duration(h.maxNs) }

// Min is the smallest value recorded (exact); 0 when empty.
func (h *Histogram) Min() time.Duration { return time.Duration(h.minNs) }

// Mean is the average value recorded; 0 when empty.
func (h *Histogram) Mean() time.Duration {
	if h.count == 0 {
		return 0
	}
	return time.Duration(h.sumNs / h.count)
}

// Quantile returns the value at quantile q in [0, 1]: the upper bound of
// the bucket holding the ceil(q*count)-th smallest value, clamped to the
// exact min and max, so it never understates a latency. 0 when empty.
func (h *Histogram) Quantile(q float64) time.Duration {
	if q < 0 || q > 1 {
		panic(fmt.Sprintf("kvbench: quantile %v outside [0, 1]", q))
	}
	if h.count == 0 {
		return 0
	}
	rank := uint64(q * float64(h.count))
	if float64(rank) < q*float64(h.count) || rank == 0 {
		rank++
	}
	var seen uint64
	for b, c := range h.counts {
		seen += c
		if seen >= rank {
			return time.Duration(min(max(bucketUpperNs(b), h.minNs), h.maxNs))
		}
	}
	panic(fmt.Sprintf("kvbench: histogram counts sum below its count %d", h.count))
}
