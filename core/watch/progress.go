package watch

import pb "go.etcd.io/etcd/api/v3/etcdserverpb"

// RequestProgress answers a client's progress request as etcd does: once
// every watcher of the stream is synced it queues a response with WatchId -1
// (clientv3.InvalidWatchID), no events and Header.Revision = Rev(), which
// promises the stream has every event up to that revision. If a watcher is
// still unsynced the answer is deferred until CatchUp (or a cancel) leaves
// none; repeated requests meanwhile fold into one answer.
func (h *Hub) RequestProgress(streamID int64) {
	h.assertNotified()
	s := h.stream(streamID)
	s.progressDeferred = true
	h.answerDeferredProgress(s)
}

// answerDeferredProgress queues the deferred progress response of s if all
// its watchers are synced.
func (h *Hub) answerDeferredProgress(s *stream) {
	if !s.progressDeferred || s.unsyncedCount > 0 {
		return
	}
	s.progressDeferred = false
	h.enqueue(s, &pb.WatchResponse{Header: header(h.hist.Rev()), WatchId: progressWatchID})
}

// ProgressNotify queues an empty response (WatchId, Header.Revision = Rev())
// for every synced watcher that asked for progress_notify, in (stream id,
// watch id) order; the owner calls it on its clock's period. Streams at
// PendingResponsesMax are skipped: the notification is advisory and the
// next period brings another.
func (h *Hub) ProgressNotify() {
	h.assertNotified()
	rev := h.hist.Rev()
	for _, s := range h.sortedStreams() {
		if len(s.watchers) == 0 {
			continue
		}
		for _, w := range sortedWatchers(s) {
			if !w.synced || !w.progressNotify || h.full(s) {
				continue
			}
			h.enqueue(s, &pb.WatchResponse{Header: header(rev), WatchId: w.id})
		}
	}
}
