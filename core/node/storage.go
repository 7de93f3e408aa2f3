package node

import (
	"fmt"
	"log/slog"

	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/wal"
)

// raftStorage is raft's MemoryStorage holding only the snapshot's metadata:
// the snapshot's data — the whole state machine, over 100 MB at a million
// keys — lives in the WAL's snapshot file, and raft asks for it only to send
// a lagging follower a snapshot, when it is read back from there.
type raftStorage struct {
	*raft.MemoryStorage
	wal *wal.WAL
	log *slog.Logger
	n   *Node
}

// withoutData is snap's metadata alone, for the memory storage.
func withoutData(snap *raftpb.Snapshot) *raftpb.Snapshot {
	return &raftpb.Snapshot{Metadata: proto.Clone(snap.GetMetadata()).(*raftpb.SnapshotMetadata)}
}

// Snapshot implements raft.Storage, filling in the data from the WAL.
func (s raftStorage) Snapshot() (*raftpb.Snapshot, error) {
	meta, err := s.MemoryStorage.Snapshot()
	if err != nil || meta.GetMetadata().GetIndex() == 0 {
		return meta, err
	}
	if index := meta.GetMetadata().GetIndex(); index < s.n.addedIndex {
		// The newest snapshot predates a member added since: that member
		// would refuse it (it is not in its configuration). Ask for a
		// newer one; raft asks again later.
		s.n.snapshotDueIndex = max(s.n.snapshotDueIndex, s.n.addedIndex)
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	if first, _ := s.MemoryStorage.FirstIndex(); meta.GetMetadata().GetIndex()+1 < first {
		// trimRaftLog dropped entries the newest snapshot does not cover:
		// a follower given it would ask for them next, and be sent it
		// again. Ask for a snapshot covering the trim; a running one
		// already does (trims stop at its index).
		s.n.snapshotDueIndex = max(s.n.snapshotDueIndex, first-1)
		s.n.trimmedSnapshotAsks++
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	snap, err := s.wal.ReadSnapshot()
	if err != nil {
		// raft retries a temporarily unavailable snapshot later (it
		// compares this very error value); the follower keeps waiting
		// rather than the leader stopping.
		s.log.Error("cannot read the snapshot back for a lagging follower", "err", err.Error())
		return nil, raft.ErrSnapshotTemporarilyUnavailable
	}
	if snap.GetMetadata().GetIndex() != meta.GetMetadata().GetIndex() || snap.GetMetadata().GetTerm() != meta.GetMetadata().GetTerm() {
		panic(fmt.Sprintf("node: WAL snapshot at term %d index %d, raft storage at term %d index %d: they are saved together",
			snap.GetMetadata().GetTerm(), snap.GetMetadata().GetIndex(), meta.GetMetadata().GetTerm(), meta.GetMetadata().GetIndex()))
	}
	return snap, nil
}
