package node

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// With a small SnapshotStepBytes a snapshot spans many rounds; requests
// are served in between, the log is compacted only once it is saved, and
// members restart from it with the state they had.
func TestSnapshotSpansRoundsWhileServing(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.SnapshotStepBytes = 50, 10, 64
	})
	l := c.waitLeader()
	value := strings.Repeat("v", 100)
	servedWhileSnapshotting := 0
	for i := range 200 {
		inProgress := c.nodes[l].SnapshotInProgress()
		mustOK(t, c.do(l, put(fmt.Sprintf("k%03d", i%60), value)))
		if inProgress {
			servedWhileSnapshotting++
		}
	}
	if servedWhileSnapshotting < 20 {
		t.Fatalf("only %d of 200 writes were served while a snapshot was in progress", servedWhileSnapshotting)
	}
	for range 1000 {
		if !c.nodes[l].SnapshotInProgress() {
			break
		}
		c.settleOnce()
	}
	st := c.nodes[l].Status()
	if st.SnapshotIndex < 50 {
		t.Fatalf("leader's newest snapshot at index %d after %d applied entries", st.SnapshotIndex, st.AppliedIndex)
	}
	c.restartAllKeepsState(l, "k000")
}

// A compaction applied while a snapshot is being encoded may drop history
// the encoder still had to read: the job is dropped and a new one taken.
func TestCompactionAbortsARunningSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.SnapshotStepBytes = 50, 10, 16
	})
	l := c.waitLeader()
	value := strings.Repeat("v", 100)
	for i := 0; !c.nodes[l].SnapshotInProgress(); i++ {
		if i > 200 {
			t.Fatal("no snapshot started after 200 writes")
		}
		mustOK(t, c.do(l, put(fmt.Sprintf("k%03d", i%60), value)))
	}
	rev := c.nodes[l].Status().Revision
	mustOK(t, c.do(l, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}}))
	st := c.nodes[l].Status()
	if st.SnapshotsAborted == 0 {
		t.Fatalf("compaction to %d applied during a snapshot, none aborted (snapshot index %d)", rev, st.SnapshotIndex)
	}
	for range 5000 {
		if !c.nodes[l].SnapshotInProgress() {
			break
		}
		c.settleOnce()
	}
	if st := c.nodes[l].Status(); st.SnapshotIndex <= uint64(rev) || st.SnapshotIndex < 50 {
		t.Fatalf("no snapshot saved after the abort: index %d", st.SnapshotIndex)
	}
	c.stop(l)
	c.start(l)
	if got := c.nodes[l].Status().CompactRev; got != rev {
		t.Fatalf("restarted member compacted at %d, want %d", got, rev)
	}
}

// A large state is not rewritten after every SnapshotEntries small writes:
// the next snapshot waits until the log since the last one carried
// 1/SnapshotSizeRatioMax of its size.
func TestSnapshotsArePacedByTheLog(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.SnapshotSizeRatioMax = 10, 5, 2
	})
	l := c.waitLeader()
	big, first := c.bigStateSnapshotted(t, l)
	// ~40 KB of state; 100 tiny writes log a few KB, far below half of it.
	for i := range 100 {
		mustOK(t, c.do(l, put("small", fmt.Sprint(i))))
	}
	c.settleOnce()
	if got := c.nodes[l].Status().SnapshotIndex; got != first {
		t.Fatalf("snapshot retaken at %d after small writes worth a fraction of the state (first at %d)", got, first)
	}
	// Rewriting the big values logs more than half the state's size.
	for i := range 20 {
		mustOK(t, c.do(l, put(fmt.Sprintf("big%02d", i), big)))
	}
	c.settleOnce()
	if got := c.nodes[l].Status().SnapshotIndex; got == first {
		t.Fatalf("no new snapshot after logging more than half the state (still at %d)", got)
	}
}

