package watch

import (
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// only returns the single queued response, failing if there is not exactly one.
func only(t *testing.T, h *Hub) Delivery {
	t.Helper()
	ds := h.Drain()
	must.Len(t, ds, 1, "queued: %v", ds)
	return ds[0]
}

// eventRevs lists the (revision, key) of every event in the deliveries.
func eventKeys(ds []Delivery) []string {
	var out []string
	for _, d := range ds {
		for _, ev := range d.Response.Events {
			out = append(out, ev.Type.String()+" "+string(ev.Kv.Key))
		}
	}
	return out
}

func TestWatchQueuesCreatedResponse(t *testing.T) {
	h, f := newFakeHub(Options{})
	f.put("a", "1") // rev 2

	id, err := h.Watch(7, watchReq("a", "", 0))
	must.NoError(t, err)
	must.Equal(t, int64(0), id, "etcd's automatic ids start at 0")
	d := only(t, h)
	must.Equal(t, int64(7), d.StreamID)
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 2}, WatchId: 0, Created: true}, d.Response), "%v", d.Response)

	id, err = h.Watch(7, watchReq("a", "", 0))
	must.NoError(t, err)
	must.Equal(t, int64(1), id)
	must.Equal(t, 2, h.WatcherCount())
}

func TestWatchIDs(t *testing.T) {
	h, _ := newFakeHub(Options{})
	req := watchReq("a", "", 0)

	req.WatchId = 1
	id, err := h.Watch(1, req)
	must.NoError(t, err)
	must.Equal(t, int64(1), id)

	req.WatchId = 0
	id, err = h.Watch(1, req)
	must.NoError(t, err)
	must.Equal(t, int64(0), id)
	id, err = h.Watch(1, req)
	must.NoError(t, err)
	must.Equal(t, int64(2), id, "automatic ids skip ids the client chose")

	// Ids are per stream.
	req.WatchId = 1
	_, err = h.Watch(2, req)
	must.NoError(t, err)
	h.Drain()

	_, err = h.Watch(1, req)
	must.ErrorIs(t, err, ErrWatcherDuplicateID)
	d := only(t, h)
	must.True(t, proto.Equal(&pb.WatchResponse{
		Header: &pb.ResponseHeader{Revision: 1}, WatchId: -1, Created: true, Canceled: true,
		CancelReason: "mvcc: duplicate watch ID provided on the WatchStream",
	}, d.Response), "%v", d.Response)
	must.Equal(t, 4, h.WatcherCount())

	req.WatchId = -3
	_, err = h.Watch(1, req)
	must.ErrorIs(t, err, ErrInvalidWatchRequest)
}

func TestWatchRejects(t *testing.T) {
	cases := []struct {
		name string
		req  *pb.WatchCreateRequest
		want error
	}{
		{"empty range", watchReq("b", "a", 0), ErrEmptyWatcherRange},
		{"range end equal to key", watchReq("b", "b", 0), ErrEmptyWatcherRange},
		// etcd refuses it as compacted, with that error's message.
		{"negative start revision", watchReq("a", "", -1), ErrStartRevisionNegative},
		{"nil request", nil, ErrInvalidWatchRequest},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h, _ := newFakeHub(Options{})
			_, err := h.Watch(1, c.req)
			must.ErrorIs(t, err, c.want)
			d := only(t, h)
			must.True(t, d.Response.Created && d.Response.Canceled)
			must.Equal(t, c.want.Error(), d.Response.CancelReason)
			must.Equal(t, int64(-1), d.Response.WatchId)
			must.Zero(t, h.WatcherCount())
		})
	}
}

