package main

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func fanoutEvent(key string, rev int64, typ mvccpb.Event_EventType) *clientv3.Event {
	return &clientv3.Event{Type: typ, Kv: &mvccpb.KeyValue{Key: []byte(key), ModRevision: rev}}
}

func putEvent(i int, rev int64) *clientv3.Event {
	return fanoutEvent(fanoutKeyPrefix+strconv.Itoa(i), rev, mvccpb.PUT)
}

func TestFanoutTallyTimesEveryDeliveryAndCountsEveryFault(t *testing.T) {
	const puts = 3
	sent := []time.Duration{0, 50 * time.Millisecond, 100 * time.Millisecond}
	putRevs := []int64{10, 11, 12}
	ws := newFanoutWatchers(6, puts)
	ms := time.Millisecond
	// Watcher 0: every event, in order, 5 ms after its put.
	for i := range puts {
		if !ws[0].record(putEvent(i, putRevs[i]), sent[i]+5*ms) {
			t.Fatalf("watcher 0 refused put %d", i)
		}
	}
	// Watcher 1: misses put 1.
	ws[1].record(putEvent(0, 10), 7*ms)
	ws[1].record(putEvent(2, 12), 107*ms)
	// Watcher 2: put 0 twice.
	for _, i := range []int{0, 0, 1, 2} {
		ws[2].record(putEvent(i, putRevs[i]), sent[i]+5*ms)
	}
	// Watcher 3: puts 1 and 0 swapped (out of revision order).
	ws[3].record(putEvent(1, 11), 55*ms)
	ws[3].record(putEvent(0, 10), 56*ms)
	ws[3].record(putEvent(2, 12), 105*ms)
	// Watcher 4: a foreign key and a delete besides its events; put 2 at a wrong revision.
	ws[4].record(fanoutEvent("b/00000001", 9, mvccpb.PUT), ms)
	ws[4].record(fanoutEvent(fanoutKeyPrefix+"0", 10, mvccpb.DELETE), ms)
	ws[4].record(putEvent(0, 10), 5*ms)
	ws[4].record(putEvent(1, 11), 55*ms)
	ws[4].record(putEvent(2, 13), 105*ms)
	// Watcher 5: every event.
	for i := range puts {
		ws[5].record(putEvent(i, putRevs[i]), sent[i]+9*ms)
	}

	h, errs, samples := fanoutTally(ws, sent, putRevs)
	// Faults: watcher 2's duplicate, watcher 3's reordering, watcher 4's
	// foreign key and delete; watcher 1's miss; watcher 4's wrong revision.
	if errs != 6 {
		t.Errorf("%d errors, want 6: %q", errs, samples)
	}
	// Good deliveries: 3 + 2 + 3 + 3 (the reordered ones are still timed) + 2 + 3.
	if h.Count() != 16 {
		t.Errorf("%d deliveries timed, want 16", h.Count())
	}
	// Watcher 3's put 0 came 56 ms after it was sent, behind put 1.
	if h.Max() != 56*ms || h.Min() != 5*ms {
		t.Errorf("latencies %v..%v, want 5ms..56ms", h.Min(), h.Max())
	}
	joined := strings.Join(samples, "\n")
	for _, want := range []string{"delivered twice", "after revision 11", "watcher 4: 2 faults", "unexpected key", "committed at 12", "1 events never arrived (1 of 6 watchers"} {
		if !strings.Contains(joined, want) {
			t.Errorf("samples lack %q:\n%s", want, joined)
		}
	}
}

func TestFanoutTallyFailedPutIsNotRequired(t *testing.T) {
	ws := newFanoutWatchers(2, 2)
	ws[0].record(putEvent(0, 5), 3*time.Millisecond)
	ws[1].record(putEvent(0, 5), 4*time.Millisecond)
	ws[1].record(putEvent(1, 6), 60*time.Millisecond) // the put timed out but committed
	h, errs, samples := fanoutTally(ws, []time.Duration{0, 50 * time.Millisecond}, []int64{5, 0})
	if errs != 0 || h.Count() != 3 {
		t.Errorf("%d errors %q, %d timed; want 0 and 3", errs, samples, h.Count())
	}
}

// TestWatchFanoutAgainstOneMember runs the watchers configuration small
// against a real member: every watcher gets every put once.
func TestWatchFanoutAgainstOneMember(t *testing.T) {
	ep := startMember(t)
	run := Options{Load: "put", Endpoints: []string{ep}}
	run.EnsureDefaults()
	f := FanoutOptions{Watchers: 40, Conns: 4, Puts: 5, PutInterval: 10 * time.Millisecond, DeliveryTimeout: 10 * time.Second}
	r, err := runWatchFanout(t.Context(), []string{ep}, ep, &f, &run, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Errors != 0 || r.Ops != 200 || r.Load != fanoutLoad || r.Clients != 4 || r.Concurrency != 40 {
		t.Fatalf("%d deliveries, %d errors %q; result %+v", r.Ops, r.Errors, r.ErrorSample, r)
	}
	if !(0 < r.P50Ms && r.P50Ms <= r.P99Ms && r.P99Ms <= r.MaxMs) {
		t.Fatalf("inconsistent latencies %+v", r)
	}

	// Against nothing the watchers cannot open: a result of errors, not a crash.
	f.Watchers, f.Conns = 2, 1
	run.RequestTimeout = 300 * time.Millisecond
	r, err = runWatchFanout(t.Context(), []string{"http://127.0.0.1:1"}, "http://127.0.0.1:1", &f, &run, nil)
	if err != nil || r.Ops != 0 || r.Errors != 10 || len(r.ErrorSample) == 0 {
		t.Fatalf("against nothing: %v, %+v", err, r)
	}
}
