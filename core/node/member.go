package node

import (
	"errors"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kvdlabs/kvd/core/watch"
)

var errNoLeader = rpctypes.ErrGRPCNoLeader

// fillHeader sets cluster id, member id and raft term on a response header,
// and the revision where the state machine left it unset.
func (n *Node) fillHeader(resp proto.Message) {
	if resp == nil {
		return
	}
	h := n.header(resp)
	if h == nil {
		return
	}
	h.ClusterId = n.cfg.ClusterID
	h.MemberId = n.cfg.ID
	h.RaftTerm = n.term
	if h.Revision == 0 {
		h.Revision = n.kv.Rev()
	}
}

// header returns resp's header, creating it when unset; nil if resp has none.
func (n *Node) header(resp proto.Message) *pb.ResponseHeader {
	if g, ok := resp.(interface{ GetHeader() *pb.ResponseHeader }); ok && g.GetHeader() != nil {
		return g.GetHeader()
	}
	m := resp.ProtoReflect()
	fd := m.Descriptor().Fields().ByName("header")
	if fd == nil || fd.Message() == nil || fd.Message().FullName() != "etcdserverpb.ResponseHeader" {
		return nil
	}
	h := &pb.ResponseHeader{}
	m.Set(fd, protoreflect.ValueOfMessage(h.ProtoReflect()))
	return h
}

// Header returns a response header for this member's current state.
func (n *Node) Header() *pb.ResponseHeader {
	return &pb.ResponseHeader{ClusterId: n.cfg.ClusterID, MemberId: n.cfg.ID, RaftTerm: n.term, Revision: n.kv.Rev()}
}

// Status is a member's view of the cluster.
type Status struct {
	ID       uint64
	Leader   uint64
	Term     uint64
	IsLeader bool
	// IsLearner: this member is a learner (not yet promoted).
	IsLearner    bool
	AppliedIndex uint64
	CommitIndex  uint64
	Revision     int64
	CompactRev   int64
	Keys         int
	Leases       int
	Watchers     int
	// SnapshotIndex is the applied index of the newest saved snapshot.
	SnapshotIndex uint64
	// SnapshotsAborted counts snapshot jobs dropped part-way (a compaction
	// outdated them, or the leader's snapshot replaced them).
	SnapshotsAborted uint64
	// LogTrims counts trims of the raft log held in memory to its bound
	// (SnapshotEntries+SnapshotCatchUpEntries applied entries), and
	// TrimmedSnapshotAsks how often a follower needing trimmed entries
	// had raft wait for a fresh snapshot.
	LogTrims, TrimmedSnapshotAsks uint64
	// SnapshotSizeBytes is the newest snapshot's size, and
	// LogBytesSinceSnapshot what the entries applied since it carried:
	// the data a member holds at the least (Defragment).
	SnapshotSizeBytes, LogBytesSinceSnapshot int64
	// WALReservedBytes is disk space the WAL has preallocated and not yet
	// written: in the data directory's size, but holding nothing.
	WALReservedBytes int64
}

// Status reports the member's state.
// Leading reports whether this member leads, and its raft term: the
// part of Status an observer looking after every round needs, without
// the cost of the rest.
func (n *Node) Leading() (leader bool, term uint64) {
	bs := n.raw.BasicStatus()
	return bs.RaftState == raft.StateLeader, bs.GetTerm()
}

// Durable is what a member holds in stable storage, as raft sees it: a
// harness checks a restarted member against what it promised and applied
// before.
type Durable struct {
	// Term and Vote are the HardState's (Vote 0: none in Term).
	Term, Vote uint64
	// LastIndex is the raft log's last index, its snapshot's included.
	LastIndex uint64
	// AppliedIndex is the last entry applied to the state.
	AppliedIndex uint64
	// TornTailBytes is what opening the WAL cut away as a torn tail.
	TornTailBytes int64
}

// Durable reports the member's durable raft state; cheap enough for every
// round.
func (n *Node) Durable() Durable {
	bs := n.raw.BasicStatus()
	last, _ := n.storage.LastIndex() // a MemoryStorage never fails
	return Durable{Term: bs.GetTerm(), Vote: bs.GetVote(), LastIndex: last, AppliedIndex: n.appliedIndex, TornTailBytes: n.tornTailBytes}
}

func (n *Node) Status() Status {
	bs := n.raw.BasicStatus()
	return Status{
		ID:           n.cfg.ID,
		Leader:       bs.Lead,
		Term:         bs.GetTerm(),
		IsLeader:     bs.RaftState == raft.StateLeader,
		IsLearner:    n.isLearner(n.cfg.ID),
		AppliedIndex: n.appliedIndex,
		CommitIndex:  bs.GetCommit(),
		Revision:     n.kv.Rev(),
		CompactRev:   n.kv.CompactRev(),
		Keys:         n.kv.KeyCount(),
		Leases:       n.lessor.Len(),
		Watchers:     n.hub.WatcherCount(),

		SnapshotIndex:         n.snapshotIndex,
		SnapshotSizeBytes:     n.snapshotSizeBytes,
		LogBytesSinceSnapshot: n.logBytesSinceSnapshot,
		SnapshotsAborted:      n.snapshotsAborted,
		LogTrims:              n.logTrims,
		TrimmedSnapshotAsks:   n.trimmedSnapshotAsks,
		WALReservedBytes:      n.wal.ReservedBytes(),
	}
}

