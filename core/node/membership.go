package node

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

// Membership changes go through raft as configuration changes
// (ConfChangeV2 with one change, so raft applies them as simple changes),
// with etcd's rules in etcd's two places:
//
//   - before proposing, on the member asked (strict reconfiguration, etcd's
//     default): a new voter needs a quorum of started members; removing a
//     voter must leave a quorum of started ones; a learner is promoted only
//     by the leader, and only once its log has caught up;
//   - when applying, on every member alike: an unknown or removed id, an id
//     already present, a peer URL already in use, a promote of a voter, too
//     many learners. A change refused there is not handed to raft, so every
//     member keeps the same configuration.
//
// A member that applies its own removal stops (ErrRemoved), as etcd's.

// MemberChangeKind is one of etcd's membership operations.
type MemberChangeKind int

// The membership operations of etcd's Cluster service.
const (
	MemberAddVoter MemberChangeKind = iota + 1
	MemberAddLearner
	MemberPromote
	MemberRemove
	MemberUpdate
)

func (k MemberChangeKind) String() string {
	switch k {
	case MemberAddVoter:
		return "add-voter"
	case MemberAddLearner:
		return "add-learner"
	case MemberPromote:
		return "promote"
	case MemberRemove:
		return "remove"
	case MemberUpdate:
		return "update"
	}
	return fmt.Sprintf("MemberChangeKind(%d)", int(k))
}

// MemberChange asks for one membership change.
type MemberChange struct {
	Kind MemberChangeKind
	// ID names the member; a new member's id is the caller's to choose
	// (kvd derives it as etcd's MemberAdd does).
	ID uint64
	// PeerURLs are the new member's (add) or its new ones (update).
	PeerURLs []string
}

// learnersMax is etcd's default --max-learners.
const learnersMax = 1

// healthInterval is how long a member must have been part of a working
// cluster (etcd: connected to a quorum of peers; here: followed one
// leader) before it may add a member (etcd's HealthInterval).
const healthInterval = 5 * time.Second

// learnerReadyRatio is how far a learner's log must have caught up with
// the leader's before it may be promoted (etcd's readyPercentThreshold).
const learnerReadyRatio = 0.9

// ErrRemoved is what a member returns once it has applied its own removal.
var ErrRemoved = errors.New("node: the member has been permanently removed from the cluster")

// memberContext is the raft context of a configuration change and of a
// member: etcd's JSON shape (membership.Member and ConfigChangeContext),
// which also reads the contexts kvd wrote before (name, peer and client
// URLs). RequestID names the proposal so its proposer can answer it.
type memberContext struct {
	ID         uint64   `json:"id,omitempty"`
	PeerURLs   []string `json:"peerURLs"`
	Name       string   `json:"name,omitempty"`
	ClientURLs []string `json:"clientURLs,omitempty"`
	IsLearner  bool     `json:"isLearner,omitempty"`
	IsPromote  bool     `json:"isPromote,omitempty"`
	RequestID  uint64   `json:"requestID,omitempty"`
}

func decodeMemberContext(b []byte) memberContext {
	var c memberContext
	if len(b) > 0 {
		// A context this member cannot read names no URLs; contexts are
		// written by members of this cluster, so it is not expected.
		_ = json.Unmarshal(b, &c)
	}
	return c
}

func (c memberContext) encode() []byte {
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("node: encode member context %+v: %v", c, err)) // plain fields always encode
	}
	return b
}

