package watch

import (
	"errors"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/core/bugs"
)

// CatchUp moves every unsynced watcher forward by at most one batch of
// Options.CatchUpEventsMax events read from History, in (stream id, watch
// id) order. A watcher whose next revision is below CompactRev() (etcd
// serves a watch from the compaction revision itself) gets etcd's compacted
// response (CompactRevision = CompactRev(), Canceled)
// and is removed. A watcher that reached the current revision becomes
// synced. Watchers of a stream at PendingResponsesMax wait for a Drain.
// It reports whether any watcher is still unsynced; a caller looping on it
// must Drain between calls, or a full stream keeps it true.
func (h *Hub) CatchUp() (more bool) {
	if len(h.unsynced) == 0 {
		return false
	}
	h.assertNotified()
	rev := h.hist.Rev()
	compactRev := h.hist.CompactRev()
	for _, w := range h.sortedUnsynced() {
		s := w.stream
		if w.nextRev < compactRev {
			if !bugs.On(bugs.WatchCompactedSilent) {
				h.compacted(w, compactRev)
				continue
			}
			// planted bug (kvdbugs builds only): clamps to the compaction instead of reporting it
			w.nextRev = compactRev
		}
		if h.full(s) {
			continue
		}
		h.catchUp(w, rev)
		h.answerDeferredProgress(s)
	}
	return len(h.unsynced) > 0
}

// catchUp reads one batch of history for w and queues it.
func (h *Hub) catchUp(w *watcher, rev int64) {
	fromRev := w.nextRev
	if fromRev > rev {
		panic(fmt.Sprintf("watch: stream %d watcher %d unsynced at revision %d beyond the history's %d", w.stream.id, w.id, fromRev, rev))
	}
	events, nextRev, err := h.hist.Events(w.key, w.end, fromRev, h.opts.CatchUpEventsMax)
	if errors.Is(err, rpctypes.ErrGRPCCompacted) {
		h.compacted(w, h.hist.CompactRev())
		return
	}
	if err != nil {
		panic(fmt.Sprintf("watch: history events of %q..%q from revision %d: %v", w.key, w.end, fromRev, err))
	}
	if nextRev <= fromRev || nextRev > rev+1 {
		panic(fmt.Sprintf("watch: history events from revision %d returned next revision %d at revision %d", fromRev, nextRev, rev))
	}
	var batch []*mvccpb.Event
	for _, ev := range events {
		if ev.Kv.ModRevision < fromRev || ev.Kv.ModRevision >= nextRev {
			panic(fmt.Sprintf("watch: history events from revision %d to %d returned an event at revision %d", fromRev, nextRev, ev.Kv.ModRevision))
		}
		if !w.wants(ev.Type) {
			continue
		}
		if ev.PrevKv != nil && !w.prevKV {
			ev = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		} else if bugs.On(bugs.WatchPrevKVCurrent) && ev.PrevKv != nil {
			// planted bug (kvdbugs builds only): copy-paste slip, prev_kv set from the new kv
			ev = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv, PrevKv: ev.Kv}
		}
		batch = append(batch, ev)
	}
	if h.opts.UnsafeSkipEventAtCompaction && len(batch) > 0 && fromRev == h.hist.CompactRev()+1 {
		// The known-unsafe variant: lose the first event a watcher reads
		// right after the compaction boundary.
		batch = batch[1:]
	}
	w.nextRev = nextRev
	if len(batch) > 0 {
		w.recordDelivery(batch)
		// etcd stamps catch-up responses with the current revision too.
		h.enqueueEvents(w, &pb.WatchResponse{Header: header(rev), WatchId: w.id, Events: batch})
	}
	if nextRev == rev+1 {
		h.markSynced(w)
	}
}

// compacted cancels w because the history it needs is gone, with etcd's
// response: CompactRevision set and Canceled; etcd leaves CancelReason
// empty here and clients map CompactRevision to ErrCompacted. Its header
// carries revision 0, as etcd's (the compacted response names no revision
// of the store).
func (h *Hub) compacted(w *watcher, compactRev int64) {
	s := w.stream
	h.remove(w)
	h.enqueue(s, &pb.WatchResponse{Header: header(0), WatchId: w.id, Canceled: true, CompactRevision: compactRev})
	h.answerDeferredProgress(s)
}
