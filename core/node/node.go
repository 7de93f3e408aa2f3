package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/auth"
	"github.com/kvdlabs/kvd/core/bugs"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/lease"
	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/wal"
	"github.com/kvdlabs/kvd/core/watch"
)

// Node is one raft member and its state machine. It is not safe for
// concurrent use: one caller drives it (see the package doc).
type Node struct {
	cfg     Config
	raw     *raft.RawNode
	storage *raft.MemoryStorage
	wal     *wal.WAL

	kv     *mvcc.Store
	lessor *lease.Lessor
	hub    *watch.Hub
	// auth is the replicated auth state (auth.go).
	auth *auth.Store

	confState *raftpb.ConfState
	members   map[uint64][]byte
	// removed holds the ids removed from the cluster: never to return
	// (replicated; etcd's members_removed).
	removed map[uint64]bool
	// removedSelf: this member applied its own removal (ErrRemoved).
	removedSelf bool
	// attrs are the members' published attributes (name, client URLs),
	// replicated through raft as etcd's ClusterMemberAttrSet.
	attrs map[uint64]*membershippb.Attributes
	// membersEpoch counts changes to members and attrs (MembersEpoch).
	membersEpoch uint64
	appliedIndex uint64
	// tornTailBytes is what opening the WAL cut away as a torn tail.
	tornTailBytes int64
	snapshotIndex uint64
	// snap is the state snapshot being written, nil if none (snapshot.go).
	snap             *snapshotJob
	snapshotsAborted uint64
	// logTrims counts trimRaftLog's trims of the log in memory, and
	// trimmedSnapshotAsks how often raft wanted a snapshot for a follower
	// that needed entries a trim dropped, and was told to wait for a
	// fresh one.
	logTrims, trimmedSnapshotAsks uint64
	// snapshotSizeBytes is the newest snapshot's size, and
	// logBytesSinceSnapshot what entries applied since it was started
	// carried: together they pace snapshots (Config.SnapshotSizeRatioMax).
	snapshotSizeBytes     int64
	logBytesSinceSnapshot int64
	// snapshotDueIndex is an applied index a snapshot is due of, whatever
	// the pacing, until snapshotIndex reaches it: a Defragment asked, or a
	// member was added that the newest snapshot does not know.
	snapshotDueIndex uint64
	// stopping is set by PrepareStop: snapshots take the largest steps,
	// and a leader hands off (stop.go); stopPlan is what the stop waits
	// for.
	stopping bool
	stopPlan stopPlan
	// addedIndex is the index of the latest member addition applied: a
	// snapshot older than it cannot catch the new member up (raft refuses
	// a snapshot whose configuration does not name the recipient).
	addedIndex uint64
	// appliedBytesRound is what this Process applied: snapshot steps grow
	// with it.
	appliedBytesRound int64
	// applied holds the ids of recently applied requests, so a proposal
	// that reached the log twice is applied once (replicated state).
	applied appliedIDs

	lead uint64
	// leadSinceTick is the tick this member last saw the leader change.
	leadSinceTick uint64
	term          uint64
	isLeader      bool
	ticks         uint64

	ids       requestIDs
	proposals map[uint64]*proposal
	// proposalOrder holds proposal ids in submission (hence tick) order so
	// timeouts are found from the front without iterating the map.
	proposalOrder []uint64
	reads         readQueue
	// alarms are the replicated active alarms (alarms.go).
	alarms alarms
	// compactor is the auto compaction state, nil when off (compactor.go).
	compactor *compactor
	// attrsProposedTick is the tick this member last proposed its
	// attributes, 0 before the first time.
	attrsProposedTick uint64
	// attrsRequest is the request id of that proposal.
	attrsRequest uint64
	// revoking maps a lease id to the tick its revoke was proposed at.
	revoking map[int64]uint64

	out    Output
	failed error
}

type proposal struct {
	submittedTick uint64
	// req and data are the request and the entry bytes this member
	// proposed; applying that very entry, it takes req instead of decoding
	// data again (see decodeRequest).
	req  *pb.InternalRaftRequest
	data []byte
}

