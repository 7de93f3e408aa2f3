package watch

import (
	"bytes"
	"cmp"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/core/bugs"
)

// watcher is one registered watch: a key range, the revision it starts at,
// and how far it has been served.
type watcher struct {
	stream *stream
	id     int64

	key []byte
	// end is nil for a single key, {0} for every key >= key, else the
	// exclusive end of the range.
	end []byte

	startRev       int64
	prevKV         bool
	noPut          bool
	noDelete       bool
	progressNotify bool
	// fragment: the client takes a response too large for one message in
	// fragments (Delivery.Fragment).
	fragment bool

	// synced watchers get events straight from Notify; their next revision
	// is implicit (Hub.notifiedRev+1 or startRev, whichever is larger).
	synced bool
	// nextRev is the first revision an unsynced watcher still has to read.
	nextRev int64
	// lastEventRev is the revision of the last event handed to the client;
	// every later event must carry a larger or, within one response, equal
	// revision.
	lastEventRev int64

	// notifyGen and batch collect this watcher's events during one Notify.
	notifyGen uint64
	batch     []*mvccpb.Event

	// open is this watcher's last event response from Notify, while later
	// revisions may still join it (see Hub.mergeable): openDrains and
	// openSeq say when it was queued, openBytes how much it carries.
	open       *pb.WatchResponse
	openDrains uint64
	openSeq    uint64
	openBytes  int
}

// batchCapMax bounds the scratch buffer a watcher keeps between Notify
// calls; a rare huge revision must not pin memory in every watcher.
const batchCapMax = 64

// resetBatch empties the Notify scratch buffer without keeping the events
// alive.
func (w *watcher) resetBatch() {
	if cap(w.batch) > batchCapMax {
		w.batch = nil
		return
	}
	clear(w.batch)
	w.batch = w.batch[:0]
}

// startsAfterProgress reports whether a progress response at revision rev
// would promise the watcher less than its start: it starts beyond rev+1
// (the history is behind the revision it asked for). A client resumes from
// the progress revision + 1, so such a response would move it back to
// revisions it never asked for (etcd issue 20221).
func (w *watcher) startsAfterProgress(rev int64) bool { return w.startRev > rev+1 }

// isRange reports whether the watcher covers more than one key.
func (w *watcher) isRange() bool { return w.end != nil }

// fromKey reports whether the watcher covers every key >= key.
func (w *watcher) fromKey() bool { return len(w.end) == 1 && w.end[0] == 0 }

// matches reports whether key falls in the watcher's range.
func (w *watcher) matches(key []byte) bool {
	switch {
	case !w.isRange():
		return bytes.Equal(key, w.key)
	case w.fromKey():
		return bytes.Compare(key, w.key) >= 0
	default:
		return bytes.Compare(key, w.key) >= 0 && bytes.Compare(key, w.end) < 0
	}
}

// wants reports whether the watcher's filters let an event of this type pass.
func (w *watcher) wants(t mvccpb.Event_EventType) bool {
	switch t {
	case mvccpb.PUT:
		return !w.noPut
	case mvccpb.DELETE:
		return !w.noDelete
	default:
		panic(fmt.Sprintf("watch: event type %v unknown", t))
	}
}

// compareWatchers orders watchers by (stream id, watch id): the delivery
// order, independent of map iteration and registration order.
func compareWatchers(a, b *watcher) int {
	if c := cmp.Compare(a.stream.id, b.stream.id); c != 0 {
		return c
	}
	return cmp.Compare(a.id, b.id)
}

// newWatcher validates req and builds the watcher it asks for; startRev is
// already resolved (0 replaced by the current revision + 1). The caller
// assigns the id once the request is known to be valid.
func newWatcher(s *stream, req *pb.WatchCreateRequest, startRev int64) (*watcher, error) {
	key := bytes.Clone(req.Key)
	var end []byte
	if len(req.RangeEnd) > 0 {
		end = bytes.Clone(req.RangeEnd)
	}
	w := &watcher{
		stream:         s,
		key:            key,
		end:            end,
		startRev:       startRev,
		prevKV:         req.PrevKv,
		progressNotify: req.ProgressNotify,
		fragment:       req.Fragment,
	}
	if w.isRange() && !w.fromKey() && bytes.Compare(key, end) >= 0 {
		return nil, fmt.Errorf("watch: key %q range_end %q: %w", key, end, ErrEmptyWatcherRange)
	}
	// etcd ignores filter values it does not know; so does the hub.
	for _, f := range req.Filters {
		switch f {
		case pb.WatchCreateRequest_NOPUT:
			w.noPut = true
		case pb.WatchCreateRequest_NODELETE:
			w.noDelete = true
		}
	}
	if bugs.On(bugs.WatchFilterInverted) {
		// planted bug (kvdbugs builds only): NOPUT and NODELETE set each other's flag
		w.noPut, w.noDelete = w.noDelete, w.noPut
	}
	return w, nil
}

// recordDelivery asserts the per-watcher ordering invariant for the events
// about to be sent and advances lastEventRev.
func (w *watcher) recordDelivery(events []*mvccpb.Event) {
	if len(events) == 0 {
		panic(fmt.Sprintf("watch: stream %d watcher %d: empty event response", w.stream.id, w.id))
	}
	first := events[0].Kv.ModRevision
	if first <= w.lastEventRev || first < w.startRev {
		panic(fmt.Sprintf("watch: stream %d watcher %d: event at revision %d after revision %d (start %d): duplicate or reordered",
			w.stream.id, w.id, first, w.lastEventRev, w.startRev))
	}
	prev := first
	for _, ev := range events {
		rev := ev.Kv.ModRevision
		if rev < prev {
			panic(fmt.Sprintf("watch: stream %d watcher %d: event revisions out of order: %d after %d", w.stream.id, w.id, rev, prev))
		}
		if !w.matches(ev.Kv.Key) || !w.wants(ev.Type) {
			panic(fmt.Sprintf("watch: stream %d watcher %d: event %v on key %q does not match the watcher", w.stream.id, w.id, ev.Type, ev.Kv.Key))
		}
		prev = rev
	}
	w.lastEventRev = prev
}
