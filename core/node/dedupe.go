package node

import "fmt"

// appliedIDsMax bounds the request ids the state machine remembers. A copy of
// a forwarded proposal (MsgProp) lands in the log close behind the original:
// the network delay between them is bounded, and the leader appends at most
// this many other entries in that time. kvd's TCP transport never duplicates
// a message; a network that does (the simulator's packet-duplicate fault, a
// future transport that retries) would otherwise apply one request twice: a
// put rewritten at the next revision, a txn whose second run fails its
// compares and answers the client "not succeeded" for a write that happened.
//
// Every member must decide the same, so the window is part of the replicated
// state (a constant, never a per-member option) and travels in snapshots.
const appliedIDsMax = 1 << 14

// appliedIDs remembers the request ids of the last appliedIDsMax applied
// requests, in apply order.
type appliedIDs struct {
	seen map[uint64]struct{}
	// ring holds the remembered ids; once full, ring[next] is the oldest.
	ring []uint64
	next int
}

func newAppliedIDs() appliedIDs {
	return appliedIDs{seen: map[uint64]struct{}{}}
}

// contains reports whether id was applied within the window.
func (a *appliedIDs) contains(id uint64) bool {
	_, ok := a.seen[id]
	return ok
}

// add remembers id, forgetting the oldest id once the window is full.
func (a *appliedIDs) add(id uint64) {
	if id == 0 {
		panic("node: request id 0 remembered as applied")
	}
	if a.contains(id) {
		panic(fmt.Sprintf("node: request id %x applied twice", id))
	}
	if len(a.ring) < appliedIDsMax {
		a.ring = append(a.ring, id)
	} else {
		delete(a.seen, a.ring[a.next])
		a.ring[a.next] = id
		a.next = (a.next + 1) % appliedIDsMax
	}
	a.seen[id] = struct{}{}
	if len(a.seen) != len(a.ring) {
		panic(fmt.Sprintf("node: applied-id window holds %d ids in its ring and %d in its set", len(a.ring), len(a.seen)))
	}
}

// ordered returns the remembered ids, oldest first: the snapshot encoding,
// which restores the same window (and so the same future decisions).
func (a *appliedIDs) ordered() []uint64 {
	out := make([]uint64, 0, len(a.ring))
	out = append(out, a.ring[a.next:]...)
	return append(out, a.ring[:a.next]...)
}

// restoreAppliedIDs rebuilds a window from ids oldest first.
func restoreAppliedIDs(ids []uint64) (appliedIDs, error) {
	if len(ids) > appliedIDsMax {
		return appliedIDs{}, fmt.Errorf("%d applied request ids exceed %d", len(ids), appliedIDsMax)
	}
	a := newAppliedIDs()
	for _, id := range ids {
		if id == 0 || a.contains(id) {
			return appliedIDs{}, fmt.Errorf("applied request id %x is zero or repeated", id)
		}
		a.add(id)
	}
	return a, nil
}