// ChangeMembership submits a membership change and returns its request id;
// its Result (with Members set) comes out of a later Process.
func (n *Node) ChangeMembership(c MemberChange) uint64 {
	id := n.ids.next()
	if n.failed != nil {
		n.complete(id, nil, rpctypes.ErrGRPCStopped)
		return id
	}
	if err := n.mayChangeMembership(c); err != nil {
		n.complete(id, nil, err)
		return id
	}
	if len(n.proposals)+n.reads.len() >= n.cfg.PendingRequestsMax {
		n.complete(id, nil, rpctypes.ErrGRPCRequestTooManyRequests)
		return id
	}
	ctx := memberContext{ID: c.ID, PeerURLs: c.PeerURLs, RequestID: id}
	var typ raftpb.ConfChangeType
	switch c.Kind {
	case MemberAddVoter:
		typ = raftpb.ConfChangeAddNode
	case MemberAddLearner:
		typ, ctx.IsLearner = raftpb.ConfChangeAddLearnerNode, true
	case MemberPromote:
		typ, ctx.IsPromote, ctx.PeerURLs = raftpb.ConfChangeAddNode, true, nil
	case MemberRemove:
		typ, ctx.PeerURLs = raftpb.ConfChangeRemoveNode, nil
	case MemberUpdate:
		typ = raftpb.ConfChangeUpdateNode
	default:
		panic(fmt.Sprintf("node %x: membership change of kind %v", n.cfg.ID, c.Kind))
	}
	cc := &raftpb.ConfChangeV2{
		Changes: []*raftpb.ConfChangeSingle{{Type: typ.Enum(), NodeId: &c.ID}},
		Context: ctx.encode(),
	}
	if err := n.raw.ProposeConfChange(cc); err != nil {
		n.complete(id, nil, rpctypes.ErrGRPCNoLeader)
		return id
	}
	n.proposals[id] = &proposal{submittedTick: n.ticks}
	n.proposalOrder = append(n.proposalOrder, id)
	if n.cfg.Unsafe.ConfChangeBeforeCommit && n.validateConfChange(cc.Changes[0], ctx) == nil {
		n.confState = n.raw.ApplyConfChange(cc)
	}
	return id
}

// mayChangeMembership is etcd's strict reconfiguration check, made by the
// member asked before anything is proposed.
func (n *Node) mayChangeMembership(c MemberChange) error {
	if c.ID == 0 || c.ID == raft.None {
		return rpctypes.ErrGRPCMemberNotFound
	}
	if (c.Kind == MemberAddVoter || c.Kind == MemberAddLearner || c.Kind == MemberUpdate) && len(c.PeerURLs) == 0 {
		return rpctypes.ErrGRPCMemberBadURLs
	}
	voters, started := n.startedVoters(0)
	// A new voter needs a quorum of started members first, as etcd
	// checks it first. A one-member cluster may grow to two, as etcd
	// allows for restoring a cluster member by member.
	if c.Kind == MemberAddVoter && !(started == 1 && voters == 1) && started < (voters+1)/2+1 {
		return rpctypes.ErrGRPCMemberNotEnoughStarted
	}
	if c.Kind == MemberAddVoter || c.Kind == MemberAddLearner {
		// The new member counts as unavailable: a quorum of the grown
		// configuration must have been reachable for a while already.
		if n.lead == raft.None || n.ticks-n.leadSinceTick < uint64(healthInterval/n.cfg.TickInterval) {
			return rpctypes.ErrGRPCUnhealthy
		}
		if n.isLeader && n.activeVoters(0) < (voters+1)/2+1 {
			return rpctypes.ErrGRPCUnhealthy
		}
	}
	switch c.Kind {
	case MemberRemove:
		if n.isLearner(c.ID) {
			return nil
		}
		votersLeft, startedLeft := n.startedVoters(c.ID)
		if votersLeft == voters {
			return nil // not a voter: apply answers it
		}
		if startedLeft < votersLeft/2+1 {
			return rpctypes.ErrGRPCMemberNotEnoughStarted
		}
		if n.isLeader && c.ID != n.cfg.ID && n.activeVoters(c.ID) < votersLeft/2+1 {
			// A quorum of what remains must be reachable now, or the
			// change could leave a cluster that cannot elect.
			return rpctypes.ErrGRPCUnhealthy
		}
	case MemberPromote:
		if !n.isLeader {
			// Only the leader knows how far the learner's log is.
			return rpctypes.ErrGRPCNotLeader
		}
		pr, ok := n.raw.Status().Progress[c.ID]
		if !ok {
			return rpctypes.ErrGRPCMemberNotFound
		}
		if !n.isLearner(c.ID) {
			return rpctypes.ErrGRPCMemberNotLearner
		}
		leaderMatch := n.raw.Status().Progress[n.cfg.ID].Match
		if float64(pr.Match) < learnerReadyRatio*float64(leaderMatch) {
			return rpctypes.ErrGRPCLearnerNotReady
		}
		if started+1 < (voters+1)/2+1 {
			return rpctypes.ErrGRPCMemberNotEnoughStarted
		}
	}
	return nil
}

// startedVoters counts the voters other than except, and those of them
// that have started: published their attributes (this member has, by
// being here).
func (n *Node) startedVoters(except uint64) (voters, started int) {
	for _, id := range n.confState.GetVoters() {
		if id == except {
			continue
		}
		voters++
		if id == n.cfg.ID || n.attrs[id] != nil {
			started++
		}
	}
	return voters, started
}

