package watch

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// RequestProgress answers a client's progress request as etcd does: once
// every watcher of the stream is synced it queues a response with WatchId -1
// (clientv3.InvalidWatchID), no events and Header.Revision = Rev(), which
// promises the stream has every event up to that revision. If a watcher is
// still unsynced, or starts beyond the next revision, the answer is deferred
// until CatchUp, a cancel or Notify leaves none; repeated requests meanwhile
// fold into one answer.
func (h *Hub) RequestProgress(streamID int64) {
	h.assertNotified()
	s := h.stream(streamID)
	if !s.progressDeferred {
		s.progressDeferred = true
		h.progressDeferredStreams++
	}
	h.answerDeferredProgress(s)
}

// answerDeferredProgress queues the deferred progress response of s if all
// its watchers are synced and none starts beyond the next revision.
func (h *Hub) answerDeferredProgress(s *stream) {
	if !s.progressDeferred || s.unsyncedCount > 0 {
		return
	}
	rev := h.hist.Rev()
	for _, w := range s.watchers {
		if w.startsAfterProgress(rev) {
			return
		}
	}
	s.progressDeferred = false
	h.progressDeferredStreams--
	if h.progressDeferredStreams < 0 {
		panic(fmt.Sprintf("watch: stream %d: negative count of deferred progress requests", s.id))
	}
	h.enqueue(s, &pb.WatchResponse{Header: header(rev), WatchId: progressWatchID})
}

// answerDeferredProgressAll retries every deferred progress request, in
// stream id order: a new revision may have reached the start of a watcher
// that held one back.
func (h *Hub) answerDeferredProgressAll() {
	if h.progressDeferredStreams == 0 {
		return
	}
	for _, s := range h.sortedStreams() {
		h.answerDeferredProgress(s)
	}
}

// ProgressNotify queues an empty response (WatchId, Header.Revision = Rev())
// for every synced watcher that asked for progress_notify, in (stream id,
// watch id) order; the owner calls it on its clock's period. Watchers that
// start beyond the next revision are skipped, as etcd skips them: clients
// resume from a progress revision + 1, which would be before the start they
// asked for. Streams at PendingResponsesMax are skipped: the notification
// is advisory and the next period brings another.
func (h *Hub) ProgressNotify() {
	h.assertNotified()
	rev := h.hist.Rev()
	for _, s := range h.sortedStreams() {
		if len(s.watchers) == 0 {
			continue
		}
		for _, w := range sortedWatchers(s) {
			skip := !w.synced || !w.progressNotify || w.startsAfterProgress(rev) || h.full(s)
			if bugs.On(bugs.WatchProgressAhead) {
				// planted bug (kvdbugs builds only): lagging (unsynced) watchers are not skipped
				skip = !w.progressNotify || w.startsAfterProgress(rev) || h.full(s)
			}
			if skip {
				continue
			}
			h.enqueue(s, &pb.WatchResponse{Header: header(rev), WatchId: w.id})
		}
	}
}