// Result completes one submitted request: Response is the etcdserverpb
// response matching the request (*pb.PutResponse for a put, …), or Err is
// etcd's gRPC error.
type Result struct {
	ID       uint64
	Response proto.Message
	Err      error
	// Members is the membership after a membership change succeeded
	// (ChangeMembership), in id order; nil for other requests.
	Members []Member
}

// Output is what one Process call hands back to the caller.
type Output struct {
	// Messages go to peers; To names the recipient.
	Messages []*raftpb.Message
	// Results complete requests, in completion order.
	Results []Result
	// Watch carries watch responses for the caller's streams.
	Watch []watch.Delivery
}

// ErrStopped is returned by a node whose durable state failed; it must not
// take part in the cluster again until an operator intervenes.
var ErrStopped = errors.New("node: stopped after a storage failure")

// Open starts a member: a new one when cfg.Dir holds no WAL (bootstrapping
// cfg.Peers), else it recovers snapshot and log from disk. Damaged durable
// state is an error: a member must not vote or ack on it.
func Open(cfg Config) (*Node, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.SendAfterPersist {
		cfg.BeforePersist = nil
	}
	n := &Node{
		cfg:       cfg,
		storage:   raft.NewMemoryStorage(),
		members:   map[uint64][]byte{},
		removed:   map[uint64]bool{},
		attrs:     map[uint64]*membershippb.Attributes{},
		confState: &raftpb.ConfState{},
		proposals: map[uint64]*proposal{},
		revoking:  map[int64]uint64{},
		compactor: newCompactor(cfg.AutoCompaction, cfg.TickInterval),
		applied:   newAppliedIDs(),
	}
	n.newStateMachine()

	fresh := !wal.Exists(cfg.FS, cfg.Dir)
	if fresh {
		if len(cfg.Peers) == 0 && !cfg.Join {
			return nil, fmt.Errorf("node %x: no WAL in %q and no Peers to bootstrap", cfg.ID, cfg.Dir)
		}
		meta := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, cfg.ClusterID), cfg.ID)
		w, err := wal.Create(cfg.FS, cfg.Dir, meta, n.walOptions())
		if err != nil {
			return nil, fmt.Errorf("node %x: create WAL in %q: %w", cfg.ID, cfg.Dir, err)
		}
		n.wal = w
	} else {
		w, rec, err := wal.Open(cfg.FS, cfg.Dir, n.walOptions())
		if err != nil {
			return nil, fmt.Errorf("node %x: recover WAL in %q: %w", cfg.ID, cfg.Dir, err)
		}
		n.wal = w
		n.tornTailBytes = rec.TornTailBytes
		if m := rec.Metadata; len(m) == 16 && (binary.BigEndian.Uint64(m) != cfg.ClusterID || binary.BigEndian.Uint64(m[8:]) != cfg.ID) {
			w.Close()
			return nil, fmt.Errorf("node %x: the WAL in %q belongs to member %x of cluster %x, not to member %x of cluster %x",
				cfg.ID, cfg.Dir, binary.BigEndian.Uint64(m[8:]), binary.BigEndian.Uint64(m), cfg.ID, cfg.ClusterID)
		}
		if err := n.recover(rec); err != nil {
			w.Close()
			return nil, fmt.Errorf("node %x: recover state in %q: %w", cfg.ID, cfg.Dir, err)
		}
	}

	epoch, err := nextBootEpoch(cfg.FS, cfg.Dir)
	if err != nil {
		n.wal.Close()
		return nil, fmt.Errorf("node %x: %w", cfg.ID, err)
	}
	if bugs.On(bugs.NodeRequestIDRestart) {
		epoch = 1 // planted bug (kvdbugs builds only): every life numbers its requests from the first epoch's start
	}
	n.ids = newRequestIDs(cfg.ID, epoch)

	raw, err := raft.NewRawNode(&raft.Config{
		ID:                        cfg.ID,
		ElectionTick:              cfg.ElectionTicks,
		HeartbeatTick:             cfg.HeartbeatTicks,
		Storage:                   raftStorage{MemoryStorage: n.storage, wal: n.wal, log: cfg.Logger, n: n},
		Applied:                   n.appliedIndex,
		MaxSizePerMsg:             cfg.MessageBytesMax,
		MaxInflightMsgs:           cfg.InflightMessagesMax,
		MaxUncommittedEntriesSize: 1 << 30,
		CheckQuorum:               !cfg.CheckQuorumOff,
		PreVote:                   !cfg.PreVoteOff,
		ReadOnlyOption:            readOnlyOption(cfg.ReadIndexLeaseBased),
		Logger:                    raftLogger{cfg.Logger},
	})
	if err != nil {
		n.wal.Close()
		return nil, fmt.Errorf("node %x: start raft: %w", cfg.ID, err)
	}
	n.raw = raw
	if fresh && !cfg.Join {
		peers := make([]raft.Peer, 0, len(cfg.Peers))
		for _, id := range slices.Sorted(slices.Values(cfg.Peers)) {
			peers = append(peers, raft.Peer{ID: id, Context: cfg.PeerContexts[id]})
		}
		if err := raw.Bootstrap(peers); err != nil {
			n.wal.Close()
			return nil, fmt.Errorf("node %x: bootstrap %v: %w", cfg.ID, cfg.Peers, err)
		}
		// Persist the membership now: a member that crashed before its
		// first Process would otherwise restart from a WAL without it and
		// never take part in an election. A fresh member has nothing to
		// send or answer yet.
		if _, err := n.Process(); err != nil {
			n.wal.Close()
			return nil, fmt.Errorf("node %x: persist bootstrap %v: %w", cfg.ID, cfg.Peers, err)
		}
	}
	if cfg.Unsafe.FollowerLeaseExpiry {
		n.lessor.Promote(0)
	}
	return n, nil
}