// TestDefragmentRewritesCompactly: Defragment takes a snapshot now,
// whatever the pacing, so a store compacted since holds no more than its
// live data, and the member keeps its state over a restart from it.
func TestDefragmentRewritesCompactly(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) {
		cfg.SnapshotEntries = 1 << 20 // no snapshot of its own
		cfg.SnapshotCatchUpEntries = 10
	})
	id := c.waitLeader()
	value := strings.Repeat("v", 1<<10)
	for round := range 4 {
		for k := range 100 {
			mustOK(t, c.do(id, put(fmt.Sprintf("k%03d", k), fmt.Sprintf("%d%s", round, value))))
		}
	}
	rev := c.nodes[id].Status().Revision
	mustOK(t, c.do(id, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: rev}}))
	before := c.nodes[id].Status()
	if before.SnapshotIndex != 0 || before.LogBytesSinceSnapshot < 400<<10 {
		t.Fatalf("before: snapshot at %d, %d log bytes since; want none and 400 KiB of log", before.SnapshotIndex, before.LogBytesSinceSnapshot)
	}

	index := c.nodes[id].Defragment()
	if index != before.AppliedIndex || c.nodes[id].Defragmented(index) {
		t.Fatalf("Defragment asked for index %d (applied %d), done already: %v", index, before.AppliedIndex, c.nodes[id].Defragmented(index))
	}
	for range 200 {
		if c.nodes[id].Defragmented(index) {
			break
		}
		c.tick(1)
	}
	after := c.nodes[id].Status()
	if !c.nodes[id].Defragmented(index) || after.SnapshotIndex < index {
		t.Fatalf("no snapshot at %d after 200 ticks: %+v", index, after)
	}
	// The live data: 100 keys of 1 KiB; the history of 400 puts is gone.
	if after.SnapshotSizeBytes > 200<<10 || after.LogBytesSinceSnapshot > 4<<10 {
		t.Fatalf("after: snapshot %d bytes and %d log bytes since, want the 100 live KiB", after.SnapshotSizeBytes, after.LogBytesSinceSnapshot)
	}
	if again := c.nodes[id].Defragment(); !c.nodes[id].Defragmented(again) {
		t.Fatalf("a second Defragment with nothing new applied is not done at once")
	}
	c.stop(id)
	c.start(id)
	c.waitLeader()
	if st := c.nodes[id].Status(); st.Revision < rev || st.Keys != 100 {
		t.Fatalf("restarted: revision %d (want %d or more), %d keys", st.Revision, rev, st.Keys)
	}
}

// TestDefragmentAfterAnInstalledSnapshot: a member that just installed
// the leader's snapshot has its log starting there; a Defragment soon
// after leaves less than SnapshotCatchUpEntries behind its own snapshot,
// and must not try to compact what is gone (kvsim seed 1621 stopped a
// member on "requested index is unavailable due to compaction").
func TestDefragmentAfterAnInstalledSnapshot(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries = 50
		cfg.SnapshotCatchUpEntries = 20
	})
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	c.isolate(f)
	// Write until the leader has saved a snapshot well past what the
	// follower holds, and stop right there: the follower then installs it
	// with fewer than SnapshotCatchUpEntries entries after it.
	for i := 0; c.nodes[l].Status().SnapshotIndex < 150; i++ {
		if i > 1000 {
			t.Fatalf("leader saved no snapshot past 150 in 1000 writes: %+v", c.nodes[l].Status())
		}
		mustOK(t, c.do(l, put(fmt.Sprintf("k%d", i%10), "v")))
	}
	c.heal()
	for range 100 {
		if c.nodes[f].Status().AppliedIndex >= c.nodes[l].Status().AppliedIndex {
			break
		}
		c.tick(1)
	}
	st := c.nodes[f].Status()
	if st.SnapshotIndex == 0 || st.AppliedIndex != c.nodes[l].Status().AppliedIndex {
		t.Fatalf("follower %d did not catch up by snapshot: %+v", f, st)
	}
	mustOK(t, c.do(l, put("after", "v")))
	index := c.nodes[f].Defragment()
	for range 100 {
		if c.nodes[f].Defragmented(index) {
			break
		}
		c.tick(1)
	}
	if !c.nodes[f].Defragmented(index) {
		t.Fatalf("follower %d did not save the snapshot at %d: %+v", f, index, c.nodes[f].Status())
	}
	mustOK(t, c.do(f, put("after-defrag", "v")))
}

