package linearizability

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

func put(key, value string, rev, create, version int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), ModRevision: rev, CreateRevision: create, Version: version}}
}

func del(key string, rev int64) *mvccpb.Event {
	return &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}}
}

// watchBase: three acked writes on /a at revisions 2..4.
func watchBase() WatchHistory {
	return WatchHistory{
		Writes: []WatchWrite{
			{Revision: 2, Events: []*mvccpb.Event{put("/a", "1", 2, 2, 1)}},
			{Revision: 3, Events: []*mvccpb.Event{put("/a", "2", 3, 2, 2)}},
			{Revision: 4, Events: []*mvccpb.Event{del("/a", 4)}},
		},
		Compactions: []int64{3},
	}
}

func watcherOf(attempts ...WatchAttempt) Watcher {
	return Watcher{Name: "w", Key: []byte("/a"), Attempts: attempts}
}

func events(evs ...*mvccpb.Event) WatchResponse {
	return WatchResponse{At: time.Unix(1, 0), Events: evs}
}

func TestCheckWatch(t *testing.T) {
	cases := []struct {
		name   string
		w      Watcher
		detail string // empty: OK
	}{
		{"all events", watcherOf(WatchAttempt{StartRevision: 2, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1), put("/a", "2", 3, 2, 2)), events(del("/a", 4))}}), ""},
		{"resume replays exactly", watcherOf(
			WatchAttempt{Member: 1, StartRevision: 2, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1))}},
			WatchAttempt{Member: 2, StartRevision: 3, Responses: []WatchResponse{events(put("/a", "2", 3, 2, 2), del("/a", 4))}}), ""},
		{"gap", watcherOf(WatchAttempt{StartRevision: 2, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1)), events(del("/a", 4))}}), "gap"},
		{"duplicate", watcherOf(WatchAttempt{StartRevision: 2, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1)), events(put("/a", "1", 2, 2, 1))}}), "duplicate or out of order"},
		{"wrong value", watcherOf(WatchAttempt{StartRevision: 2, Responses: []WatchResponse{events(put("/a", "X", 2, 2, 1))}}), "differs from the committed write"},
		{"resume skips", watcherOf(
			WatchAttempt{Member: 1, StartRevision: 2, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1))}},
			WatchAttempt{Member: 2, StartRevision: 4}), "resumed at revision 4"},
		{"progress runs ahead", watcherOf(WatchAttempt{StartRevision: 2, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1)), {Revision: 4, Progress: true}}}), "ran ahead"},
		{"compacted though not", watcherOf(WatchAttempt{StartRevision: 4, Responses: []WatchResponse{{CompactRevision: 3}}}), "which etcd still serves"},
		// etcd serves a watcher owed the compaction revision itself, live
		// or started there (its syncWatchers compacts only below it).
		{"compacted while owed the compaction revision", watcherOf(
			WatchAttempt{StartRevision: 0, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1)), {Revision: 4, CompactRevision: 3}}}), "which etcd still serves"},
		{"compacted while live, after the compaction was delivered", watcherOf(
			WatchAttempt{StartRevision: 0, Responses: []WatchResponse{events(put("/a", "1", 2, 2, 1), put("/a", "2", 3, 2, 2)), {Revision: 4, CompactRevision: 3}}}), "which etcd still serves"},
		// A live watcher owed revision 2 on a member that restores a
		// snapshot compacted at 3 is canceled as compacted, as in etcd
		// (kvsim --workload watch seed 205).
		{"compacted while live", watcherOf(
			WatchAttempt{StartRevision: 2, Responses: []WatchResponse{{Revision: 4, CompactRevision: 3}}},
			WatchAttempt{StartRevision: 4, Responses: []WatchResponse{events(del("/a", 4))}}), ""},
		{"compacted from now before anything was heard", watcherOf(WatchAttempt{StartRevision: 0, Responses: []WatchResponse{{Revision: 4, CompactRevision: 3}}}), ""},
		{"compacted right", watcherOf(WatchAttempt{StartRevision: 2, Responses: []WatchResponse{{CompactRevision: 3}}}, WatchAttempt{StartRevision: 4, Responses: []WatchResponse{events(del("/a", 4))}}), ""},
	}
	for _, c := range cases {
		h := watchBase()
		h.Watchers = []Watcher{c.w}
		v := CheckWatch(h)
		if c.detail == "" && v.Outcome != OK {
			t.Errorf("%s: want OK, got %s: %s", c.name, v.Outcome, v.Detail)
		}
		if c.detail != "" && (v.Outcome != Violation || !strings.Contains(v.Detail, c.detail)) {
			t.Errorf("%s: want violation mentioning %q, got %s: %s", c.name, c.detail, v.Outcome, v.Detail)
		}
	}
}