// ReadIdentity returns the cluster id and member id a member's WAL in dir
// was created with, without recovering it: a member that joined a running
// cluster got its id from MemberAdd, so its flags cannot tell it again.
func ReadIdentity(fs disk.FS, dir string) (clusterID, id uint64, err error) {
	meta, err := wal.ReadMetadata(fs, dir)
	if err != nil {
		return 0, 0, err
	}
	if len(meta) != 16 {
		return 0, 0, fmt.Errorf("node: WAL in %q has %d bytes of metadata, want 16 (cluster id, member id)", dir, len(meta))
	}
	return binary.BigEndian.Uint64(meta), binary.BigEndian.Uint64(meta[8:]), nil
}

// walOptions are the WAL's options from the member's configuration.
func (n *Node) walOptions() wal.Options {
	return wal.Options{PreallocateBytes: n.cfg.WALPreallocateBytes, Logger: n.cfg.Logger}
}

// newStateMachine makes an empty store, lessor and hub wired to each other.
func (n *Node) newStateMachine() {
	n.lessor = lease.New(lease.Options{Clock: leaseClock{n}, TTLMinSeconds: n.cfg.leaseTTLMinSeconds()})
	n.kv = mvcc.New(n.mvccOptions())
	n.lessor.SetDeleter(n.kv)
	n.auth = auth.New(n.cfg.authOptions())
	if n.hub == nil {
		n.hub = watch.New(history{n}, watch.Options{CatchUpEventsMax: n.cfg.WatchCatchUpEventsMax, UnsafeSkipEventAtCompaction: n.cfg.Unsafe.WatchSkip})
	}
}

func (n *Node) mvccOptions() mvcc.Options {
	return mvcc.Options{
		TxnOpsMax:         n.cfg.TxnOpsMax,
		HistoryChunkBytes: n.cfg.HistoryChunkBytes,
		HistorySpillDir:   n.cfg.HistorySpillDir,
		Lessor:            n.lessor,
		OnCommit:          n.onCommit,
		// Only synced watchers use the events Notify gets; watchers that
		// start later read history instead.
		WantEvents: func() bool { return n.hub.WatcherCount() > 0 },
	}
}

