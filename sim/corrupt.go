package sim

import (
	"fmt"
	"strings"

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

// initialCheck is etcd's initial corruption check as kvd runs it on a
// restarted member (its InitialCorruptCheck gate): once the member has
// applied the log it recovered, its HashKV is compared with every running
// member's at its revision (node.JudgeInitial). A mismatch in the
// simulator is a divergence of the core, judged as a violation; the member
// stops, as kvd refuses to serve. Reports whether the check is done.
func (m *Member) initialCheck() bool {
	if m.node.Status().AppliedIndex < m.recoveredCommit {
		return false
	}
	own, err := m.node.HashKV(0)
	if err != nil {
		return true // nothing to compare (a compaction raced it)
	}
	var peers []node.PeerHash
	for _, id := range m.c.Up() {
		if id == m.id {
			continue
		}
		p := node.PeerHash{ID: id}
		if resp, err := m.c.members[id].node.HashKV(own.HashRevision); err == nil {
			p.Resp = resp
		}
		peers = append(peers, p)
	}
	mismatches := node.JudgeInitial(own, peers)
	if len(mismatches) == 0 {
		m.c.w.Trace("member.initial-check", "id=%d revision=%d peers=%d ok", m.id, own.HashRevision, len(peers))
		return true
	}
	m.c.violate(fmt.Sprintf("initial corruption check: member %d after restart: %s", m.id, strings.Join(mismatches, "; ")))
	m.c.w.Trace("member.initial-check", "id=%d revision=%d inconsistent", m.id, own.HashRevision)
	m.c.w.After(0, m.Crash)
	return true
}
