package workloads

import (
	"fmt"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// watchPrefix is the keyspace of the watch workload.
var watchPrefix = []byte("/watch/")

const (
	// watchKeys is how many keys writers touch: few, so deletes and
	// re-creations happen and prev_kv has something to say.
	watchKeys = 8
	// watchWriteInterval spaces one writer's operations.
	watchWriteInterval = 50 * time.Millisecond
	// watchCompactEvery: one write in this many is a compaction.
	watchCompactEvery = 40
	// watchCompactLag is how far behind the current revision compaction
	// goes, so watchers starting from older revisions sometimes land on
	// either side of it.
	watchCompactLag = 20
)

// Watch is the watch workload: writers put and delete a handful of keys
// (with prev_kv, so each acknowledgement fixes the event committed at its
// revision) and now and then compact; watchers on the prefix and on single
// keys start from now or from older revisions and resume from the last
// revision seen + 1 after a failure. Beside watchers on streams of their
// own, a few drawn from the seed share one stream: some filtered (NOPUT,
// NODELETE), and one at a time cancelled and re-created from the next
// revision it needs, while the others on the stream go on. A lister reads
// the prefix page by page now and then (list), as an informer lists before
// it watches.
type Watch struct {
	env      Env
	pace     *pacer
	ops      int
	writes   []linearizability.WatchWrite
	compacts []int64
	// compactsAt are when each of compacts, then of autoCompacts, was
	// requested.
	compactsAt, autoCompactsAt []time.Time
	// autoCompacts are the revisions the members' auto compaction
	// proposed (TuneNode): compactions the checker must know of too.
	autoCompacts []int64
	watches      []*resumingWatch
	// shared is the stream several watchers share (startShared).
	shared *watchSession
	// lists are the paginated lists of the prefix (list).
	lists     []linearizability.WatchList
	lastRev   int64
	finishing bool
}

// NewWatch returns the watch workload.
func NewWatch() *Watch { return &Watch{} }

// Name implements Workload.
func (wl *Watch) Name() string { return "watch" }

// Auto compaction in the watch workload: the leader keeps the last
// watchAutoCompactRevisions revisions, looking every
// watchAutoCompactEvery, so watchers resume across compactions the client
// did not ask for, as under etcd's --auto-compaction-mode revision.
const (
	watchAutoCompactRevisions = 60
	watchAutoCompactEvery     = 3 * time.Second
)

// TuneNode implements NodeTuner: auto compaction by revisions.
func (wl *Watch) TuneNode(c *node.Config) {
	c.AutoCompaction = node.AutoCompaction{
		Revisions: watchAutoCompactRevisions, CheckInterval: watchAutoCompactEvery,
		OnPropose: func(rev int64) {
			wl.autoCompacts = append(wl.autoCompacts, rev)
			wl.autoCompactsAt = append(wl.autoCompactsAt, wl.env.Cluster.Now())
		},
	}
}

// Ops implements Workload.
func (wl *Watch) Ops() int { return wl.ops }

// Start implements Workload.
func (wl *Watch) Start(env Env) {
	wl.env = env
	c := env.Cluster
	progressTicker(c, func() bool { return wl.finishing && env.Cluster.Now().After(env.End.Add(time.Minute)) })
	wl.pace = newPacer(env, max(env.Clients, 1), watchWriteInterval)
	for i := range max(env.Clients, 1) {
		cl := c.NewSession(driver.SessionOptions{})
		c.After(time.Duration(i)*7*time.Millisecond, func() { wl.write(cl, i) })
	}
	// Watchers: the whole prefix from now, with prev_kv; and watchers
	// started later from older revisions, on the prefix and on one key.
	wl.watch("prefix-now", watchPrefix, prefixEnd(watchPrefix), true, 0, 0)
	for i := range 4 {
		at := time.Duration(2+3*i) * time.Second
		key := []byte(fmt.Sprintf("%sk%d", watchPrefix, i))
		wl.watch(fmt.Sprintf("key-%d-old", i), key, nil, i%2 == 0, at, 5+int64(i)*5)
		// The last two prefix watchers catch up 30 revisions in fragments.
		wl.watch(fmt.Sprintf("prefix-%d-old", i), watchPrefix, prefixEnd(watchPrefix), i%2 == 1, at, 30).fragment = i >= 2
	}
	wl.startShared()
	lister := c.NewSession(driver.SessionOptions{})
	c.After(watchListIntervalMin, func() { wl.list(lister) })
}

// An informer lists, then watches: the lister reads the prefix page by
// page, each page pinned to the first one's revision and the client
// pausing between pages as one processing them does, so compactions —
// the writers' and the auto compaction's — overtake lists in progress, as
// they expire a paginated list's continue token in Kubernetes.
const (
	watchListIntervalMin = 1500 * time.Millisecond
	watchListIntervalMax = 4 * time.Second
	watchListPageGapMax  = 800 * time.Millisecond
	watchListTimeout     = 10 * time.Second
	watchListsMax        = 40
)

// list reads the prefix as a paginated list, then schedules the next one.
func (wl *Watch) list(cl driver.Session) {
	c := wl.env.Cluster
	if wl.finishing || len(wl.lists) >= watchListsMax || !c.Now().Before(wl.env.End) {
		return
	}
	r := wl.env.Rand
	req := &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: watchPrefix, RangeEnd: prefixEnd(watchPrefix)}}
	pause := func() time.Duration { return time.Duration(r.Int64N(int64(watchListPageGapMax))) }
	streamRange(wl.env, cl, req, simRangeStream, watchListTimeout, pause, func(call driver.Call) {
		l := linearizability.WatchList{Key: req.Range.Key, RangeEnd: req.Range.RangeEnd, Member: call.Member, Invoked: call.Invoke, Returned: call.Return}
		switch {
		case call.TimedOut:
			l.Err = "timed out"
		case call.Err != nil:
			l.Err = call.Err.Error()
		default:
			l.Response = call.Response.(*pb.RangeResponse)
		}
		wl.lists = append(wl.lists, l)
		gap := watchListIntervalMin + time.Duration(r.Int64N(int64(watchListIntervalMax-watchListIntervalMin)))
		c.After(gap, func() { wl.list(cl) })
	})
}