func (n *Node) onCommit(rev int64, events []*mvccpb.Event) { n.hub.Notify(rev, events) }

// history lets the watch hub read whichever store the node holds now: a
// snapshot restore replaces the store, not the hub.
type history struct{ n *Node }

func (h history) Rev() int64        { return h.n.kv.Rev() }
func (h history) CompactRev() int64 { return h.n.kv.CompactRev() }
func (h history) Events(key, end []byte, fromRev int64, eventsMax int) ([]*mvccpb.Event, int64, error) {
	return h.n.kv.Events(key, end, fromRev, eventsMax)
}

// recover loads the WAL's snapshot and entries into raft storage and the
// state machine.
func (n *Node) recover(rec *wal.Recovered) error {
	if rec.Snapshot != nil && !raft.IsEmptySnap(rec.Snapshot) {
		if err := n.storage.ApplySnapshot(withoutData(rec.Snapshot)); err != nil {
			return fmt.Errorf("apply snapshot %d to raft storage: %w", rec.Snapshot.GetMetadata().GetIndex(), err)
		}
		if err := n.restoreState(rec.Snapshot); err != nil {
			return err
		}
	}
	if rec.HardState != nil {
		hs := rec.HardState
		if snapIndex := rec.Snapshot.GetMetadata().GetIndex(); hs.GetCommit() < snapIndex {
			// A hard state that changes only the commit index is written
			// without fsync (raft.MustSync), so a crash can leave the
			// durable commit behind a snapshot taken of applied — hence
			// committed — entries. The snapshot proves them committed.
			hs = proto.Clone(hs).(*raftpb.HardState)
			hs.Commit = proto.Uint64(snapIndex)
		}
		if err := n.storage.SetHardState(hs); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
		n.term = hs.GetTerm()
	}
	if err := n.storage.Append(rec.Entries); err != nil {
		return fmt.Errorf("append %d recovered entries: %w", len(rec.Entries), err)
	}
	return nil
}

// restoreState replaces the state machine with a snapshot's.
func (n *Node) restoreState(snap *raftpb.Snapshot) error {
	st, err := decodeState(snap.GetData())
	if err != nil {
		return fmt.Errorf("snapshot at index %d: %w", snap.GetMetadata().GetIndex(), err)
	}
	if st.index != 0 && st.index != snap.GetMetadata().GetIndex() {
		return fmt.Errorf("snapshot at index %d: %w: its state holds the entries through index %d", snap.GetMetadata().GetIndex(), ErrBadState, st.index)
	}
	applied, err := restoreAppliedIDs(st.applied)
	if err != nil {
		return fmt.Errorf("snapshot at index %d: %w: %w", snap.GetMetadata().GetIndex(), ErrBadState, err)
	}
	kv, err := mvcc.Restore(st.mvcc, n.mvccOptions())
	if err != nil {
		return fmt.Errorf("snapshot at index %d: restore mvcc: %w", snap.GetMetadata().GetIndex(), err)
	}
	if bugs.On(bugs.NodeSnapshotSkipsLessor) && n.raw != nil {
		// planted bug (kvdbugs builds only): a snapshot installed from the leader keeps this member's old leases
	} else if err := n.lessor.Restore(st.lease); err != nil {
		return fmt.Errorf("snapshot at index %d: restore leases: %w", snap.GetMetadata().GetIndex(), err)
	}
	if n.kv != nil && kv.Rev() < n.kv.Rev() {
		panic(fmt.Sprintf("node %x: snapshot at index %d would move revision back from %d to %d",
			n.cfg.ID, snap.GetMetadata().GetIndex(), n.kv.Rev(), kv.Rev()))
	}
	if len(st.auth) > 0 {
		if err := n.auth.Restore(st.auth); err != nil {
			return fmt.Errorf("snapshot at index %d: restore auth: %w", snap.GetMetadata().GetIndex(), err)
		}
	} else {
		n.auth = auth.New(n.cfg.authOptions())
	}
	n.kv = kv
	n.lessor.SetDeleter(kv)
	n.members = st.members
	n.removed = st.removed
	n.attrs = st.attrs
	n.alarms = st.alarms
	n.membersEpoch++
	n.applied = applied
	n.confState = proto.Clone(snap.GetMetadata().GetConfState()).(*raftpb.ConfState)
	index := snap.GetMetadata().GetIndex()
	if index < n.appliedIndex {
		panic(fmt.Sprintf("node %x: snapshot index %d behind applied index %d", n.cfg.ID, index, n.appliedIndex))
	}
	n.appliedIndex = index
	n.snapshotIndex = index
	n.snapshotSizeBytes = int64(len(snap.GetData()))
	n.logBytesSinceSnapshot = 0
	n.hub.Resync()
	return nil
}

