package node

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// PeerHash is one member's HashKV answer to the leader's corruption check;
// Resp is nil when the member did not answer.
type PeerHash struct {
	ID   uint64
	Resp *pb.HashKVResponse
}

// JudgeHashes is etcd's periodic corruption check, run by the leader. own
// is the leader's HashKV at its current revision before it asked the peers
// for their hash at that revision, ownAfter the leader's HashKV again after
// a linearizable read. It names the first member the check finds corrupt
// (0: none) and why, as etcd's rules do:
//   - the leader itself, when its own hash of one revision changed;
//   - a peer ahead of the leader (revision or compaction revision), which a
//     leader never is behind;
//   - a peer whose hash of the same revision, at the same compaction
//     revision, differs from the leader's.
//
// Every member computes HashKV the same way (mvcc HashKV), so equal
// histories give equal hashes; the kvd daemon and the simulator both run
// it.
func JudgeHashes(self uint64, own, ownAfter *pb.HashKVResponse, peers []PeerHash) (corrupt uint64, why string) {
	if ownAfter.Hash != own.Hash && ownAfter.HashRevision == own.HashRevision && ownAfter.CompactRevision == own.CompactRevision {
		return self, fmt.Sprintf("member %x hashed revision %d as %08x, then as %08x", self, own.HashRevision, own.Hash, ownAfter.Hash)
	}
	for _, p := range peers {
		r := p.Resp
		switch {
		case r == nil:
		case r.GetHeader().GetRevision() > ownAfter.GetHeader().GetRevision():
			return p.ID, fmt.Sprintf("member %x is at revision %d, past the leader's %d", p.ID, r.GetHeader().GetRevision(), ownAfter.GetHeader().GetRevision())
		case r.CompactRevision > ownAfter.CompactRevision:
			return p.ID, fmt.Sprintf("member %x compacted at %d, past the leader's %d", p.ID, r.CompactRevision, ownAfter.CompactRevision)
		case r.CompactRevision == own.CompactRevision && r.Hash != own.Hash:
			return p.ID, fmt.Sprintf("member %x hashes revision %d as %08x, the leader as %08x (compaction at %d)", p.ID, own.HashRevision, r.Hash, own.Hash, own.CompactRevision)
		}
	}
	return 0, ""
}

// corrupt reports whether an active CORRUPT alarm names this member: it
// then serves no linearizable read, its state being in doubt.
// JudgeInitial is etcd's initial corruption check, made by a member that
// has just recovered and applied its log, before it serves: every peer
// that answered HashKV at the member's revision (own) with the same
// compaction revision must have the same hash. It describes each peer
// that differs; none means the member may serve. Peers that could not
// answer (nil Resp: down, behind, compacted past) are skipped, as etcd
// skips them.
func JudgeInitial(own *pb.HashKVResponse, peers []PeerHash) (mismatches []string) {
	for _, p := range peers {
		if p.Resp == nil || p.Resp.CompactRevision != own.CompactRevision || p.Resp.Hash == own.Hash {
			continue
		}
		mismatches = append(mismatches, fmt.Sprintf("peer %x hashes %08x at revision %d, this member %08x",
			p.ID, p.Resp.Hash, own.HashRevision, own.Hash))
	}
	return mismatches
}

func (n *Node) corrupt() bool {
	for _, a := range n.alarms {
		if a.Alarm == pb.AlarmType_CORRUPT && a.MemberID == n.cfg.ID {
			return true
		}
	}
	return false
}