func TestWatchersPerStreamMax(t *testing.T) {
	h, _ := newFakeHub(Options{WatchersPerStreamMax: 2})
	for range 2 {
		_, err := h.Watch(1, watchReq("a", "", 0))
		must.NoError(t, err)
	}
	_, err := h.Watch(1, watchReq("a", "", 0))
	must.ErrorIs(t, err, ErrTooManyWatchers)
	_, err = h.Watch(2, watchReq("a", "", 0))
	must.NoError(t, err, "the limit is per stream")
	must.NoError(t, h.Cancel(1, 0))
	_, err = h.Watch(1, watchReq("a", "", 0))
	must.NoError(t, err, "a cancel frees a slot")
}

func TestCancel(t *testing.T) {
	h, f := newFakeHub(Options{})
	id, err := h.Watch(1, watchReq("a", "", 0))
	must.NoError(t, err)
	f.put("a", "1")
	must.NoError(t, h.Cancel(1, id))
	f.put("a", "2")

	ds := h.Drain()
	must.Len(t, ds, 3)
	must.True(t, ds[0].Response.Created)
	must.Equal(t, []string{"PUT a"}, eventKeys(ds[1:2]))
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 2}, WatchId: id, Canceled: true}, ds[2].Response), "%v", ds[2].Response)
	must.Zero(t, h.WatcherCount())

	must.ErrorIs(t, h.Cancel(1, id), ErrWatcherNotExist)
	must.ErrorIs(t, h.Cancel(9, 0), ErrWatcherNotExist)
	must.Empty(t, h.Drain())
}

func TestRanges(t *testing.T) {
	h, f := newFakeHub(Options{})
	watches := []struct {
		key, end string
		want     []string
	}{
		{"ab", "", []string{"PUT ab"}},
		{"a", "b", []string{"PUT a", "PUT ab", "PUT a\xff"}},               // prefix "a"
		{"ab", "\x00", []string{"PUT ab", "PUT a\xff", "PUT b", "PUT zz"}}, // from key "ab"
		{"a\xff", "zz", []string{"PUT a\xff", "PUT b"}},
		{"\x00", "\x00", []string{"PUT a", "PUT ab", "PUT a\xff", "PUT b", "PUT zz"}},
	}
	for i, w := range watches {
		req := watchReq(w.key, w.end, 0)
		req.WatchId = int64(i + 1)
		_, err := h.Watch(1, req)
		must.NoError(t, err)
	}
	h.Drain()
	for _, k := range []string{"a", "ab", "a\xff", "b", "zz"} {
		f.put(k, "v")
	}
	got := map[int64][]string{}
	for _, d := range h.Drain() {
		got[d.Response.WatchId] = append(got[d.Response.WatchId], eventKeys([]Delivery{d})...)
	}
	for i, w := range watches {
		must.Equal(t, w.want, got[int64(i+1)], "watch %q..%q", w.key, w.end)
	}
}

func TestFiltersAndPrevKV(t *testing.T) {
	h, f := newFakeHub(Options{})
	plain := watchReq("k", "", 0)
	plain.WatchId = 1
	noPut := watchReq("k", "", 0)
	noPut.WatchId = 2
	noPut.Filters = []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NOPUT}
	noDelete := watchReq("k", "", 0)
	noDelete.WatchId = 3
	noDelete.Filters = []pb.WatchCreateRequest_FilterType{pb.WatchCreateRequest_NODELETE}
	prev := watchReq("k", "", 0)
	prev.WatchId = 4
	prev.PrevKv = true
	for _, req := range []*pb.WatchCreateRequest{plain, noPut, noDelete, prev} {
		_, err := h.Watch(1, req)
		must.NoError(t, err)
	}
	h.Drain()

	f.put("k", "1")
	f.put("k", "2")
	f.del("k")
	shared := proto.Clone(&pb.WatchResponse{Events: f.m.log}).(*pb.WatchResponse)

	got := map[int64][]*mvccpb.Event{}
	for _, d := range h.Drain() {
		got[d.Response.WatchId] = append(got[d.Response.WatchId], d.Response.Events...)
	}
	must.Equal(t, []string{"PUT k", "PUT k", "DELETE k"}, eventKeys([]Delivery{{Response: &pb.WatchResponse{Events: got[1]}}}))
	must.Equal(t, []string{"DELETE k"}, eventKeys([]Delivery{{Response: &pb.WatchResponse{Events: got[2]}}}))
	must.Equal(t, []string{"PUT k", "PUT k"}, eventKeys([]Delivery{{Response: &pb.WatchResponse{Events: got[3]}}}))
	for _, ev := range got[1] {
		must.Nil(t, ev.PrevKv, "prev_kv not asked for")
	}
	must.Nil(t, got[4][0].PrevKv, "the first put has no previous version")
	must.Equal(t, "1", string(got[4][1].PrevKv.Value))
	must.Equal(t, "2", string(got[4][2].PrevKv.Value))
	must.True(t, proto.Equal(shared, &pb.WatchResponse{Events: f.m.log}), "the committed events were mutated")
}

