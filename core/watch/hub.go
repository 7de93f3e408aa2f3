package watch

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// History is what the hub reads to catch up; *mvcc.Store satisfies it.
type History interface {
	// Rev is the current revision.
	Rev() int64
	// CompactRev is the last compaction revision, 0 if none.
	CompactRev() int64
	// Events returns the events with mod revision >= fromRev on [key, end),
	// whole revisions only, stopping once eventsMax is reached; nextRev is
	// where to continue. fromRev < CompactRev() fails with
	// rpctypes.ErrGRPCCompacted; from CompactRev() come the puts compaction
	// kept of that revision.
	Events(key, end []byte, fromRev int64, eventsMax int) (events []*mvccpb.Event, nextRev int64, err error)
}

// Delivery is one response for one stream.
type Delivery struct {
	StreamID int64
	Response *pb.WatchResponse
	// Fragment: the response carries events of a watcher that asked for
	// fragments, so the sender splits it with Fragments once its header
	// is complete, as etcd's send loop does.
	Fragment bool
}

// progressWatchID is the watch id of a progress response answering
// RequestProgress: clientv3.InvalidWatchID, which clients broadcast to
// every watcher of the stream.
const progressWatchID = -1

// stream is one client session's set of watchers.
type stream struct {
	id       int64
	watchers map[int64]*watcher
	// nextWatchID is where the search for a free id starts, as in etcd:
	// automatic ids count up from 0 and skip ids the client chose.
	nextWatchID int64
	// unsyncedCount is how many of watchers are unsynced.
	unsyncedCount int
	// inQueue counts the stream's responses in Hub.queue; drains counts
	// the Drains that handed some of them out: a response queued before
	// the last has left the hub and may no longer change (see mergeable).
	inQueue int
	drains  uint64
	// held: the stream's reader is behind (Hold), so new responses wait in
	// kept, where later revisions still merge into them, instead of
	// leaving with the next Drain.
	held bool
	kept []Delivery
	// progressDeferred records a RequestProgress that arrived while some
	// watcher was unsynced; it is answered once all are synced.
	progressDeferred bool
	// enqueued numbers the responses queued for the stream; lastControl is
	// the number of the last one that carried no events (created, canceled,
	// progress). Events never merge across it (see mergeable).
	enqueued, lastControl uint64
}

// Hub keeps every stream's watchers and queues their responses. It is not
// safe for concurrent use: the owner's single loop calls it.
type Hub struct {
	hist History
	opts Options

	streams  map[int64]*stream
	index    index
	unsynced map[*watcher]struct{}
	watchers int

	// notifiedRev is the revision synced watchers are complete up to: the
	// history's revision when the hub was made, then each Notify's.
	notifiedRev int64
	notifyGen   uint64
	// matched is Notify's scratch list of watchers with events this revision.
	matched []*watcher

	// progressDeferredStreams counts streams whose progressDeferred is set,
	// so Notify looks for them only when there are some.
	progressDeferredStreams int

	queue []Delivery
	// dirty lists streams with pending responses, for Drain to reset.
	dirty []*stream
}

// New returns a hub reading history from h. Invalid options panic: they are
// a wiring bug, not a runtime condition.
func New(h History, opts Options) *Hub {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	return &Hub{
		hist:        h,
		opts:        opts,
		streams:     make(map[int64]*stream),
		index:       newIndex(),
		unsynced:    make(map[*watcher]struct{}),
		notifiedRev: h.Rev(),
	}
}

// WatcherCount is the number of live watchers over all streams.
func (h *Hub) WatcherCount() int { return h.watchers }

// Watch registers a watcher on a stream. req.WatchId 0 (clientv3's
// AutoWatchID) lets the hub pick the lowest free id at or above the stream's
// counter; a taken id fails. StartRevision 0 means the next revision. The
// created response is queued either way, as etcd sends it: on success
// (Created, WatchId, Header.Revision = Rev()), and on failure with WatchId
// -1, Canceled and CancelReason set to the error's etcd message. A watcher
// starting at or below Rev() is unsynced until CatchUp brings it forward.
func (h *Hub) Watch(streamID int64, req *pb.WatchCreateRequest) (watchID int64, err error) {
	h.assertNotified()
	rev := h.hist.Rev()
	id, err := h.watch(streamID, req, rev)
	if err != nil {
		reason := err
		for _, sentinel := range []error{ErrWatcherDuplicateID, ErrEmptyWatcherRange, ErrTooManyWatchers, ErrInvalidWatchRequest, ErrStartRevisionNegative} {
			if errors.Is(err, sentinel) {
				reason = sentinel
			}
		}
		h.enqueue(h.stream(streamID), &pb.WatchResponse{
			Header:       header(rev),
			WatchId:      progressWatchID,
			Created:      true,
			Canceled:     true,
			CancelReason: reason.Error(),
		})
		return progressWatchID, err
	}
	h.enqueue(h.streams[streamID], &pb.WatchResponse{Header: header(rev), WatchId: id, Created: true})
	return id, nil
}

