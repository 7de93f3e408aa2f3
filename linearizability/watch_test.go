package linearizability

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
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

// wantVerdict checks v: OK when detail is empty, else a violation whose
// detail mentions it.
func wantVerdict(t *testing.T, name string, v Verdict, detail string) {
	t.Helper()
	if detail == "" && v.Outcome != OK {
		t.Errorf("%s: want OK, got %s: %s", name, v.Outcome, v.Detail)
	}
	if detail != "" && (v.Outcome != Violation || !strings.Contains(v.Detail, detail)) {
		t.Errorf("%s: want violation mentioning %q, got %s: %s", name, detail, v.Outcome, v.Detail)
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
		wantVerdict(t, c.name, CheckWatch(h), c.detail)
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

// A filtered watcher is owed exactly its range's events of the kinds it
// did not filter out: none filtered out, none missing.
func TestCheckWatchFilters(t *testing.T) {
	filteredWatcher := func(noPut, noDelete bool, rs ...WatchResponse) Watcher {
		w := watcherOf(WatchAttempt{StartRevision: 2, Responses: rs})
		w.NoPut, w.NoDelete = noPut, noDelete
		return w
	}
	cases := []struct {
		name   string
		w      Watcher
		detail string // empty: OK
	}{
		{"NOPUT gets the delete only", filteredWatcher(true, false, events(del("/a", 4))), ""},
		{"NOPUT promised past the puts", filteredWatcher(true, false, WatchResponse{Revision: 3, Progress: true}, events(del("/a", 4))), ""},
		{"NOPUT gets a put", filteredWatcher(true, false, events(put("/a", "1", 2, 2, 1))), "filters that kind out"},
		{"NOPUT misses the delete", filteredWatcher(true, false, WatchResponse{Revision: 4, Progress: true}), "ran ahead"},
		{"NODELETE gets the puts only", filteredWatcher(false, true, events(put("/a", "1", 2, 2, 1), put("/a", "2", 3, 2, 2)), WatchResponse{Revision: 4, Progress: true}), ""},
		{"NODELETE gets the delete", filteredWatcher(false, true, events(put("/a", "1", 2, 2, 1), put("/a", "2", 3, 2, 2)), events(del("/a", 4))), "filters that kind out"},
		{"NODELETE misses a put", filteredWatcher(false, true, events(put("/a", "2", 3, 2, 2))), "gap"},
		{"both filters get nothing", filteredWatcher(true, true, WatchResponse{Revision: 4, Progress: true}), ""},
	}
	for _, c := range cases {
		h := watchBase()
		h.Watchers = []Watcher{c.w}
		wantVerdict(t, c.name, CheckWatch(h), c.detail)
	}
}

// A cancel the client asked for is acknowledged by a Canceled response
// naming the attempt's watch id; nothing for that id may follow, and the
// other watchers of the stream stay owed every event.
func TestCheckWatchCancel(t *testing.T) {
	canceled := func(id int64) WatchResponse { return WatchResponse{Revision: 2, WatchID: id, Canceled: true} }
	withID := func(r WatchResponse, id int64) WatchResponse { r.WatchID = id; return r }
	// w is canceled after revision 2 and re-created from 3 with id 9;
	// other shares its stream and is never canceled.
	cancelThen := func(after ...WatchResponse) Watcher {
		return watcherOf(
			WatchAttempt{Member: 1, StartRevision: 2, WatchID: 7, CancelRequested: true,
				Responses: append([]WatchResponse{withID(events(put("/a", "1", 2, 2, 1)), 7), canceled(7)}, after...)},
			WatchAttempt{Member: 1, StartRevision: 3, WatchID: 9, Responses: []WatchResponse{withID(events(put("/a", "2", 3, 2, 2), del("/a", 4)), 9)}})
	}
	other := func(rs ...WatchResponse) Watcher {
		w := watcherOf(WatchAttempt{Member: 1, StartRevision: 2, WatchID: 8, Responses: rs})
		w.Name = "other"
		return w
	}
	otherAll := other(withID(events(put("/a", "1", 2, 2, 1)), 8), withID(events(put("/a", "2", 3, 2, 2), del("/a", 4)), 8))
	cases := []struct {
		name     string
		watchers []Watcher
		detail   string // empty: OK
	}{
		{"cancel acknowledged, re-created from the next revision", []Watcher{cancelThen(), otherAll}, ""},
		{"cancel still unacknowledged while events come", []Watcher{watcherOf(WatchAttempt{StartRevision: 2, WatchID: 7, CancelRequested: true,
			Responses: []WatchResponse{withID(events(put("/a", "1", 2, 2, 1)), 7), withID(events(put("/a", "2", 3, 2, 2)), 7)}})}, ""},
		{"event after the acknowledged cancel", []Watcher{cancelThen(withID(events(put("/a", "2", 3, 2, 2)), 7)), otherAll}, "still being fed"},
		{"progress after the acknowledged cancel", []Watcher{cancelThen(WatchResponse{Revision: 3, WatchID: 7, Progress: true}), otherAll}, "still being fed"},
		{"cancel acknowledged for another id", []Watcher{watcherOf(WatchAttempt{StartRevision: 2, WatchID: 7, CancelRequested: true,
			Responses: []WatchResponse{withID(events(put("/a", "1", 2, 2, 1)), 7), canceled(8)}})}, "acknowledged naming watch id 8"},
		{"the other watcher misses an event after the cancel", []Watcher{cancelThen(),
			other(withID(events(put("/a", "1", 2, 2, 1)), 8), withID(events(del("/a", 4)), 8))}, "watcher other attempt 0 (member 1, start 2) response 1 at revision 0: gap"},
		{"the other watcher is promised past what it lost", []Watcher{cancelThen(),
			other(withID(events(put("/a", "1", 2, 2, 1)), 8), WatchResponse{Revision: 4, WatchID: 8, Progress: true})}, "ran ahead"},
	}
	for _, c := range cases {
		h := watchBase()
		h.Watchers = c.watchers
		wantVerdict(t, c.name, CheckWatch(h), c.detail)
	}
}

// An event's prev_kv, when asked for, is exactly the key's version just
// before the event's revision; absent when the key did not exist then.
func TestCheckWatchPrevKVExact(t *testing.T) {
	withPrev := func(e *mvccpb.Event, prev *mvccpb.KeyValue) *mvccpb.Event { e.PrevKv = prev; return e }
	// /b at 2, /a at 3, 4, deleted at 5, re-created at 6: every revision known.
	h := WatchHistory{Writes: []WatchWrite{
		{Revision: 2, Events: []*mvccpb.Event{put("/b", "x", 2, 2, 1)}},
		{Revision: 3, Events: []*mvccpb.Event{put("/a", "1", 3, 3, 1)}},
		{Revision: 4, Events: []*mvccpb.Event{put("/a", "2", 4, 3, 2)}},
		{Revision: 5, Events: []*mvccpb.Event{del("/a", 5)}},
		{Revision: 6, Events: []*mvccpb.Event{put("/a", "3", 6, 6, 1)}},
	}}
	cases := []struct {
		name   string
		prevKV bool
		e      *mvccpb.Event
		detail string // empty: OK
	}{
		{"the previous put", true, withPrev(put("/a", "2", 4, 3, 2), put("/a", "1", 3, 3, 1).Kv), ""},
		{"its own key-value", true, withPrev(put("/a", "2", 4, 3, 2), put("/a", "2", 4, 3, 2).Kv), "not before the event's own revision"},
		{"a later version", true, withPrev(put("/a", "1", 3, 3, 1), put("/a", "2", 4, 3, 2).Kv), "not before the event's own revision"},
		{"another value at the previous revision", true, withPrev(put("/a", "2", 4, 3, 2), put("/a", "X", 3, 3, 1).Kv), "committed"},
		{"another key", true, withPrev(put("/a", "2", 4, 3, 2), put("/b", "x", 2, 2, 1).Kv), "prev_kv of key \"/b\""},
		{"never existed: absent", true, put("/a", "1", 3, 3, 1), ""},
		{"never existed: present", true, withPrev(put("/a", "1", 3, 3, 1), &mvccpb.KeyValue{Key: []byte("/a"), Value: []byte("?"), ModRevision: 2, CreateRevision: 2, Version: 1}), "not that key"},
		{"deleted: absent", true, put("/a", "3", 6, 6, 1), ""},
		{"deleted: the version before the delete", true, withPrev(put("/a", "3", 6, 6, 1), put("/a", "2", 4, 3, 2).Kv), "older than the key's committed DELETE"},
		{"the delete's prev_kv", true, withPrev(del("/a", 5), put("/a", "2", 4, 3, 2).Kv), ""},
		{"the delete without prev_kv", true, del("/a", 5), "lacks prev_kv"},
		{"not asked for", false, withPrev(put("/a", "2", 4, 3, 2), put("/a", "1", 3, 3, 1).Kv), "did not ask for"},
	}
	for _, c := range cases {
		h := h
		w := watcherOf(WatchAttempt{StartRevision: c.e.Kv.ModRevision, Responses: []WatchResponse{events(c.e)}})
		w.PrevKV = c.prevKV
		h.Watchers = []Watcher{w}
		wantVerdict(t, c.name, CheckWatch(h), c.detail)
	}
	// Revision 4 unknown (its writer timed out, no watcher saw it): a
	// prev_kv naming it is the key's version for all the checker knows;
	// one naming a known revision that wrote another key is not.
	h.Writes = slices.DeleteFunc(slices.Clone(h.Writes), func(w WatchWrite) bool { return w.Revision == 4 })
	for _, c := range []struct {
		prev   *mvccpb.KeyValue
		detail string
	}{
		{put("/a", "2", 4, 3, 2).Kv, ""},
		{put("/a", "1", 3, 3, 1).Kv, ""},
		{&mvccpb.KeyValue{Key: []byte("/a"), Value: []byte("?"), ModRevision: 2, CreateRevision: 2, Version: 1}, "older than the key's committed PUT"},
	} {
		w := watcherOf(WatchAttempt{StartRevision: 5, Responses: []WatchResponse{events(withPrev(del("/a", 5), c.prev))}})
		w.PrevKV = true
		h.Watchers = []Watcher{w}
		wantVerdict(t, "prev_kv "+describeKV(c.prev)+" after an unknown revision", CheckWatch(h), c.detail)
	}
}

// A list that succeeded is exactly the committed state at its revision;
// one that failed, or reaches a revision nobody knows, is not judged; one
// that ended without its last page (no header) is a violation: the client
// took part of the range for the whole.
func TestCheckWatchLists(t *testing.T) {
	kv := func(key, value string, create, mod, version int64) *mvccpb.KeyValue {
		return &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: create, ModRevision: mod, Version: version}
	}
	list := func(rev int64, kvs ...*mvccpb.KeyValue) WatchList {
		return WatchList{Key: []byte("/"), RangeEnd: []byte("0"),
			Response: &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: rev}, Kvs: kvs, Count: int64(len(kvs))}}
	}
	// /a: put at 2, put at 3, deleted at 4; /b: put at 5.
	base := func() WatchHistory {
		h := watchBase()
		h.Writes = append(h.Writes, WatchWrite{Revision: 5, Events: []*mvccpb.Event{put("/b", "x", 5, 5, 1)}})
		return h
	}
	for _, c := range []struct {
		name   string
		list   WatchList
		detail string // empty: OK
	}{
		{"state at 3", list(3, kv("/a", "2", 2, 3, 2)), ""},
		{"state at 4: deleted", list(4), ""},
		{"state at 5", list(5, kv("/b", "x", 5, 5, 1)), ""},
		{"failed list", WatchList{Err: "etcdserver: mvcc: required revision has been compacted"}, ""},
		{"revision nobody knows", list(9, kv("/z", "?", 9, 9, 1)), ""},
		{"missing key", list(3), `lacks key "/a"`},
		{"stale value", list(3, kv("/a", "1", 2, 2, 1)), "the committed history has"},
		{"deleted key listed", list(4, kv("/a", "2", 2, 3, 2)), "does not exist there"},
		{"count off", func() WatchList { l := list(5, kv("/b", "x", 5, 5, 1)); l.Response.Count = 2; return l }(), "counts 2 keys"},
		{"ended without its last page", WatchList{Response: &pb.RangeResponse{Kvs: []*mvccpb.KeyValue{kv("/a", "2", 2, 3, 2)}}}, "without the page that carries its header"},
	} {
		t.Run(c.name, func(t *testing.T) {
			h := base()
			h.Lists = []WatchList{c.list}
			wantVerdict(t, c.name, CheckWatch(h), c.detail)
		})
	}
}