// Member is one member: the context it joined with (etcd's member JSON;
// PeerURLs read from it), whether it is a learner, and the attributes it
// published since (empty until it has).
type Member struct {
	ID         uint64
	Context    []byte
	PeerURLs   []string
	IsLearner  bool
	Name       string
	ClientURLs []string
}

// MembersEpoch changes whenever Members would return something new, so a
// caller can keep its copy until then instead of rebuilding it per round.
func (n *Node) MembersEpoch() uint64 { return n.membersEpoch }

// Members lists the members in id order.
func (n *Node) Members() []Member {
	ids := make([]uint64, 0, len(n.members))
	for id := range n.members {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	ms := make([]Member, len(ids))
	for i, id := range ids {
		ms[i] = Member{
			ID: id, Context: n.members[id], PeerURLs: decodeMemberContext(n.members[id]).PeerURLs, IsLearner: n.isLearner(id),
			Name: n.attrs[id].GetName(), ClientURLs: slices.Clone(n.attrs[id].GetClientUrls()),
		}
	}
	return ms
}

// HashKV hashes the store at rev (0: current) as etcd does (mvcc HashKV),
// so members, and kvd and etcd members, can be compared.
func (n *Node) HashKV(rev int64) (*pb.HashKVResponse, error) {
	h, hashRev, compactRev, err := n.kv.HashKV(rev)
	if err != nil {
		return nil, err
	}
	// The header names the store's current revision, as etcd's.
	return &pb.HashKVResponse{Header: n.Header(), Hash: h, CompactRevision: compactRev, HashRevision: hashRev}, nil
}

// LeaseKeepAlive renews a lease. Only the leader tracks expiry, so a
// follower answers etcd's not-leader error and the caller goes to the leader.
func (n *Node) LeaseKeepAlive(id int64) (*pb.LeaseKeepAliveResponse, error) {
	if !n.isLeader {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	if _, revoking := n.revoking[id]; revoking {
		// Its revoke is in the log and will commit: renewing it would
		// promise a TTL it will not live (see notePendingRevokes).
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	ttl, err := n.lessor.KeepAlive(id)
	if err != nil {
		return nil, err
	}
	return &pb.LeaseKeepAliveResponse{Header: n.Header(), ID: id, TTL: ttl}, nil
}

// LeaseTimeToLive reports a lease's remaining TTL (leader only, as keepalive).
func (n *Node) LeaseTimeToLive(id int64, keys bool) (*pb.LeaseTimeToLiveResponse, error) {
	if !n.isLeader {
		return nil, rpctypes.ErrGRPCNotLeader
	}
	resp, err := n.lessor.TimeToLive(id, keys)
	if err != nil {
		return nil, err
	}
	resp.Header = n.Header()
	return resp, nil
}

// Leases lists the leases this member knows.
func (n *Node) Leases() *pb.LeaseLeasesResponse {
	resp := n.lessor.Leases()
	resp.Header = n.Header()
	return resp
}

// Watch registers a watcher on a stream of the caller's; responses come out
// of Process in Output.Watch.
// The caller hdr (Authorize) needs read permission on the watched range.
func (n *Node) Watch(streamID int64, req *pb.WatchCreateRequest, hdr *pb.RequestHeader) (int64, error) {
	if err := n.permittedWatch(hdr, req); err != nil {
		return 0, err
	}
	return n.hub.Watch(streamID, req)
}

// CancelWatch cancels one watcher.
func (n *Node) CancelWatch(streamID, watchID int64) error { return n.hub.Cancel(streamID, watchID) }

// CloseWatchStream drops every watcher of a stream.
func (n *Node) CloseWatchStream(streamID int64) { n.hub.CloseStream(streamID) }

// HoldWatchStream says whether a stream's reader is behind: while held, its
// responses wait in the hub and later revisions join them (watch.Hub.Hold).
func (n *Node) HoldWatchStream(streamID int64, held bool) { n.hub.Hold(streamID, held) }

// RequestWatchProgress asks for a progress response on a stream.
func (n *Node) RequestWatchProgress(streamID int64) { n.hub.RequestProgress(streamID) }

// WatchProgressNotify queues progress responses for watchers that asked.
func (n *Node) WatchProgressNotify() { n.hub.ProgressNotify() }

// Hub exposes the watch hub to callers that deliver watch responses.
func (n *Node) Hub() *watch.Hub { return n.hub }

// Close releases the WAL. The node must not be used afterwards.
func (n *Node) Close() error {
	if n.failed == nil {
		n.failed = ErrStopped
	}
	abortErr := n.abortSnapshot()
	return errors.Join(abortErr, n.wal.Close())
}

// LocalRange serves a range from this member's applied state at once, as a
// serializable read does, without queueing anything for Process.
func (n *Node) LocalRange(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	resp, err := n.kv.Range(r)
	if err == nil {
		n.fillHeader(resp)
	}
	return resp, err
}