// Tick advances the member's logical clock by one tick.
func (n *Node) Tick() {
	if n.failed != nil {
		return
	}
	// Leases are judged on the lease time the ending tick began with: a
	// keepalive during that tick read it, though it may have arrived as
	// late as now, so a lease is never revoked before its TTL has passed.
	n.expireLeases()
	n.ticks++
	n.auth.Tick(n.ticks)
	n.tickCompactor()
	n.publishAttributes()
	n.raw.Tick()
	n.expireRequests()
}

// Receive steps a raft message from a peer. Messages for another member or
// of a local-only type are rejected, never stepped.
func (n *Node) Receive(m *raftpb.Message) error {
	if n.failed != nil {
		return n.failed
	}
	if m.GetTo() != n.cfg.ID {
		return fmt.Errorf("node %x: message %v addressed to %x", n.cfg.ID, m.GetType(), m.GetTo())
	}
	if raft.IsLocalMsg(m.GetType()) {
		return fmt.Errorf("node %x: local message type %v from the network", n.cfg.ID, m.GetType())
	}
	if n.removed[m.GetFrom()] {
		return nil // a removed member never comes back; drop it as etcd does
	}
	err := n.raw.Step(m)
	if errors.Is(err, raft.ErrStepPeerNotFound) {
		return nil // a message from a removed member; drop it as etcd does
	}
	return err
}

// ReportUnreachable tells raft a message to a peer could not be sent.
func (n *Node) ReportUnreachable(id uint64) { n.raw.ReportUnreachable(id) }

// ReportSnapshot tells raft whether a snapshot sent to a peer arrived.
func (n *Node) ReportSnapshot(id uint64, ok bool) {
	status := raft.SnapshotFinish
	if !ok {
		status = raft.SnapshotFailure
	}
	n.raw.ReportSnapshot(id, status)
}

// Campaign makes this member start an election now (tests, leader transfer).
func (n *Node) Campaign() error { return n.raw.Campaign() }

// MoveLeader asks raft to hand this member's leadership to target, as
// etcd's MoveLeader: only the leader may (rpctypes.ErrGRPCNotLeader), and
// only to a voting member of the cluster (rpctypes.ErrGRPCBadLeaderTransferee).
// Raft then catches target up and tells it to campaign at once; it gives up
// after an election timeout, so a caller that waits for the new leader
// must bound its wait. Moving to itself is accepted and changes nothing.
// The gRPC MoveLeader and the simulator's leader-transfer fault both come
// here.
func (n *Node) MoveLeader(target uint64) error {
	if n.raw.BasicStatus().Lead != n.cfg.ID {
		return rpctypes.ErrGRPCNotLeader
	}
	if _, ok := n.members[target]; !ok || n.isLearner(target) {
		// etcd hands leadership only to a voter.
		return rpctypes.ErrGRPCBadLeaderTransferee
	}
	n.raw.TransferLeader(target)
	return nil
}