func TestFutureStartRevision(t *testing.T) {
	h, f := newFakeHub(Options{})
	_, err := h.Watch(1, watchReq("a", "", 4))
	must.NoError(t, err)
	must.False(t, h.CatchUp(), "a future watcher is synced")
	h.Drain()
	f.put("a", "2") // rev 2
	f.put("a", "3") // rev 3
	must.Empty(t, h.Drain())
	f.put("a", "4") // rev 4
	d := only(t, h)
	must.Equal(t, int64(4), d.Response.Events[0].Kv.ModRevision)
}

func TestCatchUpInBoundedBatches(t *testing.T) {
	h, f := newFakeHub(Options{CatchUpEventsMax: 2})
	for i := range 5 {
		f.put("a", string(rune('0'+i))) // revs 2..6
	}
	f.write(op{put: true, key: []byte("a"), value: []byte("x")}, op{put: true, key: []byte("ab"), value: []byte("y")}, op{put: true, key: []byte("ac"), value: []byte("z")}) // rev 7
	_, err := h.Watch(1, watchReq("a", "b", 2))
	must.NoError(t, err)
	h.Drain()

	var batches [][]int64
	for more := true; more; {
		more = h.CatchUp()
		for _, d := range h.Drain() {
			var revs []int64
			for _, ev := range d.Response.Events {
				revs = append(revs, ev.Kv.ModRevision)
			}
			batches = append(batches, revs)
			must.Equal(t, int64(7), d.Response.Header.Revision, "catch-up responses carry the current revision, as etcd's")
		}
		must.True(t, len(batches) < 10, "CatchUp does not terminate")
	}
	must.Equal(t, [][]int64{{2, 3}, {4, 5}, {6, 7, 7, 7}}, batches, "batches hold whole revisions, at most the limit unless one revision is larger")

	f.put("ab", "new")
	d := only(t, h)
	must.Equal(t, int64(8), d.Response.Events[0].Kv.ModRevision, "the caught-up watcher is synced")
}

func TestCompacted(t *testing.T) {
	h, f := newFakeHub(Options{})
	for i := range 4 {
		f.put("a", string(rune('0'+i))) // revs 2..5
	}
	f.compact(3)
	old, err := h.Watch(1, watchReq("a", "", 2))
	must.NoError(t, err)
	// etcd serves a watch from the compaction revision itself.
	ok, err := h.Watch(1, watchReq("a", "", 3))
	must.NoError(t, err)
	must.Len(t, h.Drain(), 2, "created responses come first, as in etcd")

	must.False(t, h.CatchUp())
	ds := h.Drain()
	must.Len(t, ds, 2)
	// etcd's compacted response carries a header without a revision.
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{}, WatchId: old, Canceled: true, CompactRevision: 3}, ds[0].Response), "%v", ds[0].Response)
	must.Equal(t, ok, ds[1].Response.WatchId)
	must.Equal(t, []string{"PUT a", "PUT a", "PUT a"}, eventKeys(ds[1:]))
	must.Equal(t, int64(3), ds[1].Response.Events[0].Kv.ModRevision)
	must.Equal(t, 1, h.WatcherCount(), "the compacted watcher is gone")
	must.ErrorIs(t, h.Cancel(1, old), ErrWatcherNotExist)
}

