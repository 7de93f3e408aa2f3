package watch

import (
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// Notify fans out the events of one committed revision; wire it to mvcc's
// Options.OnCommit. Every synced watcher with matching events (after its
// filters) gets one response with them, Header.Revision = rev; PrevKv is
// kept only for watchers that asked for prev_kv. Responses go out in (stream
// id, watch id) order. A watcher whose stream is at PendingResponsesMax is
// moved to unsynced instead and later reads this revision from history.
// The events are shared, never mutated.
func (h *Hub) Notify(rev int64, events []*mvccpb.Event) {
	if rev != h.notifiedRev+1 {
		panic(fmt.Sprintf("watch: Notify for revision %d after revision %d: revisions must arrive one by one, in order", rev, h.notifiedRev))
	}
	h.notifiedRev = rev
	h.notifyGen++
	gen := h.notifyGen
	matched := h.matched[:0]
	for _, ev := range events {
		if ev == nil || ev.Kv == nil || ev.Kv.ModRevision != rev {
			panic(fmt.Sprintf("watch: Notify for revision %d got event %v", rev, ev))
		}
		h.index.visit(ev.Kv.Key, func(w *watcher) {
			if !w.synced || w.startRev > rev || !w.wants(ev.Type) {
				return
			}
			if w.notifyGen != gen {
				w.notifyGen = gen
				w.batch = w.batch[:0]
				matched = append(matched, w)
			}
			w.batch = append(w.batch, ev)
		})
	}
	if len(matched) == 0 {
		h.matched = matched
		h.answerDeferredProgressAll()
		return
	}
	slices.SortFunc(matched, compareWatchers)
	// One allocation each for all responses, headers and event slices of
	// this revision instead of three per watcher: fan-out to thousands of
	// watchers is dominated by allocation otherwise.
	total := 0
	for _, w := range matched {
		total += len(w.batch)
	}
	responses := make([]pb.WatchResponse, len(matched))
	headers := make([]pb.ResponseHeader, len(matched))
	slab := make([]*mvccpb.Event, 0, total)
	// stripped[i] is events[i] without PrevKv, made once per revision and
	// shared by every watcher that did not ask for prev_kv.
	var stripped []*mvccpb.Event
	for i, w := range matched {
		start := len(slab)
		slab = append(slab, w.batch...)
		batch := slab[start:len(slab):len(slab)]
		w.resetBatch()
		if !w.prevKV {
			stripPrevKV(batch, events, &stripped)
		}
		size := eventsSizeBytes(batch)
		merge := h.mergeable(w) && w.openBytes+size <= mergedResponseBytesMax &&
			len(w.open.Events)+len(batch) <= mergedResponseEventsMax
		if !merge && h.full(w.stream) {
			h.markUnsynced(w, rev)
			continue
		}
		w.recordDelivery(batch)
		if merge {
			w.open.Events = append(w.open.Events, batch...)
			w.open.Header.Revision = rev
			w.openBytes += size
			continue
		}
		headers[i].Revision = rev
		r := &responses[i]
		r.Header, r.WatchId, r.Events = &headers[i], w.id, batch
		h.enqueueEvents(w, r)
		w.open, w.openDrains, w.openSeq, w.openBytes = r, w.stream.drains, w.stream.enqueued, size
	}
	clear(matched)
	h.matched = matched[:0]
	// After this revision's events: the answer promises them.
	h.answerDeferredProgressAll()
}

// mergedResponseBytesMax and mergedResponseEventsMax bound a response that
// gathers several revisions' events (see Hub.mergeable): etcd's own limit on
// a client request is 1.5 MiB, and it sends at most 1000 revisions at once
// to a watcher catching up.
const (
	mergedResponseBytesMax  = 1 << 20
	mergedResponseEventsMax = 1000
)

// mergeable reports whether w's events of the revision being notified may
// join its last response instead of a new one: that response is still in
// the hub (no Drain handed out the stream's responses since; a held
// stream's stay), and nothing but event responses were queued on the
// stream after it, so no created, canceled or progress response changes
// place relative to any event. One member Process applies many
// revisions under load; one response per watcher per revision was one gRPC
// send each, which etcd clients do not need (they take events of several
// revisions in one response, as etcd sends to watchers catching up).
func (h *Hub) mergeable(w *watcher) bool {
	return w.open != nil && w.openDrains == w.stream.drains && w.stream.lastControl < w.openSeq
}

// eventsSizeBytes is roughly what events take on the wire.
func eventsSizeBytes(events []*mvccpb.Event) int {
	n := 0
	for _, ev := range events {
		n += len(ev.Kv.Key) + len(ev.Kv.Value)
		if ev.PrevKv != nil {
			n += len(ev.PrevKv.Key) + len(ev.PrevKv.Value)
		}
	}
	return n
}

// stripPrevKV replaces, in batch, the events that carry a PrevKv by shared
// copies without it. batch is owned by the caller and is a subsequence of
// events (Notify appends in event order), so one cursor finds each event's
// position; events are not touched.
func stripPrevKV(batch, events []*mvccpb.Event, stripped *[]*mvccpb.Event) {
	j := 0
	for i, ev := range batch {
		for events[j] != ev {
			j++
		}
		if ev.PrevKv == nil {
			continue
		}
		if *stripped == nil {
			*stripped = make([]*mvccpb.Event, len(events))
		}
		if (*stripped)[j] == nil {
			(*stripped)[j] = &mvccpb.Event{Type: ev.Type, Kv: ev.Kv}
		}
		batch[i] = (*stripped)[j]
	}
}