// The shared stream: watchers on one stream with filters, cancelled one at
// a time.
const (
	// sharedExtraMax bounds the watchers drawn beyond the three every
	// seed has (unfiltered, NOPUT, NODELETE).
	sharedExtraMax = 3
	// sharedStartLagMax bounds how far back from the latest acknowledged
	// revision a shared watcher may start, so it catches up from history
	// (with prev_kv when it asked) before following live writes.
	sharedStartLagMax = 30
	// watchCancelGapMin and watchCancelGapMax bound the virtual time
	// between two cancels on the shared stream.
	watchCancelGapMin = 1 * time.Second
	watchCancelGapMax = 4 * time.Second
	// watchRecreateDelayMax bounds how long a cancelled watcher stays
	// away before it is re-created from the next revision it needs.
	watchRecreateDelayMax = 1500 * time.Millisecond
)

// sharedFilter is a shared watcher's filter: none, NOPUT or NODELETE.
type sharedFilter int

const (
	filterNone sharedFilter = iota
	filterNoPut
	filterNoDelete
	filterKinds
)

func (f sharedFilter) String() string {
	return [...]string{"all", "noput", "nodelete"}[f]
}

// startShared draws the shared stream's watchers from the seed: every
// filter kind once (so a filter bug always has a watcher to show it), a
// few more of random kind, each on the prefix, on half the keys or on one
// key, with or without prev_kv, from now or from an older revision; and
// starts the cancels.
func (wl *Watch) startShared() {
	r := wl.env.Rand
	wl.shared = newWatchSession(wl.env.Cluster, true)
	kinds := []sharedFilter{filterNone, filterNoPut, filterNoDelete}
	for range r.IntN(sharedExtraMax + 1) {
		kinds = append(kinds, sharedFilter(r.IntN(int(filterKinds))))
	}
	for i, f := range kinds {
		key, end, scope := watchPrefix, prefixEnd(watchPrefix), "prefix"
		switch r.IntN(3) {
		case 1:
			key, end, scope = fmt.Appendf(nil, "%sk0", watchPrefix), fmt.Appendf(nil, "%sk%d", watchPrefix, watchKeys/2), "half"
		case 2:
			k := r.IntN(watchKeys)
			key, end, scope = fmt.Appendf(nil, "%sk%d", watchPrefix, k), nil, fmt.Sprintf("k%d", k)
		}
		rw := wl.shared.add(linearizability.Watcher{
			Name: fmt.Sprintf("shared-%d-%s-%s", i, f, scope), Key: key, RangeEnd: end,
			PrevKV: r.IntN(2) == 0, NoPut: f == filterNoPut, NoDelete: f == filterNoDelete,
		})
		rw.onCanceled = func() { rw.reopenAfter(time.Duration(r.Int64N(int64(watchRecreateDelayMax)))) }
		wl.watches = append(wl.watches, rw)
		lag := int64(0)
		if r.IntN(2) == 0 {
			lag = 1 + r.Int64N(sharedStartLagMax)
		}
		wl.startAt(rw, time.Second+time.Duration(r.Int64N(int64(3*time.Second))), lag)
	}
	wl.env.Cluster.After(watchCancelGapMin+time.Duration(r.Int64N(int64(watchCancelGapMax-watchCancelGapMin))), wl.cancelShared)
}