// TestCheckWatchFromACompactionRevision: a watcher reading a compaction
// revision after the compaction gets its changes, deletes too, without
// prev_kv, as etcd serves it; nothing may be missing there.
func TestCheckWatchFromACompactionRevision(t *testing.T) {
	h := watchBase()
	h.Writes = append(h.Writes, WatchWrite{Revision: 5, Events: []*mvccpb.Event{put("/a", "3", 5, 5, 1)}})
	h.Compactions = []int64{3, 4}
	w := watcherOf(WatchAttempt{StartRevision: 3, Responses: []WatchResponse{events(put("/a", "2", 3, 2, 2), del("/a", 4)), events(put("/a", "3", 5, 5, 1))}})
	w.PrevKV = true
	h.Watchers = []Watcher{w}
	if v := CheckWatch(h); v.Outcome != OK {
		t.Fatalf("compaction revisions 3 and 4 read without prev_kv flagged: %s", v.Detail)
	}
	h.Watchers[0].Attempts[0].Responses = []WatchResponse{events(put("/a", "2", 3, 2, 2)), events(put("/a", "3", 5, 5, 1))}
	if v := CheckWatch(h); v.Outcome != Violation || !strings.Contains(v.Detail, "gap") {
		t.Fatalf("the delete at compaction revision 4 missing not caught: %s %s", v.Outcome, v.Detail)
	}
}

func TestCheckWatchPrevKV(t *testing.T) {
	h := watchBase()
	h.Compactions = nil // after a compaction at 3 a missing prev_kv there is etcd's answer
	w := watcherOf(WatchAttempt{StartRevision: 3, Responses: []WatchResponse{events(put("/a", "2", 3, 2, 2))}})
	w.PrevKV = true
	h.Watchers = []Watcher{w}
	if v := CheckWatch(h); v.Outcome != Violation || !strings.Contains(v.Detail, "lacks prev_kv") {
		t.Fatalf("missing prev_kv not caught: %s %s", v.Outcome, v.Detail)
	}
	e := put("/a", "2", 3, 2, 2)
	e.PrevKv = put("/a", "1", 2, 2, 1).Kv
	h.Watchers[0].Attempts[0].Responses = []WatchResponse{events(e)}
	if v := CheckWatch(h); v.Outcome != OK {
		t.Fatalf("right prev_kv flagged: %s", v.Detail)
	}
	// Revision 3 unknown (its writer timed out, no watcher saw it): it may
	// have deleted /a, so a put at 4 without prev_kv is not judged; a
	// prev_kv older than the known put still is.
	h = WatchHistory{Writes: []WatchWrite{
		{Revision: 2, Events: []*mvccpb.Event{put("/a", "1", 2, 2, 1)}},
		{Revision: 4, Events: []*mvccpb.Event{put("/a", "3", 4, 4, 1)}},
	}}
	w = watcherOf(WatchAttempt{StartRevision: 4, Responses: []WatchResponse{events(put("/a", "3", 4, 4, 1))}})
	w.PrevKV = true
	h.Watchers = []Watcher{w}
	if v := CheckWatch(h); v.Outcome != OK {
		t.Fatalf("missing prev_kv after an unknown revision flagged: %s", v.Detail)
	}
	h.Writes = append(h.Writes, WatchWrite{Revision: 3, Events: []*mvccpb.Event{put("/b", "x", 3, 3, 1)}})
	if v := CheckWatch(h); v.Outcome != Violation || !strings.Contains(v.Detail, "lacks prev_kv") {
		t.Fatalf("missing prev_kv with every revision known not caught: %s %s", v.Outcome, v.Detail)
	}
}

