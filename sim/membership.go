package sim

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/core/node"
)

// Membership changes in the simulator are what an operator replacing a
// member does with etcdctl: remove it (member remove), add a fresh one with
// a new id and an empty disk as a learner (member add --learner), start it
// (--initial-cluster-state existing: it catches up from the leader, by
// snapshot when the log behind was compacted), and promote it once it has
// caught up (member promote, retried while etcd answers not ready). Every
// step goes through node.ChangeMembership on the leader, the same path
// kvd's Cluster service takes.

// promoteAttemptsMax bounds the promote retries of one replacement: an
// attempt every promoteRetry, a minute in all.
const promoteAttemptsMax = 120

// memberOp is a membership change waiting for its result.
type memberOp struct {
	change node.MemberChange
	done   func(node.Result)
}

// changeMembership submits mc on the current leader; done gets its result
// (not called if the leader crashes first). It returns a note when there
// is no leader to ask.
func (c *Cluster) changeMembership(mc node.MemberChange, done func(node.Result)) string {
	l := c.Leader()
	if l == 0 {
		return "no leader"
	}
	m := c.members[l]
	id := m.node.ChangeMembership(mc)
	if m.memberOps == nil {
		m.memberOps = map[uint64]memberOp{}
	}
	m.memberOps[id] = memberOp{change: mc, done: done}
	c.w.Trace("membership.propose", "leader=%d kind=%v member=%d request=%x", l, mc.Kind, mc.ID, id)
	m.scheduleProcess()
	return ""
}

// memberResult hands a membership change's result to whoever asked.
func (m *Member) memberResult(r node.Result) bool {
	op, ok := m.memberOps[r.ID]
	if !ok {
		return false
	}
	delete(m.memberOps, r.ID)
	errText := "ok"
	if r.Err != nil {
		errText = r.Err.Error()
	}
	m.c.w.Trace("membership.result", "leader=%d kind=%v member=%d result=%s", m.id, op.change.Kind, op.change.ID, errText)
	if op.done != nil {
		op.done(r)
	}
	return true
}

// replaceStart removes the target: the first half of a replacement.
func (c *Cluster) replaceStart(a *activeFault) string {
	target := a.targets[0]
	if !slices.Contains(c.ids, target) {
		return "not carried out: member already removed"
	}
	if len(c.ids) < 3 {
		return "not carried out: fewer than three members"
	}
	return c.changeMembership(node.MemberChange{Kind: node.MemberRemove, ID: target}, func(r node.Result) {
		if r.Err != nil {
			return
		}
		c.memberRemoved(target)
		a.removed = true
	})
}

// memberRemoved takes a member out of the cluster's membership for good:
// it stops (if it has not stopped on its own, applying its removal) and
// never restarts.
func (c *Cluster) memberRemoved(id uint64) {
	m := c.members[id]
	if m.removed {
		return
	}
	m.removed = true
	c.ids = slices.DeleteFunc(c.ids, func(x uint64) bool { return x == id })
	c.w.Trace("member.removed", "id=%d", id)
	// A member that is cut off never learns of its removal; as an
	// operator would, stop it — in an event of its own: the leader's
	// answer may come out of the very Process of the member removed (a
	// leader removing itself).
	c.w.After(0, func() { m.Crash() })
}

// replaceHeal adds a fresh member in the removed one's place, as a learner,
// starts it, and promotes it once it has caught up.
func (c *Cluster) replaceHeal(a *activeFault) {
	if a.removed {
		c.addLearner(0)
	}
}

// addLearner adds a fresh member as a learner, retrying while the cluster
// refuses (no leader, not yet 5 s of one leader), as an operator would.
func (c *Cluster) addLearner(attempt int) {
	if attempt >= promoteAttemptsMax {
		c.w.Trace("membership.gave-up", "attempts=%d", attempt)
		return
	}
	retry := func() { c.w.After(promoteRetry, func() { c.addLearner(attempt + 1) }) }
	id := c.nextMemberID()
	peerURL := fmt.Sprintf("sim://member-%d", id)
	note := c.changeMembership(node.MemberChange{Kind: node.MemberAddLearner, ID: id, PeerURLs: []string{peerURL}}, func(r node.Result) {
		if r.Err != nil {
			retry()
			return
		}
		c.addMember(id)
		c.promoteWhenReady(id, 0)
	})
	if note != "" {
		retry()
	}
}

// nextMemberID is a new member's id: above every id used so far, so no id
// returns (etcd refuses a removed id).
func (c *Cluster) nextMemberID() uint64 {
	var top uint64
	for id := range c.members {
		top = max(top, id)
	}
	return top + 1
}

