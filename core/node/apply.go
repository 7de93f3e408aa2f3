package node

import (
	"bytes"
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/bugs"
)

// apply applies one committed entry, in log order.
func (n *Node) apply(e *raftpb.Entry) {
	index := e.GetIndex()
	if index <= n.appliedIndex {
		// Entries at or below a restored snapshot are already in the state.
		if index <= n.snapshotIndex {
			return
		}
		panic(fmt.Sprintf("node %x: entry %d applied again (applied index %d)", n.cfg.ID, index, n.appliedIndex))
	}
	if index != n.appliedIndex+1 {
		panic(fmt.Sprintf("node %x: entry %d applied after %d: apply order is not log order", n.cfg.ID, index, n.appliedIndex))
	}
	revBefore := n.kv.Rev()
	switch e.GetType() {
	case raftpb.EntryNormal:
		n.applyNormal(e)
	case raftpb.EntryConfChange:
		var cc raftpb.ConfChange
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			panic(fmt.Sprintf("node %x: entry %d: decode conf change: %v", n.cfg.ID, index, err))
		}
		n.applyConfChange(index, &cc)
	case raftpb.EntryConfChangeV2:
		var cc raftpb.ConfChangeV2
		if err := proto.Unmarshal(e.GetData(), &cc); err != nil {
			panic(fmt.Sprintf("node %x: entry %d: decode conf change v2: %v", n.cfg.ID, index, err))
		}
		n.applyConfChange(index, &cc)
	default:
		panic(fmt.Sprintf("node %x: entry %d of unknown type %v", n.cfg.ID, index, e.GetType()))
	}
	if rev := n.kv.Rev(); rev < revBefore {
		panic(fmt.Sprintf("node %x: entry %d moved revision back from %d to %d", n.cfg.ID, index, revBefore, rev))
	}
	n.appliedIndex = index
	n.logBytesSinceSnapshot += int64(len(e.GetData()))
	n.appliedBytesRound += int64(len(e.GetData()))
}

func (n *Node) applyNormal(e *raftpb.Entry) {
	if len(e.GetData()) == 0 {
		return // the empty entry a new leader appends
	}
	r := n.decodeRequest(e)
	var revBefore int64
	if bugs.On(bugs.APIHeaderRevisionStale) {
		revBefore = n.kv.Rev() // planted bug (kvdbugs builds only): the header's revision is read before the apply
	}
	if n.applied.contains(r.ID) {
		// A second copy of a proposal the network delivered twice: the
		// first was applied, and its proposer has its answer.
		if _, waiting := n.proposals[r.ID]; waiting {
			panic(fmt.Sprintf("node %x: entry %d repeats applied request %x, yet a request of that id waits: ids were reused",
				n.cfg.ID, e.GetIndex(), r.ID))
		}
		n.cfg.Logger.Debug("skipped a repeated proposal", "index", e.GetIndex(), "request", r.ID)
		return
	}
	resp, err := n.applyRequest(r, e.GetIndex())
	_, waiting := n.proposals[r.ID]
	if bugs.On(bugs.NodeDedupProposerOnly) && !waiting {
		// planted bug (kvdbugs builds only): only the member waiting for a request remembers its id
	} else {
		n.applied.add(r.ID)
	}
	if waiting {
		delete(n.proposals, r.ID)
		if bugs.On(bugs.NodeForwardDropsError) && err != nil && !n.isLeader {
			resp, err = nil, nil // planted bug (kvdbugs builds only): a follower's proposal refused at apply completes without its error
		}
		if bugs.On(bugs.APIHeaderRevisionStale) && err == nil && resp != nil {
			if h := n.header(resp); h != nil {
				h.Revision = revBefore
			}
		}
		n.complete(r.ID, resp, err)
	}
}

// decodeRequest returns the request entry e carries. The leader applies
// mostly entries it proposed itself, and decoding them again was a third of
// its apply time under a write load: an entry whose bytes are exactly those
// of a proposal still waiting here gives that proposal's request (requests
// are not changed after Submit; Submit's callers hand them over).
func (n *Node) decodeRequest(e *raftpb.Entry) *pb.InternalRaftRequest {
	data := e.GetData()
	if id, ok := leadingRequestID(data); ok {
		if p := n.proposals[id]; p != nil && bytes.Equal(p.data, data) {
			return p.req
		}
	}
	var r pb.InternalRaftRequest
	if err := proto.Unmarshal(data, &r); err != nil {
		panic(fmt.Sprintf("node %x: entry %d: decode request: %v", n.cfg.ID, e.GetIndex(), err))
	}
	return &r
}

// leadingRequestID reads InternalRaftRequest.ID (field 1, a varint) when it
// is the first field of data, as proto.Marshal writes it.
func leadingRequestID(data []byte) (uint64, bool) {
	num, typ, n := protowire.ConsumeTag(data)
	if n < 0 || num != 1 || typ != protowire.VarintType {
		return 0, false
	}
	id, m := protowire.ConsumeVarint(data[n:])
	return id, m >= 0
}

// applyRequest runs one replicated request against the state machine. Every
// member computes the same response, errors included.
func (n *Node) applyRequest(r *pb.InternalRaftRequest, index uint64) (proto.Message, error) {
	if resp, err, ok := n.auth.Apply(r, index); ok {
		if err != nil {
			return nil, err
		}
		return resp.(proto.Message), nil
	}
	if err := n.permitted(r); err != nil {
		return nil, err
	}
	if err := n.alarms.refuses(r); err != nil && !(n.cfg.Unsafe.FollowerIgnoresAlarms && !n.Status().IsLeader) {
		return nil, err
	}
	switch {
	case r.Put != nil:
		return n.kv.Put(r.Put)
	case r.DeleteRange != nil:
		return n.kv.DeleteRange(r.DeleteRange)
	case r.Txn != nil:
		return n.kv.Txn(r.Txn)
	case r.Compaction != nil:
		return n.kv.Compact(r.Compaction.Revision)
	case r.LeaseGrant != nil:
		resp, err := n.lessor.Grant(r.LeaseGrant.ID, r.LeaseGrant.TTL)
		return resp, err
	case r.LeaseRevoke != nil:
		delete(n.revoking, r.LeaseRevoke.ID)
		resp, err := n.lessor.Revoke(r.LeaseRevoke.ID)
		return resp, err
	case r.Range != nil:
		return n.kv.Range(r.Range)
	case r.ClusterMemberAttrSet != nil:
		return nil, n.applyMemberAttrs(r.ClusterMemberAttrSet)
	case r.Alarm != nil:
		return n.alarms.apply(r.Alarm), nil
	default:
		return nil, fmt.Errorf("node %x: request %d has no operation this member applies", n.cfg.ID, r.ID)
	}
}

// applyMemberAttrs records the attributes a member published about itself.
func (n *Node) applyMemberAttrs(r *membershippb.ClusterMemberAttrSetRequest) error {
	if _, ok := n.members[r.Member_ID]; !ok {
		return rpctypes.ErrGRPCMemberNotFound
	}
	n.attrs[r.Member_ID] = proto.Clone(r.GetMemberAttributes()).(*membershippb.Attributes)
	n.membersEpoch++
	return nil
}
