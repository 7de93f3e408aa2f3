package watch

import (
	"fmt"
	"slices"
)

// Resync tells the hub its history was replaced wholesale (a raft snapshot
// was restored): revisions between the last Notify and the new history's
// revision never passed through Notify. Every synced watcher goes back to
// CatchUp from the first revision it has not seen; one whose revision the
// new history has compacted away gets the compacted response there. A
// watcher whose start revision is still in the future stays synced.
func (h *Hub) Resync() {
	rev := h.hist.Rev()
	if rev < h.notifiedRev {
		panic(fmt.Sprintf("watch: resync to revision %d behind the notified revision %d", rev, h.notifiedRev))
	}
	for _, w := range h.sortedWatchers() {
		next := max(h.notifiedRev+1, w.startRev)
		if !w.synced || next > rev {
			continue
		}
		h.markUnsynced(w, next)
	}
	h.notifiedRev = rev
	h.answerDeferredProgressAll()
}

// sortedWatchers lists every watcher in delivery order.
func (h *Hub) sortedWatchers() []*watcher {
	ws := make([]*watcher, 0, h.watchers)
	for _, s := range h.streams {
		for _, w := range s.watchers {
			ws = append(ws, w)
		}
	}
	slices.SortFunc(ws, compareWatchers)
	return ws
}