// Submit queues one client request and returns its id; its Result comes out
// of a later Process. Exactly one request field of r must be set.
func (n *Node) Submit(r *pb.InternalRaftRequest) uint64 {
	id := n.ids.next()
	r.ID = id
	// A write is encoded once, here: its size is that of the bytes raft
	// carries, and the proposal keeps them (see decodeRequest).
	if r.Authenticate != nil {
		prepareAuthenticate(r.Authenticate)
	}
	var data []byte
	var sizeBytes int
	if r.Range == nil {
		var err error
		if data, err = proto.Marshal(r); err != nil {
			panic(fmt.Sprintf("node %x: marshal request %d: %v", n.cfg.ID, id, err))
		}
		sizeBytes = len(data)
	} else {
		sizeBytes = proto.Size(r)
	}
	switch {
	case n.failed != nil:
		n.complete(id, nil, rpctypes.ErrGRPCStopped)
	case sizeBytes > n.cfg.RequestBytesMax:
		n.complete(id, nil, rpctypes.ErrGRPCRequestTooLarge)
	case len(n.proposals)+n.reads.len() >= n.cfg.PendingRequestsMax:
		n.complete(id, nil, rpctypes.ErrGRPCRequestTooManyRequests)
	case r.Range != nil && (serializable(r.Range) || n.cfg.Unsafe.StaleReads):
		if err := n.permitted(r); err != nil {
			n.complete(id, nil, err)
			break
		}
		resp, err := n.kv.Range(r.Range)
		n.complete(id, resp, err)
	case r.Range != nil && n.corrupt():
		n.complete(id, nil, rpctypes.ErrGRPCCorrupt)
	case r.Range != nil:
		n.reads.enqueue(id, r.Range, r.Header, n.ticks)
	default:
		n.propose(id, r, data)
	}
	return id
}

// serializable says whether a range may be served from local state.
func serializable(r *pb.RangeRequest) bool {
	if bugs.On(bugs.APISerializableFlipped) {
		return !r.Serializable // planted bug (kvdbugs builds only): the serializable flag read inverted
	}
	return r.Serializable
}

// propose hands r, encoded as data, to raft.
func (n *Node) propose(id uint64, r *pb.InternalRaftRequest, data []byte) {
	if err := n.raw.Propose(data); err != nil {
		n.complete(id, nil, rpctypes.ErrGRPCNoLeader)
		return
	}
	n.proposals[id] = &proposal{submittedTick: n.ticks, req: r, data: data}
	n.proposalOrder = append(n.proposalOrder, id)
}

// complete records a request's result and fills the response header.
func (n *Node) complete(id uint64, resp proto.Message, err error) {
	if err == nil {
		n.fillHeader(resp)
	}
	n.out.Results = append(n.out.Results, Result{ID: id, Response: resp, Err: err})
}

// Process does everything raft asks for — persist, send, apply, advance —
// and returns what the caller must deliver. An error means the member's
// durable state failed; the node stops for good.
func (n *Node) Process() (Output, error) {
	if n.failed != nil {
		return Output{}, n.failed
	}
	n.appliedBytesRound = 0
	n.flushReads()
	n.advanceStop()
	for n.raw.HasReady() {
		rd := n.raw.Ready()
		if err := n.handleReady(rd); err != nil {
			return n.stop(err)
		}
		n.raw.Advance(rd)
		n.serveReads()
	}
	if err := n.advanceSnapshot(); err != nil {
		return n.stop(err)
	}
	if err := n.trimRaftLog(); err != nil {
		return n.stop(err)
	}
	n.hub.CatchUp()
	if n.removedSelf {
		// Removed: what this round sends still leaves (the leader's commit
		// of the removal reaches the others), then the member stops.
		n.failed = ErrRemoved
		n.failAll(rpctypes.ErrGRPCStopped)
		return n.takeOutput(), ErrRemoved
	}
	return n.takeOutput(), nil
}

// stop fails the node for good after a storage error.
func (n *Node) stop(err error) (Output, error) {
	n.failed = fmt.Errorf("%w: %w", ErrStopped, err)
	n.failAll(rpctypes.ErrGRPCStopped)
	out := n.takeOutput()
	out.Messages = nil // nothing sent on state that did not persist
	return out, n.failed
}

func (n *Node) takeOutput() Output {
	out := n.out
	out.Watch = append(out.Watch, n.hub.Drain()...)
	n.out = Output{}
	return out
}

