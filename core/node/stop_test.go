package node

import (
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// TestPrepareStopLeavesNothingToReplay: a graceful stop with at least
// SnapshotEntries applied since the newest snapshot saves one at the
// applied index first, in the largest steps, so the restart restores it
// and replays nothing; with fewer it asks for none.
func TestPrepareStopLeavesNothingToReplay(t *testing.T) {
	c, l, _ := newStopTestCluster(t)
	first := c.nodes[l].Status().SnapshotIndex
	// Small writes, a fraction of the state: the pacing takes no snapshot.
	putUntil := func(sinceFirst uint64) {
		for i := 0; c.nodes[l].Status().AppliedIndex-first < sinceFirst; i++ {
			mustOK(t, c.do(l, put("small", fmt.Sprint(i))))
		}
	}
	putUntil(5)
	if st := c.nodes[l].Status(); st.SnapshotIndex != first || st.AppliedIndex-first >= 10 {
		t.Fatalf("setup: snapshot at %d (want %d), applied %d", st.SnapshotIndex, first, st.AppliedIndex)
	}
	if index, ok := c.nodes[l].PrepareStop(true); ok {
		t.Fatalf("PrepareStop asked for a snapshot at %d with fewer than SnapshotEntries applied since %d", index, first)
	}
	putUntil(10)
	st := c.nodes[l].Status()
	if st.SnapshotIndex != first || st.AppliedIndex-first < 10 || c.nodes[l].SnapshotInProgress() {
		t.Fatalf("setup: snapshot at %d (want %d, none running), applied %d", st.SnapshotIndex, first, st.AppliedIndex)
	}
	index, ok := c.nodes[l].PrepareStop(true)
	if !ok || index != st.AppliedIndex {
		t.Fatalf("PrepareStop = %d, %v; want the applied index %d", index, ok, st.AppliedIndex)
	}
	rounds := 0
	for ; !c.nodes[l].Defragmented(index) && rounds < 100; rounds++ {
		if _, err := c.nodes[l].Process(); err != nil {
			t.Fatal(err)
		}
	}
	if !c.nodes[l].Defragmented(index) || rounds > 5 {
		t.Fatalf("snapshot at %d saved: %v after %d rounds; want it within 5 (largest steps)", index, c.nodes[l].Defragmented(index), rounds)
	}
	c.stop(l)
	c.start(l)
	if st := c.nodes[l].Status(); st.SnapshotIndex != index || st.AppliedIndex != index || st.CommitIndex != index {
		t.Fatalf("restarted: snapshot %d, applied %d, commit %d; want all %d, nothing to replay", st.SnapshotIndex, st.AppliedIndex, st.CommitIndex, index)
	}
	got := mustOK(t, c.do(c.waitLeader(), get("small", false))).Response.(*pb.RangeResponse)
	if want := c.nodes[l].Status().Revision; len(got.Kvs) != 1 || got.Kvs[0].ModRevision != want {
		t.Fatalf("restarted member reads small as %v, want it written at revision %d", got.Kvs, want)
	}
}

// TestPrepareStopOutlivesAnAbortedSnapshot: a stop that takes the
// snapshot being written waits for a new one when a compaction aborts it,
// rather than for a snapshot nothing would start.
func TestPrepareStopOutlivesAnAbortedSnapshot(t *testing.T) {
	c, l, big := newStopTestCluster(t)
	// Rewriting the big values logs as much as the state holds: the size
	// pacing starts the next snapshot, which the small steps keep running.
	for i := 0; !c.nodes[l].SnapshotInProgress(); i++ {
		if i > 100 {
			t.Fatal("no second snapshot started after 100 big writes")
		}
		mustOK(t, c.do(l, put(fmt.Sprintf("big%02d", i%20), big)))
	}
	index, ok := c.nodes[l].PrepareStop(true)
	if !ok || index == 0 || c.nodes[l].Defragmented(index) {
		t.Fatalf("PrepareStop = %d, %v with a snapshot running; want its index, not saved yet", index, ok)
	}
	// The stop's largest steps would finish the job in the next round:
	// the compaction lands first and outdates it.
	rev := c.nodes[l].Status().Revision
	mustOK(t, c.do(l, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}}))
	if st := c.nodes[l].Status(); st.SnapshotsAborted == 0 {
		t.Fatalf("setup: the job finished before the compaction applied (snapshot at %d): nothing aborted", st.SnapshotIndex)
	}
	rounds := 0
	for ; !c.nodes[l].Defragmented(index) && rounds < 20; rounds++ {
		if _, err := c.nodes[l].Process(); err != nil {
			t.Fatal(err)
		}
	}
	if !c.nodes[l].Defragmented(index) {
		t.Fatalf("no snapshot at or past %d within %d rounds after the abort (newest at %d)", index, rounds, c.nodes[l].Status().SnapshotIndex)
	}
}