// addMember creates and starts a member the leader has added: an empty
// disk, no bootstrap (node.Config.Join).
func (c *Cluster) addMember(id uint64) {
	if id >= clientIDBase {
		panic(fmt.Sprintf("sim: member id %d reaches the client ids", id))
	}
	m := c.newMember(id)
	m.join = true
	c.members[id] = m
	c.ids = append(c.ids, id)
	c.rebuildNetwork()
	m.start()
}

// promoteWhenReady asks the leader to promote a learner until it answers
// anything but "not ready yet" (or no leader).
func (c *Cluster) promoteWhenReady(id uint64, attempt int) {
	if attempt >= promoteAttemptsMax || c.members[id].removed {
		return
	}
	retry := func() { c.w.After(promoteRetry, func() { c.promoteWhenReady(id, attempt+1) }) }
	note := c.changeMembership(node.MemberChange{Kind: node.MemberPromote, ID: id}, func(r node.Result) {
		// Gone, or a voter already: nothing left to promote.
		if r.Err != nil && !errors.Is(r.Err, rpctypes.ErrGRPCMemberNotFound) && !errors.Is(r.Err, rpctypes.ErrGRPCMemberNotLearner) {
			retry()
		}
	})
	if note != "" {
		retry()
	}
}

// configCheck judges configuration changes as they happen: every member
// holds the same configuration at each applied index, and no term has two
// leaders across a change.
type configCheck struct {
	// atIndex is the configuration members showed at an applied index.
	atIndex map[uint64]string
	// leaderOfTerm is who led each term.
	leaderOfTerm map[uint64]uint64
	violations   []string
}

// configIndexesMax bounds the indexes remembered; beyond it the oldest
// half is forgotten (members far behind are rare, and a divergence shows
// at the next change anyway).
const configIndexesMax = 1 << 16

func (cc *configCheck) observe(m *Member) {
	if cc.atIndex == nil {
		cc.atIndex, cc.leaderOfTerm = map[uint64]string{}, map[uint64]uint64{}
	}
	st := m.node.Status()
	cs := m.node.ConfState()
	key := fmt.Sprintf("voters=%v learners=%v", slices.Sorted(slices.Values(cs.GetVoters())), slices.Sorted(slices.Values(cs.GetLearners())))
	if prev, ok := cc.atIndex[st.AppliedIndex]; ok && prev != key {
		cc.violate(fmt.Sprintf("configuration: member %d holds configuration %s at applied index %d, another member held %s there", m.id, key, st.AppliedIndex, prev))
	} else if !ok {
		if len(cc.atIndex) >= configIndexesMax {
			cc.forgetOldest()
		}
		cc.atIndex[st.AppliedIndex] = key
	}
	if st.IsLeader {
		if l, ok := cc.leaderOfTerm[st.Term]; ok && l != m.id {
			cc.violate(fmt.Sprintf("configuration: members %d and %d both led term %d", l, m.id, st.Term))
		}
		cc.leaderOfTerm[st.Term] = m.id
		if !slices.Contains(cs.GetVoters(), m.id) && m.removed {
			cc.violate(fmt.Sprintf("configuration: removed member %d leads term %d", m.id, st.Term))
		}
	}
}

// violationsMax bounds the violations kept; the first ones tell the story.
const violationsMax = 16

func (cc *configCheck) violate(v string) {
	if len(cc.violations) < violationsMax {
		cc.violations = append(cc.violations, v)
	}
}

func (cc *configCheck) forgetOldest() {
	indexes := make([]uint64, 0, len(cc.atIndex))
	for i := range cc.atIndex {
		indexes = append(indexes, i)
	}
	slices.Sort(indexes)
	for _, i := range indexes[:len(indexes)/2] {
		delete(cc.atIndex, i)
	}
}

// Violations lists what the cluster's own checkers found: members
// disagreeing on the configuration at an index, two leaders in a term
// (configuration), a backup that does not restore to the member's history
// (backup).
func (c *Cluster) Violations() []string { return slices.Clone(c.config.violations) }

// violate records a finding of the cluster's own checkers.
func (c *Cluster) violate(v string) { c.config.violate(v) }

// errRemoved tells whether a member stopped because it applied its own
// removal.
func errRemoved(err error) bool { return errors.Is(err, node.ErrRemoved) }

// promoteRetry is how long a replacement waits between promote attempts.
const promoteRetry = 500 * time.Millisecond
