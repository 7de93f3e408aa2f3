package node

import (
	"testing"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/wal"
)

// A crash can leave the durable commit index behind a snapshot: commit-only
// hard states are written without fsync, snapshots of applied entries are
// synced. The member must restart on the snapshot, not panic in raft.
func TestRestartWithCommitBehindSnapshot(t *testing.T) {
	c := newTestCluster(t, 1, func(cfg *Config) { cfg.SnapshotEntries, cfg.SnapshotCatchUpEntries = 10, 2 })
	c.waitLeader()
	for range 30 {
		mustOK(t, c.do(1, put("k", "v")))
	}
	rev := c.nodes[1].Status().Revision
	c.stop(1)

	w, rec, err := wal.Open(c.fs[1], "member", wal.Options{})
	if err != nil {
		t.Fatal(err)
	}
	snapIndex := rec.Snapshot.GetMetadata().GetIndex()
	if snapIndex < 10 {
		t.Fatalf("no snapshot was taken (index %d)", snapIndex)
	}
	hs := proto.Clone(rec.HardState).(*raftpb.HardState)
	hs.Commit = proto.Uint64(snapIndex - 5)
	if err := w.Save(hs, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}

	c.start(1)
	c.waitLeader()
	if got := c.nodes[1].Status().Revision; got != rev {
		t.Fatalf("revision %d after restart, want %d", got, rev)
	}
	mustOK(t, c.do(1, put("after", "restart")))
}
