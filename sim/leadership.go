package sim

import (
	"slices"
	"time"

	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/nemesis"
)

// LeaderChange is a moment the cluster's leader (as Cluster.Leader reports
// it) changed: to Leader in Term, or to none (Leader 0).
type LeaderChange struct {
	At     time.Time
	Leader uint64
	Term   uint64
}

// leaderChangesMax bounds the changes a cluster keeps; later ones are
// counted, not kept.
const leaderChangesMax = 1 << 14

// leadership follows the cluster's leader after every member round,
// crash, pause and resume, for the comparison of protocol variants
// (elections, time without a leader). It reads state and schedules
// nothing, traces nothing: runs are the same with it as without.
type leadership struct {
	leader, term uint64
	changes      []LeaderChange
	dropped      int
	// overlapSince is when two or more members last came to believe they
	// lead (zero: fewer do now); overlap sums the closed spans.
	overlapSince time.Time
	overlap      time.Duration
}

// LeaderStops counts graceful stops (Member.Stop) of a member that led
// when its stop began, and those that handed leadership to another
// member before closing (node.PrepareStop); the rest found nobody to take
// it in time.
type LeaderStops struct {
	Stops, HandedOff int
}

// LeaderStops reports the graceful stops of leaders so far.
func (c *Cluster) LeaderStops() LeaderStops { return c.leaderStops }

// calmFor reports whether a graceful stop of member m runs with nothing
// else going on: no fault active but the one stopping m alone, every
// other member up, running, and not stopping itself, and at least one of
// them a voter in m's configuration, which could take its leadership. A
// leader stopped in calm hands its leadership off (node.PrepareStop), or
// the simulator reports a liveness problem.
func (c *Cluster) calmFor(m *Member) bool {
	for _, a := range c.faults.active {
		if a.f.Kind != nemesis.GracefulRestart || !slices.Equal(a.targets, []uint64{m.id}) {
			return false
		}
	}
	for _, id := range c.ids {
		o := c.members[id]
		if id != m.id && (o == nil || o.node == nil || o.paused || o.stopping || o.damaged != nil) {
			return false
		}
	}
	return slices.ContainsFunc(m.node.Members(), func(o node.Member) bool {
		return o.ID != m.id && !o.IsLearner && slices.Contains(c.ids, o.ID)
	})
}

// LivenessProblems are the simulator's own findings of a cluster that did
// not make progress it should have: judged as liveness failures, after
// correctness.
func (c *Cluster) LivenessProblems() []string { return slices.Clone(c.livenessProblems) }

// stuck records a liveness problem.
func (c *Cluster) stuck(problem string) {
	if len(c.livenessProblems) < violationsMax {
		c.livenessProblems = append(c.livenessProblems, problem)
	}
}

// observeLeadership records a change of leader, if there is one.
func (c *Cluster) observeLeadership() {
	lead, term, leaders := c.leaderTerm()
	l := &c.leadership
	switch now := c.w.Now(); {
	case leaders > 1 && l.overlapSince.IsZero():
		l.overlapSince = now
	case leaders <= 1 && !l.overlapSince.IsZero():
		l.overlap += now.Sub(l.overlapSince)
		l.overlapSince = time.Time{}
	}
	if lead == l.leader && (lead == 0 || term == l.term) {
		return
	}
	l.leader, l.term = lead, term
	if len(l.changes) >= leaderChangesMax {
		l.dropped++
		return
	}
	l.changes = append(l.changes, LeaderChange{At: c.w.Now(), Leader: lead, Term: term})
}

// LeaderChanges returns every change of leader so far, in time order, and
// how many more happened beyond what is kept.
func (c *Cluster) LeaderChanges() (changes []LeaderChange, dropped int) {
	return append([]LeaderChange(nil), c.leadership.changes...), c.leadership.dropped
}

// LeadersOverlap is the time so far during which two or more live
// members believed they led: a leader cut off from the others that has
// not stepped down (CheckQuorum bounds it to about an election timeout).
func (c *Cluster) LeadersOverlap() time.Duration {
	l := c.leadership
	if !l.overlapSince.IsZero() {
		return l.overlap + c.w.Now().Sub(l.overlapSince)
	}
	return l.overlap
}

// IOStats counts what a cluster's members sent and synced: every message
// on the simulated network (client traffic included) with its wire size,
// and every file and directory sync of every member's disk.
type IOStats struct {
	Messages     uint64
	MessageBytes int64
	DiskSyncs    uint64
}

// IOStats returns the cluster's counts so far.
func (c *Cluster) IOStats() IOStats {
	s := IOStats{Messages: c.w.network.messageSeq, MessageBytes: c.w.network.sentBytes}
	for _, id := range c.ids {
		s.DiskSyncs += c.members[id].disk.syncs
	}
	return s
}