// activeVoters counts the voters other than except the leader has heard
// from within an election timeout (raft's RecentActive), itself included.
func (n *Node) activeVoters(except uint64) int {
	active := 0
	st := n.raw.Status()
	for _, id := range n.confState.GetVoters() {
		if id == except {
			continue
		}
		if pr, ok := st.Progress[id]; id == n.cfg.ID || (ok && pr.RecentActive) {
			active++
		}
	}
	return active
}

func (n *Node) isLearner(id uint64) bool {
	return slices.Contains(n.confState.GetLearners(), id)
}

// validateConfChange is etcd's apply-time check (ValidateConfigurationChange):
// the same answer on every member, since it reads replicated state only.
func (n *Node) validateConfChange(c *raftpb.ConfChangeSingle, ctx memberContext) error {
	id := c.GetNodeId()
	if n.removed[id] {
		return rpctypes.ErrGRPCMemberNotFound // etcd's ErrIDRemoved
	}
	_, exists := n.members[id]
	switch c.GetType() {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		if ctx.IsPromote {
			if !exists {
				return rpctypes.ErrGRPCMemberNotFound
			}
			if !n.isLearner(id) {
				return rpctypes.ErrGRPCMemberNotLearner
			}
			return nil
		}
		if exists {
			return rpctypes.ErrGRPCMemberExist
		}
		if n.peerURLInUse(ctx.PeerURLs, 0) {
			return rpctypes.ErrGRPCPeerURLExist
		}
		if c.GetType() == raftpb.ConfChangeAddLearnerNode && len(n.confState.GetLearners()) >= learnersMax {
			return rpctypes.ErrGRPCTooManyLearners
		}
	case raftpb.ConfChangeRemoveNode:
		if !exists {
			return rpctypes.ErrGRPCMemberNotFound
		}
		if slices.Equal(n.confState.GetVoters(), []uint64{id}) {
			// raft cannot leave a configuration without voters.
			return rpctypes.ErrGRPCMemberNotEnoughStarted
		}
	case raftpb.ConfChangeUpdateNode:
		if !exists {
			return rpctypes.ErrGRPCMemberNotFound
		}
		if n.peerURLInUse(ctx.PeerURLs, id) {
			return rpctypes.ErrGRPCPeerURLExist
		}
	default:
		panic(fmt.Sprintf("node %x: configuration change of type %v", n.cfg.ID, c.GetType()))
	}
	return nil
}

// peerURLInUse reports whether a member other than except has one of urls.
func (n *Node) peerURLInUse(urls []string, except uint64) bool {
	for id, b := range n.members {
		if id == except {
			continue
		}
		for _, u := range decodeMemberContext(b).PeerURLs {
			if slices.Contains(urls, u) {
				return true
			}
		}
	}
	return false
}

// applyConfChange applies one committed configuration change: validated
// as etcd does, then handed to raft and recorded in the membership. The
// bootstrap entries (v1 changes, no request id) go through the same path.
func (n *Node) applyConfChange(index uint64, cc raftpb.ConfChangeI) {
	v2 := cc.AsV2()
	ctx := decodeMemberContext(v2.GetContext())
	if len(v2.GetChanges()) != 1 {
		panic(fmt.Sprintf("node %x: entry %d: configuration change of %d changes; members propose one at a time",
			n.cfg.ID, index, len(v2.GetChanges())))
	}
	c := v2.GetChanges()[0]
	if err := n.validateConfChange(c, ctx); err != nil {
		n.cfg.Logger.Info("refused a membership change", "index", index, "type", c.GetType().String(),
			"member", fmt.Sprintf("%x", c.GetNodeId()), "err", err.Error())
		n.completeMembership(ctx.RequestID, err)
		return
	}
	n.membersEpoch++
	id := c.GetNodeId()
	farewell := n.farewell(c)
	n.confState = n.raw.ApplyConfChange(cc)
	if farewell != nil {
		n.out.Messages = append(n.out.Messages, farewell)
	}
	switch c.GetType() {
	case raftpb.ConfChangeAddNode, raftpb.ConfChangeAddLearnerNode:
		if !ctx.IsPromote {
			n.addedIndex = index
		}
		switch {
		case ctx.IsPromote:
		case len(v2.GetContext()) == 0:
			n.members[id] = nil // the simulator's bootstrap members carry none
		default:
			n.members[id] = memberContext{ID: id, PeerURLs: ctx.PeerURLs, Name: ctx.Name, ClientURLs: ctx.ClientURLs}.encode()
		}
	case raftpb.ConfChangeRemoveNode:
		delete(n.members, id)
		delete(n.attrs, id)
		n.removed[id] = true
		if id == n.cfg.ID {
			n.removedSelf = true
		}
	case raftpb.ConfChangeUpdateNode:
		old := decodeMemberContext(n.members[id])
		old.PeerURLs = ctx.PeerURLs
		n.members[id] = old.encode()
	}
	n.cfg.Logger.Info("applied a membership change", "index", index, "type", c.GetType().String(),
		"member", fmt.Sprintf("%x", id), "promote", ctx.IsPromote)
	n.completeMembership(ctx.RequestID, nil)
}