func (h *Hub) watch(streamID int64, req *pb.WatchCreateRequest, rev int64) (int64, error) {
	if req == nil {
		return 0, fmt.Errorf("watch: stream %d: nil create request: %w", streamID, ErrInvalidWatchRequest)
	}
	if req.WatchId < 0 {
		return 0, fmt.Errorf("watch: stream %d: watch id %d: %w", streamID, req.WatchId, ErrInvalidWatchRequest)
	}
	if req.StartRevision < 0 {
		return 0, fmt.Errorf("watch: stream %d: start revision %d: %w", streamID, req.StartRevision, ErrStartRevisionNegative)
	}
	s := h.stream(streamID)
	if len(s.watchers) >= h.opts.WatchersPerStreamMax {
		return 0, fmt.Errorf("watch: stream %d holds %d watchers: %w", streamID, len(s.watchers), ErrTooManyWatchers)
	}
	startRev := req.StartRevision
	if startRev == 0 {
		startRev = rev + 1
	} else if bugs.On(bugs.WatchCatchUpSkipsStart) {
		// planted bug (kvdbugs builds only): start_revision taken as exclusive
		startRev++
	}
	w, err := newWatcher(s, req, startRev)
	if err != nil {
		return 0, fmt.Errorf("watch: stream %d: %w", streamID, err)
	}
	id := req.WatchId
	if id == 0 {
		for s.watchers[s.nextWatchID] != nil {
			s.nextWatchID++
		}
		id = s.nextWatchID
		s.nextWatchID++
	} else if s.watchers[id] != nil {
		return 0, fmt.Errorf("watch: stream %d: watch id %d: %w", streamID, id, ErrWatcherDuplicateID)
	}
	w.id = id
	s.watchers[id] = w
	h.watchers++
	h.index.add(w)
	if startRev > rev {
		w.synced = true
	} else {
		h.markUnsynced(w, startRev)
	}
	return id, nil
}

// Cancel removes a watcher and queues etcd's cancel response (Canceled,
// WatchId, Header.Revision = Rev()). Responses queued for it earlier stay
// queued ahead of the cancel.
func (h *Hub) Cancel(streamID, watchID int64) error {
	s := h.streams[streamID]
	if s == nil || s.watchers[watchID] == nil {
		return fmt.Errorf("watch: cancel stream %d watch id %d: %w", streamID, watchID, ErrWatcherNotExist)
	}
	w := s.watchers[watchID]
	if bugs.On(bugs.WatchCancelWrongWatcher) {
		// planted bug (kvdbugs builds only): removes the stream's first watcher, not the one named
		w = sortedWatchers(s)[0]
	}
	h.remove(w)
	h.enqueue(s, &pb.WatchResponse{Header: header(h.hist.Rev()), WatchId: watchID, Canceled: true})
	h.answerDeferredProgress(s)
	return nil
}

// CloseStream drops every watcher of the stream and the responses still
// queued for it: the client is gone, so nothing is sent.
func (h *Hub) CloseStream(streamID int64) {
	s := h.streams[streamID]
	if s == nil {
		return
	}
	for _, id := range slices.Sorted(maps.Keys(s.watchers)) {
		h.remove(s.watchers[id])
	}
	delete(h.streams, streamID)
	if s.progressDeferred {
		s.progressDeferred = false
		h.progressDeferredStreams--
	}
	if s.inQueue > 0 {
		h.queue = slices.DeleteFunc(h.queue, func(d Delivery) bool { return d.StreamID == streamID })
	}
	s.inQueue, s.kept = 0, nil
}

// Hold says whether a stream's reader is behind. While a stream is held,
// Drain leaves its new responses in the hub, where the events of later
// revisions join each watcher's last response (up to the merge limits)
// instead of queuing one response per watcher per revision behind the
// reader; PendingResponsesMax still bounds them, and past it watchers
// catch up from history, as they do behind a full stream. Releasing the
// hold hands everything kept to the next Drain, in the order queued. A
// reader that is behind is thus sent fewer, larger responses, as etcd's
// watchers that fall behind are served in batches from history. Unknown
// streams are ignored.
func (h *Hub) Hold(streamID int64, held bool) {
	s := h.streams[streamID]
	if s == nil || s.held == held {
		return
	}
	s.held = held
	if held || len(s.kept) == 0 {
		return
	}
	h.queue = append(h.queue, s.kept...)
	s.inQueue += len(s.kept)
	clear(s.kept)
	s.kept = s.kept[:0]
}

