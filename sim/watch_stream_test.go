package sim

import (
	"fmt"
	"slices"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// watchScenario is a cluster with one writer and one watcher client on the
// prefix "w/" from now, pinned to the member watchOn; it records every
// event revision the watcher is handed and every acknowledged revision.
type watchScenario struct {
	*scenario
	watcher *Client
	writers []*Client
	watchOn uint64
	// got are the event revisions in the order the watcher received them.
	got []int64
	// acked are the revisions of acknowledged puts, ascending.
	acked []int64
}

func newWatchScenario(t *testing.T, seed uint64, opts Options) *watchScenario {
	t.Helper()
	restore := InstallCryptoRand(seed)
	t.Cleanup(restore)
	w := New(seed, opts)
	ws := &watchScenario{scenario: &scenario{t: t, w: w, c: NewCluster(w, ClusterOptions{})}}
	ws.watchOn = ws.waitLeader(10*time.Second, 0)
	// Several writers, so that one member's Process rounds overlap.
	for range 4 {
		cl := ws.c.NewClient(ClientOptions{})
		cl.SetTarget(ws.watchOn)
		ws.writers = append(ws.writers, cl)
	}
	ws.watcher = ws.c.NewClient(ClientOptions{})
	ws.watcher.SetTarget(ws.watchOn)
	var watchID int64 = -1
	ws.watcher.OnWatch(func(member uint64, resp *pb.WatchResponse) {
		if member != ws.watchOn || resp.WatchId != watchID && watchID != -1 {
			return
		}
		for _, e := range resp.Events {
			ws.got = append(ws.got, e.Kv.ModRevision)
		}
	})
	var created *Call
	ws.watcher.Watch(&pb.WatchCreateRequest{Key: []byte("w/"), RangeEnd: []byte("w0")}, func(c Call) { created = &c })
	for created == nil {
		if !w.Step() {
			t.Fatal("world ran dry before the watch was created")
		}
	}
	if created.Err != nil || created.TimedOut {
		t.Fatalf("watch create: err %v, timed out %v", created.Err, created.TimedOut)
	}
	watchID = created.Response.(*pb.WatchResponse).WatchId
	return ws
}

// write puts n keys through the watched member, the writers running
// concurrently, then lets the cluster settle.
func (ws *watchScenario) write(n int) {
	ws.t.Helper()
	issued, done := 0, 0
	var next func(cl *Client)
	next = func(cl *Client) {
		if issued == n {
			return
		}
		i := issued
		issued++
		cl.Do(putReq(fmt.Sprintf("w/k%d", i%5), fmt.Sprintf("v%d", i)), func(c Call) {
			done++
			if c.Err == nil && !c.TimedOut {
				ws.acked = append(ws.acked, c.Response.(*pb.PutResponse).Header.Revision)
			}
			next(cl)
		})
	}
	for _, cl := range ws.writers {
		next(cl)
	}
	for done < n {
		if !ws.w.Step() {
			ws.t.Fatalf("world ran dry with %d of %d writes done", done, n)
		}
	}
	slices.Sort(ws.acked)
	ws.w.RunFor(2 * time.Second)
}

// assertStream checks what a gRPC stream guarantees: revisions strictly
// increasing (no duplicate, no reordering) and, when complete, every
// acknowledged revision present.
func (ws *watchScenario) assertStream(complete bool) {
	ws.t.Helper()
	for i := 1; i < len(ws.got); i++ {
		if ws.got[i] <= ws.got[i-1] {
			ws.t.Fatalf("watcher received revision %d after %d (position %d of %d): a stream never duplicates or reorders",
				ws.got[i], ws.got[i-1], i, len(ws.got))
		}
	}
	if len(ws.acked) < 50 {
		ws.t.Fatalf("only %d writes acknowledged: the scenario did not exercise the stream", len(ws.acked))
	}
	seen := make(map[int64]bool, len(ws.got))
	for _, r := range ws.got {
		seen[r] = true
	}
	last := int64(0)
	if len(ws.got) > 0 {
		last = ws.got[len(ws.got)-1]
	}
	for _, r := range ws.acked {
		// Below the last delivered revision nothing may be missing: a
		// stream stalls, it never skips.
		if (complete || r < last) && !seen[r] {
			ws.t.Fatalf("acknowledged revision %d never reached the watcher (last delivered %d): gap", r, last)
		}
	}
}

// A round whose fsync takes longer must not be overtaken by the output of
// a later, cheaper round: kvd's loop sends one round's output before it
// processes the next. Seeds 53, 83, 95 of the default campaign: a watch
// response of revision N+1 left the member before that of revision N.
func TestWatchDeliveriesKeepOrderAcrossSyncCosts(t *testing.T) {
	ws := newWatchScenario(t, 53, Options{
		Network: NetworkOptions{Link: LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: time.Millisecond}},
		Disk:    DiskOptions{SyncCostBase: 100 * time.Microsecond, SyncCostJitter: 5 * time.Millisecond},
	})
	ws.write(300)
	ws.assertStream(true)
}