// farewell is the leader's last heartbeat to a member being removed: once
// the removal applies, raft sends that member nothing more, so without it
// a member that holds the removal entry would never learn it committed,
// and would run on outside the cluster. Its commit index is what raft's
// own heartbeats carry (the member's match, at most the commit index), so
// the member commits, applies its removal and stops (ErrRemoved). Nil when
// this member does not lead or c removes no other member.
func (n *Node) farewell(c *raftpb.ConfChangeSingle) *raftpb.Message {
	id := c.GetNodeId()
	if c.GetType() != raftpb.ConfChangeRemoveNode || !n.isLeader || id == n.cfg.ID {
		return nil
	}
	st := n.raw.Status()
	pr, ok := st.Progress[id]
	if !ok {
		return nil
	}
	return &raftpb.Message{
		Type: raftpb.MsgHeartbeat.Enum(), To: &id, From: &n.cfg.ID,
		Term: proto.Uint64(st.GetTerm()), Commit: proto.Uint64(min(pr.Match, st.GetCommit())),
	}
}

// completeMembership answers the proposer of a membership change, if it is
// this member and still waiting.
func (n *Node) completeMembership(requestID uint64, err error) {
	if _, waiting := n.proposals[requestID]; !waiting || requestID == 0 {
		return
	}
	delete(n.proposals, requestID)
	var members []Member
	if err == nil {
		members = n.Members()
	}
	n.out.Results = append(n.out.Results, Result{ID: requestID, Err: err, Members: members})
}

// RemovedMembers lists the ids removed from the cluster, ascending.
func (n *Node) RemovedMembers() []uint64 { return slices.Sorted(maps.Keys(n.removed)) }

// ConfState is the raft configuration this member has applied.
func (n *Node) ConfState() *raftpb.ConfState { return n.confState }

// attrsRetryTicks is how long a proposal of this member's attributes is
// given before it is proposed again.
const attrsRetryTicks = 10

// Published reports whether the replicated membership shows this member's
// name and client URLs as configured: its ClusterMemberAttrSet has been
// applied here. etcd serves clients only from then on (ReadyNotify). A
// member without a name publishes nothing and counts as published.
func (n *Node) Published() bool {
	if n.cfg.Name == "" {
		return true
	}
	a := n.attrs[n.cfg.ID]
	return a != nil && a.GetName() == n.cfg.Name && slices.Equal(a.GetClientUrls(), n.cfg.ClientURLs)
}

// publishAttributes proposes this member's name and client URLs, as etcd's
// ClusterMemberAttrSet, until the replicated membership shows them: other
// members find the leader's client URL there, and the strict checks count
// a member that has published as started.
func (n *Node) publishAttributes() {
	if n.lead == raft.None || n.removedSelf {
		return
	}
	if _, waiting := n.proposals[n.attrsRequest]; waiting && n.attrsRequest != 0 {
		return // proposed and not answered yet: a slow disk is no reason to ask twice
	}
	if n.attrsProposedTick != 0 && n.ticks-n.attrsProposedTick < attrsRetryTicks {
		return
	}
	if _, member := n.members[n.cfg.ID]; !member {
		return // not in the configuration yet (joining)
	}
	if n.Published() {
		return
	}
	n.attrsProposedTick = max(n.ticks, 1)
	n.attrsRequest = n.Submit(&pb.InternalRaftRequest{ClusterMemberAttrSet: &membershippb.ClusterMemberAttrSetRequest{
		Member_ID:        n.cfg.ID,
		MemberAttributes: &membershippb.Attributes{Name: n.cfg.Name, ClientUrls: n.cfg.ClientURLs},
	}})
}