// Drain hands over every queued response in the order queued and empties
// the queue; the caller owns the returned slice.
func (h *Hub) Drain() []Delivery {
	out := h.queue
	h.queue = nil
	dirty := h.dirty[:0]
	for _, s := range h.dirty {
		if s.inQueue > 0 {
			s.drains++
			s.inQueue = 0
		}
		if s.pending() > 0 {
			dirty = append(dirty, s) // held, with responses kept
		}
	}
	clear(h.dirty[len(dirty):])
	h.dirty = dirty
	return out
}

// stream returns the stream, creating it on first use.
func (h *Hub) stream(id int64) *stream {
	s := h.streams[id]
	if s == nil {
		s = &stream{id: id, watchers: make(map[int64]*watcher)}
		h.streams[id] = s
	}
	return s
}

func (h *Hub) remove(w *watcher) {
	s := w.stream
	if s.watchers[w.id] != w {
		panic(fmt.Sprintf("watch: stream %d watcher %d removed twice", s.id, w.id))
	}
	delete(s.watchers, w.id)
	h.watchers--
	h.index.remove(w)
	if !w.synced {
		delete(h.unsynced, w)
		s.unsyncedCount--
	}
}

// markUnsynced hands a watcher to CatchUp, to read history from nextRev.
func (h *Hub) markUnsynced(w *watcher, nextRev int64) {
	w.synced = false
	w.nextRev = nextRev
	h.unsynced[w] = struct{}{}
	w.stream.unsyncedCount++
}

func (h *Hub) markSynced(w *watcher) {
	w.synced = true
	delete(h.unsynced, w)
	w.stream.unsyncedCount--
	if w.stream.unsyncedCount < 0 {
		panic(fmt.Sprintf("watch: stream %d: negative unsynced count", w.stream.id))
	}
}

func (h *Hub) enqueue(s *stream, resp *pb.WatchResponse) {
	h.enqueueFor(s, resp, false)
}

// enqueueEvents queues an event response of w.
func (h *Hub) enqueueEvents(w *watcher, resp *pb.WatchResponse) {
	h.enqueueFor(w.stream, resp, w.fragment)
}

func (h *Hub) enqueueFor(s *stream, resp *pb.WatchResponse, fragment bool) {
	if s.pending() == 0 {
		h.dirty = append(h.dirty, s)
	}
	s.enqueued++
	if len(resp.Events) == 0 {
		s.lastControl = s.enqueued
	}
	d := Delivery{StreamID: s.id, Response: resp, Fragment: fragment}
	if s.held {
		s.kept = append(s.kept, d)
		return
	}
	h.queue = append(h.queue, d)
	s.inQueue++
}

// full reports whether the stream may not take another event response.
func (h *Hub) full(s *stream) bool { return s.pending() >= h.opts.PendingResponsesMax }

// pending counts the stream's responses not drained yet: queued or kept.
func (s *stream) pending() int { return s.inQueue + len(s.kept) }

// assertNotified checks that every committed revision reached Notify: if
// the history moved without it, synced watchers silently missed events.
func (h *Hub) assertNotified() {
	if rev := h.hist.Rev(); rev != h.notifiedRev {
		panic(fmt.Sprintf("watch: history is at revision %d but Notify saw revision %d: is mvcc OnCommit wired to Hub.Notify?", rev, h.notifiedRev))
	}
}

func header(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }

// sortedUnsynced lists the unsynced watchers in delivery order.
func (h *Hub) sortedUnsynced() []*watcher {
	ws := slices.Collect(maps.Keys(h.unsynced))
	slices.SortFunc(ws, compareWatchers)
	return ws
}

// sortedStreams lists the streams by id.
func (h *Hub) sortedStreams() []*stream {
	ss := slices.Collect(maps.Values(h.streams))
	slices.SortFunc(ss, func(a, b *stream) int { return cmp.Compare(a.id, b.id) })
	return ss
}

// sortedWatchers lists the watchers of s by watch id.
func sortedWatchers(s *stream) []*watcher {
	ws := slices.Collect(maps.Values(s.watchers))
	slices.SortFunc(ws, compareWatchers)
	return ws
}
