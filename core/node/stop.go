package node

import (
	"fmt"
	"time"

	"go.etcd.io/raft/v3"

	"github.com/kvdlabs/kvd/core/bugs"
)

// A graceful stop (SIGTERM to kvd, Member.Stop in the simulator) does two
// things before the member closes, as etcd's does the first:
//
//   - A leader hands its leadership to the most caught-up voter, so the
//     cluster has a leader again within a round trip instead of after an
//     election timeout of silence.
//   - When enough was applied since the newest state snapshot, the member
//     saves one at its applied index, so its restart restores that instead
//     of replaying the log one entry at a time.
//
// The caller calls PrepareStop once, then keeps the member loop going —
// peers answered, no new client calls taken — until StopReady or its own
// deadline, then Close. Stopping earlier loses nothing but the shortcuts.

// StopSnapshotTimeoutDefault is how long a graceful stop waits by default
// for the snapshot PrepareStop asks for: at a million keys of 100 B it
// took half a second.
const StopSnapshotTimeoutDefault = 10 * time.Second

// handoffElectionsMax bounds a stop's handoff in election timeouts. Raft
// abandons a transfer after one; the second lets a stop retry once, with
// whichever voter is then the most caught up.
const handoffElectionsMax = 2

// stopPlan is what a graceful stop waits for.
type stopPlan struct {
	// snapshotIndex is the state snapshot the stop waits for, if
	// snapshot is set.
	snapshotIndex uint64
	snapshot      bool
	// handoffUntilTick ends the handoff, done or not; handoffs counts the
	// transfers asked.
	handoffUntilTick uint64
	handoffs         int
}

// PrepareStop readies the member for a graceful stop. A leader hands its
// leadership off (the transfer starts in the next Process). With snapshot
// set, when at least SnapshotEntries were applied since the newest state
// snapshot it asks for one at the applied index now (or takes the one
// being written, if that leaves fewer behind) and reports ok with its
// index; from then on each Process writes the largest step, as nothing
// else competes with it. A restart replays every entry applied since the
// newest snapshot, one at a time through the state machine: at a million
// keys 150,000 entries took longer than restoring the snapshot itself.
func (n *Node) PrepareStop(snapshot bool) (index uint64, ok bool) {
	n.stopping = true
	n.stopPlan = stopPlan{handoffUntilTick: n.ticks + handoffElectionsMax*uint64(n.cfg.ElectionTicks)}
	if !snapshot {
		return 0, false
	}
	if j := n.snap; j != nil && n.appliedIndex-j.index < n.cfg.SnapshotEntries {
		// Due whatever the pacing, so that a compaction aborting the job
		// has the next Process start another, not leave the stop waiting.
		n.snapshotDueIndex = max(n.snapshotDueIndex, j.index)
		n.stopPlan.snapshotIndex, n.stopPlan.snapshot = j.index, true
		return j.index, true
	}
	if n.appliedIndex-n.snapshotIndex < n.cfg.SnapshotEntries {
		return 0, false
	}
	n.stopPlan.snapshotIndex, n.stopPlan.snapshot = n.Defragment(), true
	return n.stopPlan.snapshotIndex, true
}

// AbandonStopSnapshot stops a stop's wait for its snapshot (the caller's
// deadline passed): the restart replays the log instead. The snapshot
// goes on as any other until Close.
func (n *Node) AbandonStopSnapshot() { n.stopPlan.snapshot = false }

// StopReady reports whether the stop PrepareStop began may close the
// node: its leadership handed off, or the handoff over without (nobody to
// take it, or its bound passed), and its snapshot, if it asked for one,
// saved.
func (n *Node) StopReady() bool {
	if !n.stopping {
		return false
	}
	if n.stopPlan.snapshot && !n.Defragmented(n.stopPlan.snapshotIndex) {
		return false
	}
	return n.handedOff()
}

// Handoffs reports how many leadership transfers the current stop asked
// for, and whether leadership left this member for another that now
// leads.
func (n *Node) Handoffs() (asked int, handedOff bool) {
	bs := n.raw.BasicStatus()
	return n.stopPlan.handoffs, n.stopPlan.handoffs > 0 && bs.RaftState != raft.StateLeader && bs.Lead != 0
}

// handedOff reports whether the stop's handoff is over.
func (n *Node) handedOff() bool {
	if n.cfg.StopHandoffOff || n.ticks >= n.stopPlan.handoffUntilTick {
		return true
	}
	bs := n.raw.BasicStatus()
	if bs.RaftState == raft.StateLeader {
		// Over only when there is nobody to take it: a transfer is
		// running, or advanceStop starts one in the next Process.
		return bs.LeadTransferee == raft.None && n.transferee() == raft.None
	}
	// A follower that never led in this stop has nothing to hand off;
	// one that did waits until another member leads, so that its vote
	// for that member has left.
	return n.stopPlan.handoffs == 0 || bs.Lead != raft.None
}

// advanceStop starts a leadership transfer when a stopping member leads
// with none running: at the stop's start, and again if raft abandoned the
// last one or the member was elected again, until the handoff's bound.
func (n *Node) advanceStop() {
	if !n.stopping || !n.isLeader || n.cfg.StopHandoffOff || n.ticks >= n.stopPlan.handoffUntilTick {
		return
	}
	if n.raw.BasicStatus().LeadTransferee != raft.None {
		return
	}
	target := n.transferee()
	if target == raft.None {
		return
	}
	if bugs.On(bugs.NodeStopKeepsLeadership) {
		return // planted bug (kvdbugs builds only): the transfer never starts
	}
	n.cfg.Logger.Info("handing leadership off before stopping", "to", fmt.Sprintf("%x", target), "term", n.term)
	n.raw.TransferLeader(target)
	n.stopPlan.handoffs++
}

// transferee is the voter, not this member, that raft last heard from
// and that holds the most of the log — raft must catch the transferee up
// before it can campaign — ties to the lowest id; raft.None if there is
// no other voter. etcd picks the longest-connected voter instead; the
// node knows no connections, and the most caught-up one takes over
// soonest.
func (n *Node) transferee() uint64 {
	var best uint64
	var bestActive bool
	var bestMatch uint64
	progress := n.raw.Status().Progress
	for _, id := range n.confState.GetVoters() {
		if id == n.cfg.ID {
			continue
		}
		pr, ok := progress[id]
		if !ok {
			continue
		}
		better := best == raft.None ||
			(pr.RecentActive && !bestActive) ||
			(pr.RecentActive == bestActive && (pr.Match > bestMatch || (pr.Match == bestMatch && id < best)))
		if better {
			best, bestActive, bestMatch = id, pr.RecentActive, pr.Match
		}
	}
	return best
}
