package node

import (
	"cmp"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// alarms is the replicated set of active alarms, as etcd's alarm store:
// which member raised which alarm. Alarms are raised and disarmed by
// AlarmRequest entries, so every member holds the same set at the same
// index, and it travels in state snapshots. While one is active, apply
// refuses what etcd's capped and corrupt appliers refuse (see refuses).
// Kept sorted by (member, alarm), so listings need no sort.
type alarms []*pb.AlarmMember

// alarmsMax bounds the set: one alarm of each type per member.
const alarmsMax = stateMemberCountMax * 3

func compareAlarms(a, b *pb.AlarmMember) int {
	if c := cmp.Compare(a.MemberID, b.MemberID); c != 0 {
		return c
	}
	return cmp.Compare(a.Alarm, b.Alarm)
}

// apply runs one AlarmRequest as etcd's applier does: GET lists the alarms
// of a type (NONE: all); ACTIVATE raises one (not NONE) and answers it,
// also when it was active already; DEACTIVATE disarms one and answers it,
// or nothing if it was not active.
func (as *alarms) apply(r *pb.AlarmRequest) *pb.AlarmResponse {
	resp := &pb.AlarmResponse{}
	key := &pb.AlarmMember{MemberID: r.MemberID, Alarm: r.Alarm}
	i, found := slices.BinarySearchFunc(*as, key, compareAlarms)
	switch r.Action {
	case pb.AlarmRequest_GET:
		resp.Alarms = as.get(r.Alarm)
	case pb.AlarmRequest_ACTIVATE:
		if r.Alarm == pb.AlarmType_NONE {
			break
		}
		if !found {
			if len(*as) >= alarmsMax {
				panic(fmt.Sprintf("node: more than %d alarms active", alarmsMax))
			}
			*as = slices.Insert(*as, i, key)
		}
		resp.Alarms = []*pb.AlarmMember{proto.Clone((*as)[i]).(*pb.AlarmMember)}
	case pb.AlarmRequest_DEACTIVATE:
		if found {
			resp.Alarms = []*pb.AlarmMember{(*as)[i]}
			*as = slices.Delete(*as, i, i+1)
		}
	}
	return resp
}

// get lists the active alarms of type t (NONE: every alarm), as copies.
func (as alarms) get(t pb.AlarmType) []*pb.AlarmMember {
	var out []*pb.AlarmMember
	for _, a := range as {
		if t == pb.AlarmType_NONE || a.Alarm == t {
			out = append(out, proto.Clone(a).(*pb.AlarmMember))
		}
	}
	return out
}

// clone is a copy a snapshot can keep while the set changes.
func (as alarms) clone() alarms { return as.get(pb.AlarmType_NONE) }

func (as alarms) has(t pb.AlarmType) bool {
	return slices.ContainsFunc(as, func(a *pb.AlarmMember) bool { return a.Alarm == t })
}

// refuses is the error apply answers r with under the active alarms, as
// etcd's appliers: CORRUPT refuses every write; NOSPACE refuses puts, txns
// that put and lease grants, and serves deletes, reads and compactions.
func (as alarms) refuses(r *pb.InternalRaftRequest) error {
	if len(as) == 0 {
		return nil
	}
	if as.has(pb.AlarmType_CORRUPT) && (r.Put != nil || r.DeleteRange != nil || r.Txn != nil || r.Compaction != nil || r.LeaseGrant != nil || r.LeaseRevoke != nil) {
		return rpctypes.ErrGRPCCorrupt
	}
	if as.has(pb.AlarmType_NOSPACE) && (r.Put != nil || r.LeaseGrant != nil || (r.Txn != nil && TxnPuts(r.Txn))) {
		return rpctypes.ErrGRPCNoSpace
	}
	return nil
}

// TxnPuts reports whether a txn may write a value in either branch, at any
// depth: what the NOSPACE alarm refuses (etcd: a txn of positive cost).
func TxnPuts(r *pb.TxnRequest) bool {
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			switch {
			case op.GetRequestPut() != nil:
				return true
			case op.GetRequestTxn() != nil && TxnPuts(op.GetRequestTxn()):
				return true
			}
		}
	}
	return false
}

// Alarms lists the active alarms in (member, alarm) order.
func (n *Node) Alarms() []*pb.AlarmMember { return n.alarms.get(pb.AlarmType_NONE) }