// etcd reads prev_kv when it sends an event: a compaction at the event's
// revision or later, requested before the response arrived, may have
// removed the revision before it (kvsim real on etcd v3.7.3, watch seed 2:
// a catch-up response after a cluster restart). One requested after the
// response arrived cannot excuse it.
func TestCheckWatchPrevKVCompactedBeforeSending(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := WatchHistory{Writes: []WatchWrite{
		{Revision: 2, Events: []*mvccpb.Event{put("/a", "1", 2, 2, 1)}},
		{Revision: 3, Events: []*mvccpb.Event{put("/a", "2", 3, 2, 2)}},
		{Revision: 4, Events: []*mvccpb.Event{put("/b", "x", 4, 4, 1)}},
	}}
	resp := events(put("/a", "2", 3, 2, 2))
	resp.At = t0.Add(time.Second)
	w := watcherOf(WatchAttempt{StartRevision: 3, Responses: []WatchResponse{resp}})
	w.PrevKV = true
	h.Watchers = []Watcher{w}
	h.Compactions, h.CompactionsRequestedAt = []int64{4}, []time.Time{t0}
	if v := CheckWatch(h); v.Outcome != OK {
		t.Fatalf("missing prev_kv after a compaction at 4 requested before the response: %s", v.Detail)
	}
	h.CompactionsRequestedAt = []time.Time{t0.Add(2 * time.Second)}
	if v := CheckWatch(h); v.Outcome != Violation || !strings.Contains(v.Detail, "lacks prev_kv") {
		t.Fatalf("missing prev_kv excused by a compaction requested after the response: %s %s", v.Outcome, v.Detail)
	}
	h.Compactions, h.CompactionsRequestedAt = []int64{2}, []time.Time{t0}
	if v := CheckWatch(h); v.Outcome != Violation || !strings.Contains(v.Detail, "lacks prev_kv") {
		t.Fatalf("missing prev_kv excused by a compaction below the event's revision: %s %s", v.Outcome, v.Detail)
	}
}

// A watcher that missed the event at a compaction boundary is caught by
// the writer's acknowledgement of that revision.
func ExampleCheckWatch() {
	h := WatchHistory{
		Writes: []WatchWrite{
			{Revision: 2, Events: []*mvccpb.Event{put("/k", "a", 2, 2, 1)}},
			{Revision: 3, Events: []*mvccpb.Event{put("/k", "b", 3, 2, 2)}},
			{Revision: 4, Events: []*mvccpb.Event{put("/k", "c", 4, 2, 3)}},
		},
		Watchers: []Watcher{{Name: "w1", Key: []byte("/k"), Attempts: []WatchAttempt{{
			Member: 1, StartRevision: 2,
			Responses: []WatchResponse{{Events: []*mvccpb.Event{put("/k", "a", 2, 2, 1)}}, {Events: []*mvccpb.Event{put("/k", "c", 4, 2, 3)}}},
		}}}},
	}
	v := CheckWatch(h)
	fmt.Println(v.Outcome)
	fmt.Println(v.Detail)
	// Output:
	// violation
	// watcher w1 attempt 0 (member 1, start 2) response 1 at revision 0: gap: committed PUT "/k"="b"@3 (create 2, version 2, lease 0) was skipped (next delivered PUT "/k"="c"@4 (create 2, version 3, lease 0))
}

func BenchmarkCheckWatch(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			h := WatchHistory{}
			var got []*mvccpb.Event
			for i := range n {
				rev := int64(i + 2)
				e := put(fmt.Sprintf("/k%d", i%8), fmt.Sprint(i), rev, rev, 1)
				h.Writes = append(h.Writes, WatchWrite{Revision: rev, Events: []*mvccpb.Event{e}})
				got = append(got, e)
			}
			h.Watchers = []Watcher{{Name: "all", Key: []byte("/"), RangeEnd: []byte{0}, Attempts: []WatchAttempt{{StartRevision: 2, Responses: []WatchResponse{{Events: got}}}}}}
			for b.Loop() {
				if v := CheckWatch(h); v.Outcome != OK {
					b.Fatal(v.Detail)
				}
			}
		})
	}
}
