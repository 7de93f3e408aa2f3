package sim

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/node"
)

// checkCorruption is etcd's periodic corruption check as a kvd leader runs
// it (core/api), judged by the same node.JudgeHashes: the leader's hash at
// its revision against every running member's at that revision. The peers
// answer at once here; a member that has applied more than the leader is
// left out, as the leader's linearizable read before judging leaves no
// such member in kvd. It reschedules itself.
func (c *Cluster) checkCorruption() {
	defer c.w.After(c.opts.CorruptCheckInterval, c.checkCorruption)
	l := c.Leader()
	if l == 0 {
		return
	}
	leader := c.members[l].node
	own, err := leader.HashKV(0)
	if err != nil {
		return
	}
	applied := leader.Status().AppliedIndex
	var peers []node.PeerHash
	for _, id := range c.Up() {
		n := c.members[id].node
		if id == l || n.Status().AppliedIndex > applied {
			continue
		}
		p := node.PeerHash{ID: id}
		if resp, err := n.HashKV(own.HashRevision); err == nil {
			p.Resp = resp
		}
		peers = append(peers, p)
	}
	corrupt, why := node.JudgeHashes(l, own, own, peers)
	if corrupt == 0 {
		return
	}
	c.w.Trace("corruption", "member %d: %s", corrupt, why)
	leader.Submit(&pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: corrupt, Alarm: pb.AlarmType_CORRUPT}})
}