func (n *Node) handleReady(rd raft.Ready) error {
	if rd.SoftState != nil {
		wasLeader := n.isLeader
		n.onSoftState(rd.SoftState)
		if n.isLeader && !wasLeader {
			n.notePendingRevokes(rd.Entries)
		}
	}
	if !raft.IsEmptySnap(rd.Snapshot) {
		// The leader's snapshot replaces whatever this member was writing.
		if err := n.abortSnapshot(); err != nil {
			return err
		}
		if err := n.wal.SaveSnapshot(rd.Snapshot); err != nil {
			return fmt.Errorf("save received snapshot %d: %w", rd.Snapshot.GetMetadata().GetIndex(), err)
		}
		if err := n.storage.ApplySnapshot(withoutData(rd.Snapshot)); err != nil {
			return fmt.Errorf("apply received snapshot %d: %w", rd.Snapshot.GetMetadata().GetIndex(), err)
		}
		if err := n.restoreState(rd.Snapshot); err != nil {
			return err
		}
	}
	hs := rd.HardState
	if raft.IsEmptyHardState(hs) {
		hs = nil
	}
	early, late := n.splitBeforePersist(rd, hs)
	if n.cfg.BeforePersist != nil {
		// Committed entries are durable on a quorum: apply and answer them
		// while this member's own fsync of the new entries runs.
		for _, e := range rd.CommittedEntries {
			n.apply(e)
		}
		out := Output{Messages: early, Results: n.out.Results, Watch: n.hub.Drain()}
		n.out.Results = nil
		if len(out.Messages) > 0 || len(out.Results) > 0 || len(out.Watch) > 0 {
			n.cfg.BeforePersist(out)
		}
	}
	if hs != nil || len(rd.Entries) > 0 {
		if err := n.wal.Save(hs, rd.Entries); err != nil {
			return fmt.Errorf("save %d entries: %w", len(rd.Entries), err)
		}
	}
	if err := n.storage.Append(rd.Entries); err != nil {
		return fmt.Errorf("append %d entries to raft storage: %w", len(rd.Entries), err)
	}
	if hs != nil {
		if err := n.storage.SetHardState(hs); err != nil {
			return fmt.Errorf("set hard state: %w", err)
		}
		n.term = hs.GetTerm()
	}
	n.out.Messages = append(n.out.Messages, late...)
	for _, rs := range rd.ReadStates {
		n.reads.indexKnown(rs.RequestCtx, rs.Index)
	}
	if n.cfg.BeforePersist == nil {
		for _, e := range rd.CommittedEntries {
			n.apply(e)
		}
	}
	return nil
}

// splitBeforePersist divides rd's messages into those that may leave
// before rd is durable and those that must wait for the fsync. Only in a
// steady Ready — one that neither changes term or vote nor installs a
// snapshot, which must be durable before anyone hears of it — and only
// with BeforePersist set: then a leader's messages all go early (raft
// thesis §10.2.1), and a follower's heartbeat answers, read-index requests
// and forwarded proposals do, since they promise nothing about its log: a
// forwarded write waited for the follower's fsync of unrelated entries
// before it even reached the leader. A follower's append answers always
// wait: they promise the entries are on its disk.
func (n *Node) splitBeforePersist(rd raft.Ready, hs *raftpb.HardState) (early, late []*raftpb.Message) {
	if n.cfg.BeforePersist == nil || len(rd.Messages) == 0 || !raft.IsEmptySnap(rd.Snapshot) {
		return nil, rd.Messages
	}
	if hs != nil {
		prev, _, err := n.storage.InitialState()
		if err != nil {
			panic(fmt.Sprintf("node %x: memory storage initial state: %v", n.cfg.ID, err))
		}
		if hs.GetTerm() != prev.GetTerm() || hs.GetVote() != prev.GetVote() {
			return nil, rd.Messages
		}
	}
	if n.isLeader {
		return rd.Messages, nil
	}
	for _, m := range rd.Messages {
		switch m.GetType() {
		case raftpb.MsgHeartbeatResp, raftpb.MsgReadIndex, raftpb.MsgProp:
			early = append(early, m)
		case raftpb.MsgAppResp:
			if bugs.On(bugs.NodeAppendAckBeforeSync) {
				early = append(early, m) // planted bug (kvdbugs builds only): append answers leave before the fsync
				continue
			}
			late = append(late, m)
		default:
			late = append(late, m)
		}
	}
	return early, late
}