func TestCompactedWhileCatchingUp(t *testing.T) {
	h, f := newFakeHub(Options{CatchUpEventsMax: 1})
	for i := range 4 {
		f.put("a", string(rune('0'+i))) // revs 2..5
	}
	id, err := h.Watch(1, watchReq("a", "", 2))
	must.NoError(t, err)
	must.True(t, h.CatchUp())
	f.compact(4)
	must.False(t, h.CatchUp())
	ds := h.Drain()
	must.Len(t, ds, 3)
	must.Equal(t, []string{"PUT a"}, eventKeys(ds[1:2]))
	must.Equal(t, int64(4), ds[2].Response.CompactRevision)
	must.True(t, ds[2].Response.Canceled)
	must.Equal(t, id, ds[2].Response.WatchId)
}

func TestRequestProgress(t *testing.T) {
	h, f := newFakeHub(Options{CatchUpEventsMax: 1})
	f.put("a", "1")
	f.put("a", "2") // rev 3
	_, err := h.Watch(1, watchReq("a", "", 0))
	must.NoError(t, err)
	h.Drain()

	h.RequestProgress(1)
	d := only(t, h)
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 3}, WatchId: -1}, d.Response), "%v", d.Response)

	_, err = h.Watch(1, watchReq("a", "", 2)) // unsynced
	must.NoError(t, err)
	h.Drain()
	h.RequestProgress(1)
	h.RequestProgress(1)
	must.Empty(t, h.Drain(), "no progress while a watcher is unsynced")
	must.True(t, h.CatchUp())
	must.Len(t, h.Drain(), 1, "one event batch, no progress yet")
	must.False(t, h.CatchUp())
	ds := h.Drain()
	must.Len(t, ds, 2, "the last batch, then one progress response for both requests")
	must.Equal(t, int64(3), ds[0].Response.Events[0].Kv.ModRevision)
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 3}, WatchId: -1}, ds[1].Response), "%v", ds[1].Response)

	h.RequestProgress(2)
	must.Equal(t, int64(2), only(t, h).StreamID, "a stream without watchers is trivially synced")
}

func TestProgressNotify(t *testing.T) {
	h, f := newFakeHub(Options{})
	f.put("a", "1")
	quiet := watchReq("a", "", 0)
	loud := watchReq("a", "", 0)
	loud.ProgressNotify = true
	lagging := watchReq("a", "", 1)
	lagging.ProgressNotify = true
	for _, req := range []*pb.WatchCreateRequest{quiet, loud, lagging} {
		_, err := h.Watch(1, req)
		must.NoError(t, err)
	}
	h.Drain()
	h.ProgressNotify()
	d := only(t, h)
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 2}, WatchId: 1}, d.Response), "%v", d.Response)
}

// A watcher starting beyond the next revision (a lagging member, or a
// start in the future) gets no progress response below its start: clients
// resume from a progress revision + 1, so a progress at revision 1 to a
// watcher that asked for revision 4 would make it resume at 2 — the kvsim
// watch seeds 25, 88, 120, 172 (etcd issue 20221, fixed in etcd 3.6/3.7).
func TestNoProgressBelowStartRevision(t *testing.T) {
	h, f := newFakeHub(Options{})
	future := watchReq("a", "", 4)
	future.ProgressNotify = true
	_, err := h.Watch(1, future)
	must.NoError(t, err)
	h.Drain()

	h.ProgressNotify()
	h.RequestProgress(1)
	must.Empty(t, h.Drain(), "at revision 1 every progress response would promise less than revision 4")

	f.put("b", "2") // rev 2: still two short of the start
	must.Empty(t, h.Drain(), "the deferred request waits")
	f.put("b", "3") // rev 3 = start - 1: nothing the watcher asked for is missing
	d := only(t, h)
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 3}, WatchId: -1}, d.Response), "the deferred request is answered once revision 3 commits: %v", d.Response)

	h.ProgressNotify()
	d = only(t, h)
	must.True(t, proto.Equal(&pb.WatchResponse{Header: &pb.ResponseHeader{Revision: 3}, WatchId: 0}, d.Response), "%v", d.Response)
}