// A watch stream is a gRPC stream on one TCP connection: duplicated and
// reordered packets never reach the application as duplicated or reordered
// responses. Seeds 5, 29, 65 (duplicates) and 89 (reordering).
func TestWatchStreamHidesDuplicationAndReordering(t *testing.T) {
	ws := newWatchScenario(t, 29, Options{Network: NetworkOptions{Link: LinkOptions{
		LatencyBase: time.Millisecond, LatencyJitter: time.Millisecond,
		DuplicateProbability: 0.3, ReorderProbability: 0.3, ReorderDelayMax: 5 * time.Millisecond,
	}}})
	ws.write(300)
	ws.assertStream(true)
}

// A lost response breaks the connection: the watcher hears nothing more on
// it (a stall its silence detection notices), never a stream with a hole.
// After ReopenWatchStream a new watch on the same member starts a fresh,
// gap-free stream and the old connection's responses are ignored.
func TestWatchStreamLossStallsNeverSkips(t *testing.T) {
	ws := newWatchScenario(t, 95, Options{Network: NetworkOptions{Link: LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: time.Millisecond}}})
	ws.w.network.SetLink(ws.watchOn, ws.watcher.ID(), LinkOptions{LatencyBase: time.Millisecond, DropProbability: 0.05})
	ws.write(300)
	ws.assertStream(false)
	if len(ws.got) >= len(ws.acked) {
		t.Fatalf("watcher got all %d revisions through a lossy link: the loss never happened, the test proves nothing", len(ws.got))
	}

	ws.w.network.ResetLink(ws.watchOn, ws.watcher.ID())
	ws.watcher.ReopenWatchStream()
	ws.got, ws.acked = nil, nil
	var created *Call
	var watchID int64 = -1
	ws.watcher.OnWatch(func(member uint64, resp *pb.WatchResponse) {
		if member != ws.watchOn || resp.WatchId != watchID {
			return
		}
		for _, e := range resp.Events {
			ws.got = append(ws.got, e.Kv.ModRevision)
		}
	})
	ws.watcher.Watch(&pb.WatchCreateRequest{Key: []byte("w/"), RangeEnd: []byte("w0")}, func(c Call) { created = &c })
	for created == nil {
		if !ws.w.Step() {
			t.Fatal("world ran dry before the second watch was created")
		}
	}
	if created.Err != nil || created.TimedOut {
		t.Fatalf("second watch create: err %v, timed out %v", created.Err, created.TimedOut)
	}
	watchID = created.Response.(*pb.WatchResponse).WatchId
	ws.write(100)
	if len(ws.acked) < 50 {
		t.Fatalf("only %d writes acknowledged after the reopen", len(ws.acked))
	}
	ws.assertStream(true)
}