// A snapshot's state carries the index it was taken at, and a restore
// holds it to the raft metadata: a state one entry ahead of the index its
// snapshot claims would have that entry applied twice (etcd's consistent
// index, the etcd#13766 class).
func TestRestoreRefusesAStateAheadOfItsSnapshotIndex(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 20, 5 })
	l := c.waitLeader()
	for i := range 60 {
		mustOK(t, c.do(l, put(fmt.Sprintf("k%02d", i), "v")))
	}
	for range 1000 {
		if !c.nodes[l].SnapshotInProgress() && c.nodes[l].Status().SnapshotIndex > 0 {
			break
		}
		c.settleOnce()
	}
	snap, err := c.nodes[l].wal.ReadSnapshot()
	if err != nil || snap.GetMetadata().GetIndex() == 0 {
		t.Fatalf("no snapshot to restore: %v, %v", snap.GetMetadata(), err)
	}
	index := snap.GetMetadata().GetIndex()
	behind := proto.Clone(snap).(*raftpb.Snapshot)
	behind.Metadata.Index = proto.Uint64(index - 1)
	err = c.nodes[l].restoreState(behind)
	if !errors.Is(err, ErrBadState) || !strings.Contains(err.Error(), fmt.Sprintf("holds the entries through index %d", index)) {
		t.Fatalf("restore of a state at %d as a snapshot at %d: %v, want ErrBadState naming both", index, index-1, err)
	}
	// The snapshot as written restores: the member restarts from it.
	c.stop(l)
	c.start(l)
	c.waitLeader()
	if st := c.nodes[l].Status(); st.Keys != 60 || st.SnapshotIndex != index {
		t.Fatalf("restarted from the snapshot at %d: %d keys, snapshot index %d", index, st.Keys, st.SnapshotIndex)
	}
}

// While size pacing holds snapshots back, the raft log in memory is still
// bounded as etcd's (SnapshotEntries+SnapshotCatchUpEntries applied
// entries); a follower that needs trimmed entries gets a fresh snapshot,
// not the stale one (which would leave it needing them again), and every
// member keeps its state over a restart, replaying the WAL's entries
// since the newest snapshot that memory no longer held.
func TestTrimmedLogCatchesAFollowerUpByAFreshSnapshot(t *testing.T) {
	const entries, catchUp = 10, 5
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries, cfg.SnapshotSizeRatioMax = entries, catchUp, 1
	})
	l := c.waitLeader()
	_, first := c.bigStateSnapshotted(t, l)
	lag := c.ids[0]
	if lag == l {
		lag = c.ids[1]
	}
	c.isolate(lag)
	// ~40 KB of state; 100 tiny writes log a few KB, far below all of it.
	for i := range 100 {
		mustOK(t, c.do(l, put("small", fmt.Sprint(i))))
		held := c.heldApplied(l)
		if held > entries+catchUp {
			t.Fatalf("after write %d the leader holds %d applied entries in memory, want at most %d", i, held, entries+catchUp)
		}
	}
	st := c.nodes[l].Status()
	if st.SnapshotIndex != first {
		t.Fatalf("snapshot retaken at %d after small writes (first at %d): pacing did not hold it back, nothing to trim", st.SnapshotIndex, first)
	}
	if st.LogTrims == 0 {
		t.Fatalf("100 entries applied past a snapshot at %d, no trim", first)
	}
	c.heal()
	c.tick(60)
	st = c.nodes[l].Status()
	if st.TrimmedSnapshotAsks == 0 || st.SnapshotIndex == first || c.snapsSent == 0 {
		t.Fatalf("lagging member %d: %d asks for a fresh snapshot, leader's snapshot at %d (was %d), %d snapshots sent",
			lag, st.TrimmedSnapshotAsks, st.SnapshotIndex, first, c.snapsSent)
	}
	c.converged()
	if got, want := c.nodes[lag].Status().Revision, c.nodes[l].Status().Revision; got != want {
		t.Fatalf("lagging member at revision %d, leader at %d", got, want)
	}
	c.restartAllKeepsState(l, "small")
}

// heldApplied is how many applied entries member id's raft log holds in
// memory.
func (c *testCluster) heldApplied(id uint64) uint64 {
	first, err := c.nodes[id].storage.FirstIndex()
	if err != nil {
		panic(err)
	}
	if applied := c.nodes[id].appliedIndex; applied >= first {
		return applied - first + 1
	}
	return 0
}

// bigStateSnapshotted writes ~40 KB of state through leader l (20 values
// of the returned 2,000 bytes) and returns them with the index of the
// snapshot that must follow, with SnapshotEntries 10.
func (c *testCluster) bigStateSnapshotted(t *testing.T, l uint64) (big string, snapshotIndex uint64) {
	t.Helper()
	big = strings.Repeat("v", 2000)
	for i := range 20 {
		mustOK(t, c.do(l, put(fmt.Sprintf("big%02d", i), big)))
	}
	c.settleOnce()
	snapshotIndex = c.nodes[l].Status().SnapshotIndex
	if snapshotIndex == 0 {
		t.Fatal("no snapshot after 20 writes with SnapshotEntries 10")
	}
	return big, snapshotIndex
}
