package node

import (
	"fmt"
	"math"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// notePendingRevokes runs when this member becomes leader: every lease
// revoke in its log beyond the applied index (proposed by an earlier
// leader, or by this member in an earlier term) is recorded in n.revoking.
// A leader commits its whole log, so each of those revokes will land; until
// then Promote has given the lease a fresh TTL, and a keepalive answered
// from it would promise a TTL the lease will not live. LeaseKeepAlive
// refuses leases in n.revoking instead, as etcd's Renew waits for an
// expired lease's revoke and answers not found.
//
// fresh are the entries of the Ready that made this member leader, not yet
// in raft storage. The scan reads at most the unapplied tail of the log,
// which raft bounds (MaxUncommittedEntriesSize and the apply pace).
func (n *Node) notePendingRevokes(fresh []*raftpb.Entry) {
	first := n.appliedIndex + 1
	last, err := n.storage.LastIndex()
	if err != nil {
		panic(fmt.Sprintf("node %x: memory storage last index: %v", n.cfg.ID, err))
	}
	var stored []*raftpb.Entry
	if last >= first {
		stored, err = n.storage.Entries(first, last+1, math.MaxUint64)
		if err != nil {
			panic(fmt.Sprintf("node %x: memory storage entries [%d, %d]: %v", n.cfg.ID, first, last, err))
		}
	}
	for _, ents := range [][]*raftpb.Entry{stored, fresh} {
		for _, e := range ents {
			if e.GetType() != raftpb.EntryNormal || len(e.GetData()) == 0 || e.GetIndex() < first {
				continue
			}
			var r pb.InternalRaftRequest
			if err := proto.Unmarshal(e.GetData(), &r); err != nil {
				panic(fmt.Sprintf("node %x: entry %d in the log: decode request: %v", n.cfg.ID, e.GetIndex(), err))
			}
			if r.LeaseRevoke != nil {
				n.revoking[r.LeaseRevoke.ID] = n.ticks
			}
		}
	}
}