func TestPendingResponsesMaxMovesWatchersToUnsynced(t *testing.T) {
	h, f := newFakeHub(Options{PendingResponsesMax: 3})
	_, err := h.Watch(1, watchReq("a", "", 0))
	must.NoError(t, err)
	_, err = h.Watch(2, watchReq("a", "", 0))
	must.NoError(t, err)
	h.Drain()
	// Values too large for two to share a response: one response each.
	big := strings.Repeat("v", mergedResponseBytesMax/2+1)
	for i := range 6 {
		f.put("a", string(rune('0'+i))+big) // revs 2..7
	}
	ds := h.Drain()
	var perStream [3]int
	for _, d := range ds {
		perStream[d.StreamID]++
	}
	must.Equal(t, [3]int{0, 3, 3}, perStream, "each stream stops at its limit")
	must.False(t, h.CatchUp(), "both streams drained: one batch catches each watcher up")
	ds = h.Drain()
	must.Len(t, ds, 2, "one catch-up batch per stream")
	for _, d := range ds {
		must.Len(t, d.Response.Events, 3)
		must.Equal(t, int64(5), d.Response.Events[0].Kv.ModRevision, "catch-up resumes at the first missed revision")
	}
	f.put("a", "x")
	must.Len(t, h.Drain(), 2, "both watchers are synced again")
}

// Revisions notified between two Drains reach a watcher in one response,
// unless a response without events was queued on its stream in between.
func TestEventsOfSeveralRevisionsShareAResponse(t *testing.T) {
	h, f := newFakeHub(Options{})
	_, err := h.Watch(1, watchReq("a", "\x00", 0))
	must.NoError(t, err)
	_, err = h.Watch(2, watchReq("a", "", 0))
	must.NoError(t, err)
	h.Drain()
	f.put("a", "1")
	f.put("b", "1")
	rev := f.put("a", "2")
	ds := h.Drain()
	must.Len(t, ds, 2, "one response per watcher: %v", ds)
	for _, d := range ds {
		must.Equal(t, rev, d.Response.Header.Revision, "the header carries the last revision")
	}
	must.Equal(t, []string{"PUT a", "PUT b", "PUT a", "PUT a", "PUT a"}, eventKeys(ds))

	f.put("a", "3")
	h.RequestProgress(1) // all synced: answered at once, and nothing may pass it
	f.put("a", "4")
	_, err = h.Watch(2, watchReq("c", "", 0)) // a created response on stream 2
	must.NoError(t, err)
	f.put("a", "5")
	var got []string
	for _, d := range h.Drain() {
		var revs []int64
		for _, ev := range d.Response.Events {
			revs = append(revs, ev.Kv.ModRevision)
		}
		got = append(got, fmt.Sprintf("%d/%d %v", d.StreamID, d.Response.WatchId, revs))
	}
	must.Equal(t, []string{
		"1/0 [5]", "2/0 [5 6]", "1/-1 []", "1/0 [6 7]", "2/1 []", "2/0 [7]",
	}, got)
}