// cancelShared cancels one live watcher of the shared stream, drawn at
// random so that sometimes it is the stream's first watcher and sometimes
// not, and comes back after a random gap until the writers finish.
func (wl *Watch) cancelShared() {
	if wl.finishing {
		return
	}
	r := wl.env.Rand
	var cancelable []*resumingWatch
	for _, rw := range wl.shared.watchers {
		if rw.live() && rw.idKnown && !rw.cancelAsked {
			cancelable = append(cancelable, rw)
		}
	}
	if len(cancelable) > 0 {
		cancelable[r.IntN(len(cancelable))].cancel()
	}
	wl.env.Cluster.After(watchCancelGapMin+time.Duration(r.Int64N(int64(watchCancelGapMax-watchCancelGapMin))), wl.cancelShared)
}

// watch starts a watcher at virtual time +at, back lag revisions from the
// latest acknowledged one (lag 0: from now).
func (wl *Watch) watch(name string, key, end []byte, prevKV bool, at time.Duration, lag int64) *resumingWatch {
	rw := newResumingWatch(wl.env.Cluster, name, key, end, prevKV)
	wl.watches = append(wl.watches, rw)
	wl.startAt(rw, at, lag)
	return rw
}

// startAt starts rw at virtual time +at, back lag revisions from the
// latest acknowledged one (lag 0: from now).
func (wl *Watch) startAt(rw *resumingWatch, at time.Duration, lag int64) {
	wl.env.Cluster.After(at, func() {
		start := int64(0)
		if lag > 0 {
			start = max(wl.lastRev-lag, 1)
		}
		rw.start(start)
	})
}

func (wl *Watch) write(cl driver.Session, client int) {
	w := wl.env.Cluster
	if wl.finishing || wl.ops >= wl.env.OpsMax || !w.Now().Before(wl.env.End) {
		return
	}
	wl.ops++
	r := wl.env.Rand
	key := []byte(fmt.Sprintf("%sk%d", watchPrefix, r.IntN(watchKeys)))
	var req *pb.InternalRaftRequest
	switch n := r.IntN(watchCompactEvery); {
	case n == 0 && wl.lastRev > watchCompactLag:
		rev := wl.lastRev - watchCompactLag
		wl.compacts = append(wl.compacts, rev)
		wl.compactsAt = append(wl.compactsAt, w.Now())
		req = &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}}
	case n < 10:
		req = &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key, PrevKv: true}}
	default:
		req = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("v%d-c%d", wl.ops, client)), PrevKv: true}}
	}
	cl.Do(req, func(call driver.Call) {
		if call.Err == nil && !call.TimedOut {
			wl.acked(req, call.Response)
		}
		w.After(wl.pace.pause(client, wl.ops, watchWriteInterval), func() { wl.write(cl, client) })
	})
}

// acked turns an acknowledged write into the events it committed.
func (wl *Watch) acked(req *pb.InternalRaftRequest, resp any) {
	switch {
	case req.Put != nil:
		pr := resp.(*pb.PutResponse)
		rev := pr.GetHeader().GetRevision()
		kv := &mvccpb.KeyValue{Key: req.Put.Key, Value: req.Put.Value, ModRevision: rev, CreateRevision: rev, Version: 1}
		if prev := pr.GetPrevKv(); prev != nil {
			kv.CreateRevision, kv.Version = prev.CreateRevision, prev.Version+1
		}
		wl.record(rev, &mvccpb.Event{Type: mvccpb.PUT, Kv: kv})
	case req.DeleteRange != nil:
		dr := resp.(*pb.DeleteRangeResponse)
		rev := dr.GetHeader().GetRevision()
		wl.lastRev = max(wl.lastRev, rev)
		if dr.Deleted == 0 {
			return // nothing deleted: no revision was made
		}
		wl.record(rev, &mvccpb.Event{Type: mvccpb.DELETE, Kv: &mvccpb.KeyValue{Key: req.DeleteRange.Key, ModRevision: rev}})
	}
}

func (wl *Watch) record(rev int64, e *mvccpb.Event) {
	wl.lastRev = max(wl.lastRev, rev)
	wl.writes = append(wl.writes, linearizability.WatchWrite{Revision: rev, Events: []*mvccpb.Event{e}})
}

// FinishDuration is how much virtual time Finish's operations need.
func (wl *Watch) FinishDuration() time.Duration { return 10 * time.Second }

// Finish implements Workload: writers have stopped; watchers keep running
// so progress notifications close out what they are owed.
func (wl *Watch) Finish() { wl.finishing = true }

// Check implements Workload.
func (wl *Watch) Check(timeout time.Duration) []linearizability.Verdict {
	h := linearizability.WatchHistory{Writes: wl.writes, Compactions: append(slices.Clone(wl.compacts), wl.autoCompacts...),
		CompactionsRequestedAt: append(slices.Clone(wl.compactsAt), wl.autoCompactsAt...), Lists: wl.lists}
	for _, rw := range wl.watches {
		rw.stop()
		h.Watchers = append(h.Watchers, *rw.rec)
	}
	return []linearizability.Verdict{linearizability.CheckWatch(h)}
}