func (n *Node) onSoftState(ss *raft.SoftState) {
	if ss.Lead != n.lead {
		// Requests in flight may or may not commit under the new leader:
		// their outcome is unknown, and etcd's leader-changed error says so.
		err := rpctypes.ErrGRPCLeaderChanged
		if bugs.On(bugs.APILeaderChangeAsNoLeader) {
			err = rpctypes.ErrGRPCNoLeader // planted bug (kvdbugs builds only): in-flight requests fail as no-leader (definite), not leader-changed
		}
		n.failAll(err)
		n.lead = ss.Lead
		n.leadSinceTick = n.ticks
	}
	wasLeader := n.isLeader
	n.isLeader = ss.RaftState == raft.StateLeader
	switch {
	case n.isLeader && !wasLeader:
		// Every lease gets a fresh TTL plus an election's worth of grace: the
		// old leader's keepalives are unknown to us.
		n.lessor.Promote(n.cfg.electionTimeout())
	case !n.isLeader && wasLeader:
		if !n.cfg.Unsafe.FollowerLeaseExpiry {
			n.lessor.Demote()
		}
		clear(n.revoking)
	}
}

// failAll completes every waiting request with err.
func (n *Node) failAll(err error) {
	for _, id := range n.proposalOrder {
		if _, ok := n.proposals[id]; ok {
			delete(n.proposals, id)
			n.complete(id, nil, err)
		}
	}
	n.proposalOrder = n.proposalOrder[:0]
	for _, id := range n.reads.drop() {
		n.complete(id, nil, err)
	}
}

// expireRequests times out requests waiting longer than RequestTimeoutTicks.
func (n *Node) expireRequests() {
	deadline := n.ticks - uint64(n.cfg.RequestTimeoutTicks)
	if n.ticks < uint64(n.cfg.RequestTimeoutTicks) {
		return
	}
	i := 0
	for ; i < len(n.proposalOrder); i++ {
		id := n.proposalOrder[i]
		p, ok := n.proposals[id]
		if !ok {
			continue
		}
		if p.submittedTick > deadline {
			break
		}
		delete(n.proposals, id)
		n.complete(id, nil, rpctypes.ErrGRPCTimeout)
	}
	n.proposalOrder = n.proposalOrder[i:]
	for _, id := range n.reads.expire(deadline) {
		n.complete(id, nil, rpctypes.ErrGRPCTimeout)
	}
}

// expireLeases proposes a revoke for each expired lease (leader only).
func (n *Node) expireLeases() {
	if !n.isLeader && !n.cfg.Unsafe.FollowerLeaseExpiry {
		return
	}
	proposed := 0
	for _, id := range n.lessor.Expired(n.cfg.LeaseRevokesPerTickMax * 2) {
		if proposed == n.cfg.LeaseRevokesPerTickMax {
			break
		}
		if at, ok := n.revoking[id]; ok && n.ticks-at < uint64(n.cfg.RequestTimeoutTicks) {
			continue
		}
		// The member revokes as root, as etcd's does (WithRoot): with auth
		// on, a lease's keys would otherwise keep it alive for ever.
		r := &pb.InternalRaftRequest{ID: n.ids.next(), Header: n.auth.RootHeader(), LeaseRevoke: &pb.LeaseRevokeRequest{ID: id}}
		data, err := proto.Marshal(r)
		if err != nil {
			panic(fmt.Sprintf("node %x: marshal lease revoke %d: %v", n.cfg.ID, id, err))
		}
		if n.raw.Propose(data) != nil {
			return
		}
		n.revoking[id] = n.ticks
		proposed++
	}
}