// A held stream's responses stay in the hub across Drains, where later
// revisions join each watcher's response; releasing it hands them over in
// order, one per watcher. Other streams are drained as before.
func TestHeldStreamMergesAcrossDrains(t *testing.T) {
	h, f := newFakeHub(Options{})
	for _, sid := range []int64{1, 2} {
		_, err := h.Watch(sid, watchReq("a", "\x00", 0))
		must.NoError(t, err)
		_, err = h.Watch(sid, watchReq("b", "", 0))
		must.NoError(t, err)
	}
	h.Drain()
	f.put("a", "1")
	h.Hold(1, true)
	h.Hold(9, true) // unknown: no-op
	got := h.Drain()
	must.Len(t, got, 2, "what was queued before the hold still leaves: %v", got)
	for rev := range 5 {
		f.put("a", fmt.Sprint(rev))
		f.put("b", fmt.Sprint(rev))
		for _, d := range h.Drain() {
			must.Equal(t, int64(2), d.StreamID, "a held stream sends nothing")
		}
	}
	rev := f.put("a", "last")
	h.Hold(1, false)
	ds := h.Drain()
	must.Len(t, ds, 3, "stream 1: one response per watcher; stream 2: the last revision: %v", ds)
	var stream1 []string
	for _, d := range ds {
		if d.StreamID != 1 {
			continue
		}
		evs := d.Response.Events
		stream1 = append(stream1, fmt.Sprintf("%d:%d@%d", d.Response.WatchId, len(evs), d.Response.Header.Revision))
	}
	must.Equal(t, []string{fmt.Sprintf("0:11@%d", rev), fmt.Sprintf("1:5@%d", rev-1)}, stream1,
		"each watcher's events in one response, headed by its last revision")
	f.put("a", "after")
	must.Len(t, h.Drain(), 2, "released: every Drain hands out again")
}

// A hold does not lift PendingResponsesMax: watchers that pass it on a held
// stream fall back to history and catch up once the hold is released.
func TestHeldStreamStopsAtPendingResponsesMax(t *testing.T) {
	h, f := newFakeHub(Options{PendingResponsesMax: 2, CatchUpEventsMax: 100})
	_, err := h.Watch(1, watchReq("a", "", 0))
	must.NoError(t, err)
	h.Drain()
	h.Hold(1, true)
	big := strings.Repeat("v", mergedResponseBytesMax/2+1) // one value per response
	for i := range 5 {
		f.put("a", fmt.Sprint(i)+big) // revs 2..6
	}
	must.Len(t, h.Drain(), 0)
	must.True(t, h.CatchUp(), "the watcher is unsynced, its held stream full")
	h.Hold(1, false)
	ds := h.Drain()
	must.Len(t, ds, 2, "the two responses the limit allowed")
	must.False(t, h.CatchUp())
	ds = append(ds, h.Drain()...)
	var revs []int64
	for _, d := range ds {
		for _, ev := range d.Response.Events {
			revs = append(revs, ev.Kv.ModRevision)
		}
	}
	must.Equal(t, []int64{2, 3, 4, 5, 6}, revs, "history fills in the rest, in order")
}

func TestCloseStream(t *testing.T) {
	h, f := newFakeHub(Options{})
	for _, s := range []int64{1, 2} {
		_, err := h.Watch(s, watchReq("a", "", 0))
		must.NoError(t, err)
		_, err = h.Watch(s, watchReq("a", "b", 1))
		must.NoError(t, err)
	}
	f.put("a", "1")
	h.CloseStream(1)
	h.CloseStream(3) // unknown: no-op
	must.Equal(t, 2, h.WatcherCount())
	for _, d := range h.Drain() {
		must.Equal(t, int64(2), d.StreamID, "nothing is delivered to a closed stream")
	}
	must.False(t, h.CatchUp())
	must.Equal(t, []string{"PUT a"}, eventKeys(h.Drain()), "the lagging range watcher catches up")
	f.put("a", "2")
	must.Len(t, h.Drain(), 2)
}

