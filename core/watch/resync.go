package watch

import "slices"

// Resync tells the hub its history was replaced wholesale (a raft snapshot
// was restored): revisions between the last Notify and the new history's
// revision never passed through Notify. Every synced watcher goes back to
// CatchUp from the first revision it has not seen; one whose revision the
// new history has compacted away gets the compacted response there.
func (h *Hub) Resync() {
	for _, w := range h.sortedWatchers() {
		if !w.synced {
			continue
		}
		h.markUnsynced(w, max(h.notifiedRev+1, w.startRev))
	}
	h.notifiedRev = h.hist.Rev()
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
