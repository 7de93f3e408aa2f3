package main

import (
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