func TestDeliveryOrderIsByStreamThenWatchID(t *testing.T) {
	h, f := newFakeHub(Options{})
	for _, sw := range [][2]int64{{3, 9}, {1, 5}, {3, 2}, {2, 7}, {1, 1}} {
		req := watchReq("a", "", 0)
		if sw[1]%2 == 0 {
			req = watchReq("a", "b", 0)
		}
		req.WatchId = sw[1]
		_, err := h.Watch(sw[0], req)
		must.NoError(t, err)
	}
	h.Drain()
	f.put("a", "1")
	var got [][2]int64
	for _, d := range h.Drain() {
		got = append(got, [2]int64{d.StreamID, d.Response.WatchId})
	}
	must.Equal(t, [][2]int64{{1, 1}, {1, 5}, {2, 7}, {3, 2}, {3, 9}}, got)
}

func TestOptions(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	must.NoError(t, o.Validate())
	must.Equal(t, Options{CatchUpEventsMax: 1000, WatchersPerStreamMax: 1 << 16, PendingResponsesMax: 1024}, o)

	bad := Options{CatchUpEventsMax: -1, WatchersPerStreamMax: 1 << 30, PendingResponsesMax: -5}
	err := bad.Validate()
	must.Error(t, err)
	for _, field := range []string{"CatchUpEventsMax", "WatchersPerStreamMax", "PendingResponsesMax"} {
		must.Contains(t, err.Error(), field, "every problem is reported")
	}
	must.Panics(t, func() { New(&fakeHistory{m: newModel()}, bad) })
}

func TestInvariantViolationsPanic(t *testing.T) {
	t.Run("revision gap", func(t *testing.T) {
		h, _ := newFakeHub(Options{})
		must.Panics(t, func() {
			h.Notify(3, []*mvccpb.Event{{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: 3}}})
		})
	})
	t.Run("event of another revision", func(t *testing.T) {
		h, _ := newFakeHub(Options{})
		must.Panics(t, func() {
			h.Notify(2, []*mvccpb.Event{{Type: mvccpb.PUT, Kv: &mvccpb.KeyValue{Key: []byte("a"), ModRevision: 5}}})
		})
	})
	t.Run("history moved without Notify", func(t *testing.T) {
		h, f := newFakeHub(Options{})
		f.onCommit = nil
		f.put("a", "1")
		must.Panics(t, func() { _, _ = h.Watch(1, watchReq("a", "", 0)) })
	})
	t.Run("history repeats an event", func(t *testing.T) {
		h, f := newFakeHub(Options{})
		f.put("a", "1")
		_, err := h.Watch(1, watchReq("a", "", 2))
		must.NoError(t, err)
		w := h.streams[1].watchers[0]
		w.lastEventRev = 2 // as if revision 2 had been delivered already
		must.Panics(t, func() { h.CatchUp() })
	})
}

func TestResyncAfterHistoryReplaced(t *testing.T) {
	h, f := newFakeHub(Options{})
	synced, err := h.Watch(1, watchReq("a", "", 0))
	must.NoError(t, err)
	future, err := h.Watch(1, watchReq("a", "", 10))
	must.NoError(t, err)
	h.Drain()
	// The history jumps from revision 1 to 4 without Notify, as a restored
	// snapshot does.
	f.onCommit = nil
	f.put("a", "2")
	f.put("b", "3")
	f.put("a", "4")
	f.onCommit = h.Notify
	h.Resync()
	must.False(t, h.CatchUp())
	ds := h.Drain()
	must.Len(t, ds, 1)
	must.Equal(t, synced, ds[0].Response.WatchId)
	must.Equal(t, []string{"PUT a", "PUT a"}, eventKeys(ds))
	for range 6 {
		f.put("a", "x") // revisions 5..10
	}
	got := map[int64]int{}
	for _, d := range h.Drain() {
		got[d.Response.WatchId] += len(d.Response.Events)
	}
	must.Equal(t, map[int64]int{synced: 6, future: 1}, got, "the future watcher stayed synced and starts at revision 10")
}
