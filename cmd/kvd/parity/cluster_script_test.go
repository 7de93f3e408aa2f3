package parity

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// clusterScript is what differs once there are peers: calls through a
// follower (forwarded or read-indexed), and the cluster's view of itself.
func clusterScript() []step {
	var s []step
	add := func(name string, run func(context.Context, *env) any) { s = append(s, step{name, run}) }
	sortedLines := func(out string) string {
		lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
		slices.Sort(lines)
		return strings.Join(lines, "\n")
	}

	add("member list through a follower", func(ctx context.Context, e *env) any {
		resp, err := e.clu.MemberList(ctx, &pb.MemberListRequest{Linearizable: true})
		if err != nil {
			return err
		}
		// etcd lists members by id; ids must differ between systems.
		slices.SortFunc(resp.Members, func(a, b *pb.Member) int { return strings.Compare(e.n.roleOf(a.Name), e.n.roleOf(b.Name)) })
		return resp
	})
	add("status of every member", func(ctx context.Context, e *env) any {
		var out []string
		var leaders []uint64
		for _, p := range e.m.peers {
			st, err := e.m.cli.Status(ctx, p.clientURL)
			if err != nil {
				return err
			}
			leaders = append(leaders, st.Leader)
			out = append(out, fmt.Sprintf("%s: isLearner=%v errors=%v", e.n.role(p), st.IsLearner, st.Errors))
		}
		slices.Sort(out)
		// Which member leads is an election's outcome; that all agree is not.
		agreed := leaders[0] != 0 && slices.IndexFunc(leaders, func(l uint64) bool { return l != leaders[0] }) < 0
		return strings.Join(append(out, fmt.Sprintf("one leader agreed by all: %v", agreed)), "\n")
	})
	add("put through a follower", put("/c/a", "1", func(r *pb.PutRequest) { r.PrevKv = true }))
	add("linearizable get through a follower", rng("/c/a", ""))
	add("serializable get through a follower", rng("/c/a", "", func(r *pb.RangeRequest) { r.Serializable = true }))
	add("txn through a follower", txn(&pb.TxnRequest{
		Compare: []*pb.Compare{cmpValue("/c/a", pb.Compare_EQUAL, "1")},
		Success: []*pb.RequestOp{opPut("/c/b", "2"), opRange("/c/", "/c0")},
	}))
	add("delete through a follower", del("/c/b", "", true))
	add("range stream through a follower", rangeStream(&pb.RangeRequest{Key: []byte("/c/"), RangeEnd: []byte("/c0")}))
	add("lease grant through a follower", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID, TTL: 60}))
	})
	add("put with the lease through a follower", put("/c/l", "leased", func(r *pb.PutRequest) { r.Lease = leaseFixedID }))
	add("lease time to live through a follower", func(ctx context.Context, e *env) any {
		resp, err := e.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: leaseFixedID, Keys: true})
		if err != nil {
			return err
		}
		return remainingTTL(resp)
	})
	add("lease keep alive through a follower", func(ctx context.Context, e *env) any { return keepAliveOnce(ctx, e, leaseFixedID) })
	add("lease leases through a follower", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseLeases(ctx, &pb.LeaseLeasesRequest{}))
	})
	add("lease revoke through a follower", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseRevoke(ctx, &pb.LeaseRevokeRequest{ID: leaseFixedID}))
	})
	add("lease time to live revoked through a follower", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseTimeToLive(ctx, &pb.LeaseTimeToLiveRequest{ID: leaseFixedID}))
	})
	add("lease keep alive unknown through a follower", func(ctx context.Context, e *env) any { return keepAliveOnce(ctx, e, leaseFixedID) })
	add("watch through a follower", watchSteps(3,
		watchCreate(&pb.WatchCreateRequest{Key: []byte("/c/w"), PrevKv: true}),
		doPut("/c/w", "1"), doPut("/c/w", "2")))
	add("compact through a follower", func(ctx context.Context, e *env) any {
		resp, err := e.kv.Range(ctx, &pb.RangeRequest{Key: []byte("/c/"), CountOnly: true})
		if err != nil {
			return err
		}
		return answer(e.kv.Compact(ctx, &pb.CompactionRequest{Revision: resp.Header.Revision - 1, Physical: true}))
	})
	// Before the mutex: its keys name a lease the server chose, so the
	// histories (and hashes) differ from there on.
	add("etcdctl endpoint hashkv --cluster", func(ctx context.Context, e *env) any {
		return sortedLines(e.n.text(e.m.etcdctl("", "endpoint", "hashkv", "--cluster")))
	})
	add("mutex through a follower", func(ctx context.Context, e *env) any {
		sess, err := concurrency.NewSession(e.m.cli, concurrency.WithTTL(30))
		if err != nil {
			return err
		}
		e.n.learnID(int64(sess.Lease()))
		defer sess.Close()
		mu := concurrency.NewMutex(sess, "/c/lock")
		if err := mu.Lock(ctx); err != nil {
			return err
		}
		return []any{mu.Key(), mu.Header()}
	})
	add("etcdctl member list", func(ctx context.Context, e *env) any {
		// Lines come in id order (ids differ), and health checks run at once.
		return sortedLines(e.n.text(e.m.etcdctl("", "member", "list")))
	})
	add("etcdctl endpoint health --cluster", func(ctx context.Context, e *env) any {
		return sortedLines(e.n.text(e.m.etcdctl("", "endpoint", "health", "--cluster")))
	})
	add("etcdctl put and get through a follower", func(ctx context.Context, e *env) any {
		return []any{e.m.etcdctl("", "put", "/c/ctl", "v", "--prev-kv"), e.m.etcdctl("", "get", "/c/", "--prefix", "-w", "json")}
	})

	// Alarms are replicated: raised through one member, every member has
	// them.
	alarm := func(action pb.AlarmRequest_AlarmAction, role string, t pb.AlarmType) func(context.Context, *env) any {
		return func(ctx context.Context, e *env) any {
			return answer(e.mt.Alarm(ctx, &pb.AlarmRequest{Action: action, MemberID: e.n.byRole(role).memberID, Alarm: t}))
		}
	}
	add("alarm activate NOSPACE of the leader", alarm(pb.AlarmRequest_ACTIVATE, "leader", pb.AlarmType_NOSPACE))
	add("alarm activate NOSPACE again", alarm(pb.AlarmRequest_ACTIVATE, "leader", pb.AlarmType_NOSPACE))
	add("alarm activate NONE", alarm(pb.AlarmRequest_ACTIVATE, "other", pb.AlarmType_NONE))
	add("alarm get", alarm(pb.AlarmRequest_GET, "other", pb.AlarmType_NONE))
	add("put under NOSPACE", put("/c/nospace", "x"))
	add("txn delete under NOSPACE", txn(&pb.TxnRequest{Success: []*pb.RequestOp{opDel("/c/nospace", "")}}))
	add("lease grant under NOSPACE", func(ctx context.Context, e *env) any {
		return answer(e.lease.LeaseGrant(ctx, &pb.LeaseGrantRequest{ID: leaseFixedID + 1, TTL: 60}))
	})
	add("status errors of every member under NOSPACE", func(ctx context.Context, e *env) any {
		var out []string
		for _, p := range e.m.peers {
			st, err := e.m.cli.Status(ctx, p.clientURL)
			if err != nil {
				return err
			}
			// The alarm's text is protobuf's, whose spacing varies by build.
			out = append(out, e.n.role(p)+": "+strings.Join(strings.Fields(strings.Join(st.Errors, " | ")), " "))
		}
		slices.Sort(out)
		return strings.Join(out, "\n")
	})
	add("etcdctl alarm list", func(ctx context.Context, e *env) any { return e.m.etcdctl("", "alarm", "list") })
	add("etcdctl endpoint health under NOSPACE", func(ctx context.Context, e *env) any {
		return sortedLines(e.n.text(e.m.etcdctl("", "endpoint", "health", "--cluster")))
	})
	add("etcdctl alarm disarm", func(ctx context.Context, e *env) any { return e.m.etcdctl("", "alarm", "disarm") })
	add("alarm deactivate inactive", alarm(pb.AlarmRequest_DEACTIVATE, "leader", pb.AlarmType_NOSPACE))
	add("put after disarm", put("/c/nospace", "y"))
	add("etcdctl defrag --cluster", func(ctx context.Context, e *env) any {
		return sortedLines(e.n.text(e.m.etcdctl("", "defrag", "--cluster")))
	})
	add("get after defrag", rng("/c/", "/c0", func(r *pb.RangeRequest) { r.KeysOnly = true }))

	// Membership through a follower: a learner that never starts is added,
	// refused promotion, updated and removed; the mistakes get etcd's
	// errors. A new member's id is drawn from the time, so answers say
	// what the membership became rather than the ids.
	const learnerURL = "http://127.0.0.1:1"
	var learnerID uint64
	membership := func(header *pb.ResponseHeader, ms []*pb.Member) string {
		var voters, learners []string
		for _, m := range ms {
			urls := strings.Join(m.PeerURLs, ",")
			if m.IsLearner {
				learners = append(learners, urls)
			} else {
				voters = append(voters, urls)
			}
		}
		return fmt.Sprintf("header=%v voters=%d learners=%v", header, len(voters), learners)
	}
	add("member add right after start", func(ctx context.Context, e *env) any {
		// Both refuse to add a member until the cluster has worked for
		// 5 s (etcd's HealthInterval)... unless this run got here late.
		_, err := e.clu.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{learnerURL}, IsLearner: true})
		if err == nil {
			return "the cluster was old enough: nothing to compare"
		}
		time.Sleep(5500 * time.Millisecond)
		return fmt.Sprintf("refused (%v); waited 5.5 s", err)
	})
	add("member add a learner", func(ctx context.Context, e *env) any {
		resp, err := e.clu.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{learnerURL}, IsLearner: true})
		if err != nil {
			return err
		}
		learnerID = resp.Member.ID
		return fmt.Sprintf("member learner=%v urls=%v name=%q; %s", resp.Member.IsLearner, resp.Member.PeerURLs, resp.Member.Name,
			membership(resp.Header, resp.Members))
	})
	add("member add a second learner", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"http://127.0.0.1:2"}, IsLearner: true}))
	})
	add("member add a peer URL in use", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{learnerURL, "http://127.0.0.1:3"}}))
	})
	add("member add a bad URL", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberAdd(ctx, &pb.MemberAddRequest{PeerURLs: []string{"ftp://127.0.0.1:4"}}))
	})
	add("member promote a learner not caught up", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: learnerID}))
	})
	add("member promote a voter", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: e.n.byRole("leader").memberID}))
	})
	add("member promote a stranger", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberPromote(ctx, &pb.MemberPromoteRequest{ID: 12345}))
	})
	add("member remove a stranger", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: 12345}))
	})
	add("member update a stranger", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: 12345, PeerURLs: []string{"http://127.0.0.1:5"}}))
	})
	add("member update the learner", func(ctx context.Context, e *env) any {
		resp, err := e.clu.MemberUpdate(ctx, &pb.MemberUpdateRequest{ID: learnerID, PeerURLs: []string{"http://127.0.0.1:6"}})
		if err != nil {
			return err
		}
		return membership(resp.Header, resp.Members)
	})
	add("member remove the learner", func(ctx context.Context, e *env) any {
		resp, err := e.clu.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: learnerID})
		if err != nil {
			return err
		}
		return membership(resp.Header, resp.Members)
	})
	add("member remove the learner again", func(ctx context.Context, e *env) any {
		return answer(e.clu.MemberRemove(ctx, &pb.MemberRemoveRequest{ID: learnerID}))
	})

	// Leadership moves last: the roles name the members as they were.
	leaderStatus := func(ctx context.Context, e *env) any {
		deadline := time.Now().Add(5 * time.Second)
		for {
			var leads []string
			for _, p := range e.m.peers {
				st, err := e.m.cli.Status(ctx, p.clientURL)
				if err != nil {
					return err
				}
				leads = append(leads, fmt.Sprintf("%x", st.Leader))
			}
			slices.Sort(leads)
			if leads[0] == leads[len(leads)-1] || time.Now().After(deadline) {
				return e.n.text(strings.Join(leads, " "))
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	maintenance := func(e *env, role string) pb.MaintenanceClient {
		return pb.NewMaintenanceClient(e.n.byRole(role).cli.ActiveConnection())
	}
	add("move leader on a follower", func(ctx context.Context, e *env) any {
		return answer(e.mt.MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: e.n.byRole("other").memberID}))
	})
	add("move leader to a stranger", func(ctx context.Context, e *env) any {
		return answer(maintenance(e, "leader").MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: 12345}))
	})
	add("move leader to itself", func(ctx context.Context, e *env) any {
		return answer(maintenance(e, "leader").MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: e.n.byRole("leader").memberID}))
	})
	add("move leader to a follower", func(ctx context.Context, e *env) any {
		return answer(maintenance(e, "leader").MoveLeader(ctx, &pb.MoveLeaderRequest{TargetID: e.n.byRole("other").memberID}))
	})
	add("leader after the move", leaderStatus)
	add("etcdctl move-leader", func(ctx context.Context, e *env) any {
		return etcdctlAt(e.m.peers, "", "move-leader", fmt.Sprintf("%x", e.m.memberID))
	})
	add("leader after etcdctl move-leader", leaderStatus)
	add("put through the new leader", put("/c/after-move", "1"))
	return s
}