// newStopTestCluster is one member holding a ~40 KB state of big values,
// snapshotted and settled, that snapshots in 16-byte steps (thousands of
// rounds, but for a stop's largest steps) and paces by size at ratio 1.
func newStopTestCluster(t *testing.T) (c *testCluster, leader uint64, big string) {
	t.Helper()
	c = newTestCluster(t, 1, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.SnapshotSizeRatioMax = 10, 5, 1
		cfg.SnapshotStepBytes = 16
	})
	leader = c.waitLeader()
	big, _ = c.bigStateSnapshotted(t, leader)
	for i := 0; c.nodes[leader].SnapshotInProgress(); i++ {
		if i > 5000 {
			t.Fatal("setup: the snapshot of the big state still runs after 5000 rounds")
		}
		c.settleOnce()
	}
	return c, leader, big
}

// TestStopHandsLeadershipOff: a stopping leader hands leadership to the
// most caught-up voter, and its stop is ready only once that voter leads,
// so the others go on writing without an election timeout of silence; a
// follower's stop (no snapshot asked) waits for nothing.
func TestStopHandsLeadershipOff(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	var behind, ahead uint64
	for _, id := range c.ids {
		if id != l {
			behind, ahead = ahead, id
		}
	}
	// The lower id misses the last writes: the transferee must be chosen
	// by how much of the log it holds, whatever the ids say.
	behind, ahead = min(behind, ahead), max(behind, ahead)
	c.isolate(behind)
	for i := range 3 {
		mustOK(t, c.do(l, put("k", fmt.Sprint(i))))
	}
	c.heal()
	if _, ok := c.nodes[l].PrepareStop(false); ok {
		t.Fatal("PrepareStop(false) asked for a snapshot")
	}
	if c.nodes[l].StopReady() {
		t.Fatal("the leader's stop is ready before it handed off")
	}
	ticks := 0
	for ; !c.nodes[l].StopReady() && ticks < 100; ticks++ {
		c.step()
		if !c.nodes[l].StopReady() {
			c.tick(1)
		}
	}
	asked, handedOff := c.nodes[l].Handoffs()
	if got := c.leader(); got != ahead || asked != 1 || !handedOff {
		t.Fatalf("after the stop: leader %d, %d transfers asked, handed off %v; want %d (the most caught up), 1, true",
			got, asked, handedOff, ahead)
	}
	if ticks >= c.nodes[l].cfg.ElectionTicks {
		t.Fatalf("the handoff took %d ticks, no faster than an election (%d)", ticks, c.nodes[l].cfg.ElectionTicks)
	}
	c.stop(l)
	mustOK(t, c.do(ahead, put("after", "handoff"))) // no tick needed: ahead leads
	if _, ok := c.nodes[behind].PrepareStop(false); ok || !c.nodes[behind].StopReady() {
		t.Fatalf("a follower's stop without a snapshot is not ready at once (snapshot asked: %v)", ok)
	}
}

// TestStopHandoffIsBounded: a leader cut off from every voter cannot hand
// off; its stop is ready after at most handoffElectionsMax election
// timeouts, and a lone member's at once.
func TestStopHandoffIsBounded(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	c.isolate(l)
	c.nodes[l].PrepareStop(false)
	bound := handoffElectionsMax * c.nodes[l].cfg.ElectionTicks
	ticks := 0
	for ; !c.nodes[l].StopReady() && ticks <= bound; ticks++ {
		c.tick(1)
	}
	if asked, handedOff := c.nodes[l].Handoffs(); !c.nodes[l].StopReady() || asked == 0 || handedOff {
		t.Fatalf("cut-off leader after %d ticks (bound %d): ready %v, %d transfers asked, handed off %v; want ready, ≥ 1, false",
			ticks, bound, c.nodes[l].StopReady(), asked, handedOff)
	}

	alone := newTestCluster(t, 1, nil)
	only := alone.waitLeader()
	alone.nodes[only].PrepareStop(false)
	if !alone.nodes[only].StopReady() {
		t.Fatal("a lone member's stop waits for a handoff nobody can take")
	}
	if asked, _ := alone.nodes[only].Handoffs(); asked != 0 {
		t.Fatalf("a lone member asked %d transfers", asked)
	}
}
