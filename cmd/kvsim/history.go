package main

import (
	"cmp"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/reports"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// timelineBucketsMax bounds a run's timeline, whatever its length.
const timelineBucketsMax = 120

// timeline buckets the calls by when they returned, counted from the run's
// epoch: one bucket per second for runs up to two minutes, wider ones for
// longer runs.
func timeline(calls []driver.Call, epoch time.Time, span time.Duration) []reports.Bucket {
	if len(calls) == 0 || span <= 0 {
		return nil
	}
	width := time.Second
	for span/width >= timelineBucketsMax {
		width *= 2
	}
	n := int(span/width) + 1
	buckets := make([]reports.Bucket, n)
	latencies := make([][]time.Duration, n)
	for i := range buckets {
		buckets[i].At = reports.Duration(time.Duration(i) * width)
		buckets[i].Width = reports.Duration(width)
	}
	for _, c := range calls {
		i := min(int(c.Return.Sub(epoch)/width), n-1)
		b := &buckets[i]
		switch {
		case c.TimedOut:
			b.TimedOut++
		case c.Err != nil:
			b.Failed++
		default:
			b.OK++
		}
		latencies[i] = append(latencies[i], c.Return.Sub(c.Invoke))
	}
	for i, ls := range latencies {
		if len(ls) == 0 {
			continue
		}
		slices.Sort(ls)
		buckets[i].LatencyP50 = reports.Duration(ls[len(ls)/2])
		buckets[i].LatencyMax = reports.Duration(ls[len(ls)-1])
	}
	return buckets
}

// historyCall is one client call as history.json shows it.
type historyCall struct {
	Client   uint64           `json:"client"`
	Seq      uint64           `json:"seq"`
	Member   uint64           `json:"member"`
	Invoke   reports.Duration `json:"invoke"`
	Return   reports.Duration `json:"return"`
	Request  json.RawMessage  `json:"request,omitempty"`
	Lease    int64            `json:"keepalive_lease,omitempty"`
	Response json.RawMessage  `json:"response,omitempty"`
	Error    string           `json:"error,omitempty"`
	TimedOut bool             `json:"timed_out,omitempty"`
	// Indeterminate: the call may or may not have taken effect.
	Indeterminate bool `json:"indeterminate,omitempty"`
}

// historyJSON renders every observed call, in the order they completed,
// with times counted from the run's epoch.
func historyJSON(calls []driver.Call, epoch time.Time) ([]byte, error) {
	out := make([]historyCall, len(calls))
	for i, c := range calls {
		h := historyCall{
			Client: c.Client, Seq: c.Seq, Member: c.Member,
			Invoke: reports.Duration(c.Invoke.Sub(epoch)), Return: reports.Duration(c.Return.Sub(epoch)),
			Lease: c.KeepAlive, TimedOut: c.TimedOut, Indeterminate: c.Indeterminate(),
		}
		var err error
		if c.Req != nil {
			if h.Request, err = protoJSON(c.Req); err != nil {
				return nil, err
			}
		}
		if c.Response != nil {
			if h.Response, err = protoJSON(c.Response); err != nil {
				return nil, err
			}
		}
		if c.Err != nil {
			h.Error = c.Err.Error()
		}
		out[i] = h
	}
	return json.MarshalIndent(out, "", "  ")
}

func protoJSON(m proto.Message) (json.RawMessage, error) {
	b, err := protojson.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("history: encoding %T: %w", m, err)
	}
	return b, nil
}

// faultTimeActive is the share of the time some fault in faults was on
// during which a call in calls was in flight; nil when no fault lasted.
// Both are unions of intervals, measured from epoch.
func faultTimeActive(calls []driver.Call, faults []reports.FaultWindow, epoch time.Time) *float64 {
	var faultSpans, callSpans [][2]time.Duration
	for _, f := range faults {
		if f.To > f.From {
			faultSpans = append(faultSpans, [2]time.Duration{time.Duration(f.From), time.Duration(f.To)})
		}
	}
	if len(faultSpans) == 0 {
		return nil
	}
	for _, c := range calls {
		callSpans = append(callSpans, [2]time.Duration{c.Invoke.Sub(epoch), c.Return.Sub(epoch)})
	}
	faultSpans, callSpans = union(faultSpans), union(callSpans)
	var total, active time.Duration
	for _, f := range faultSpans {
		total += f[1] - f[0]
		for _, c := range callSpans {
			if lo, hi := max(f[0], c[0]), min(f[1], c[1]); hi > lo {
				active += hi - lo
			}
		}
	}
	share := float64(active) / float64(total)
	return &share
}

// union merges overlapping intervals into disjoint ones, sorted.
func union(spans [][2]time.Duration) [][2]time.Duration {
	slices.SortFunc(spans, func(a, b [2]time.Duration) int { return cmp.Compare(a[0], b[0]) })
	var out [][2]time.Duration
	for _, s := range spans {
		if n := len(out); n > 0 && s[0] <= out[n-1][1] {
			out[n-1][1] = max(out[n-1][1], s[1])
			continue
		}
		out = append(out, s)
	}
	return out
}
