package sim

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"
	"golang.org/x/crypto/bcrypt"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/auth"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/watch"
)

// Member is one simulated cluster member: a core/node driven by the World,
// its disk, its clock, and whether it is up, paused or damaged.
type Member struct {
	c     *Cluster
	id    uint64
	disk  *Disk
	fs    disk.FS
	clock memberClock
	node  *node.Node

	// incarnation counts starts; events scheduled for an earlier
	// incarnation (ticks, processing) do nothing.
	incarnation uint64
	paused      bool
	pausedInbox []inboxMsg
	// damaged is set when the member could not start on its durable state.
	damaged error

	processScheduled bool
	// outputAtElapsed is when the latest Process round's output leaves
	// (after its disk cost); outputsQueued counts rounds still waiting to
	// leave. A later round's output never overtakes an earlier one's: kvd's
	// loop sends one round's output before it processes the next.
	outputAtElapsed time.Duration
	outputsQueued   int
	// waiting maps a node request id to the client call it serves.
	waiting map[uint64]clientRef
	// watchStreams maps a watch stream id (the client's id) to the member's
	// end of the client's connection.
	watchStreams map[int64]*watchConn
	// behind lists streams found behind in this round (holdBehind).
	behind []int64
	// memberOps are membership changes proposed here (membership.go).
	memberOps map[uint64]memberOp
	// join: the member was added to the running cluster (no bootstrap);
	// removed: it was removed and never runs again.
	join, removed bool
	// recoveredCommit is the commit index a restart recovered; until the
	// initial corruption check has run (corrupt.go) checkDue is set.
	recoveredCommit uint64
	checkDue        bool
	// granted is the newest vote this member granted that left on the
	// network, appliedMax the last entry it applied, and stableLast the
	// last index of its log in stable storage when it stopped — entries
	// raft hands to storage only once synced, and acknowledges to the
	// leader as durable: raft made all three durable first, so every
	// restart must recover them (checkRecovered).
	granted    grantedVote
	appliedMax uint64
	stableLast uint64
	// stopIndex is the snapshot a graceful stop waits for (Stop) while
	// stopping, 0 if none, and stopLed whether the member led when the
	// stop began; stopSaved the snapshot the last graceful stop saved,
	// which the next start must restore unless the disk was rewritten
	// since (stopRewrites is the disk's count of rewrites then).
	// stopCalmSeq is the fault sequence number when a leader's stop began
	// in calm (Cluster.calmFor), -1 otherwise: the stop must then hand
	// off, unless a fault started meanwhile.
	stopping     bool
	stopLed      bool
	stopCalmSeq  int
	stopIndex    uint64
	stopSaved    uint64
	stopRewrites uint64
	// restartWhenStopped: the fault that stopped it healed while it was
	// still stopping, so the stop's end restarts it.
	restartWhenStopped bool
}

// grantedVote is a vote a member promised: for Candidate in Term.
type grantedVote struct {
	term, candidate uint64
}

// watchConn is the member's end of one client's watch stream: a gRPC
// stream on one TCP connection in kvd. Its responses are numbered so the
// client can hand them over as TCP does: in order, once, without holes.
type watchConn struct {
	client uint64
	// generation is the client's connection generation the stream belongs
	// to (Client.ReopenWatchStream starts a new one).
	generation uint64
	// seqSent is the sequence number of the latest response put on it.
	seqSent uint64
	// The member's sender for the stream, modelled as kvd's gRPC layer
	// runs it: backlog responses wait for it as of backlogAt, each taking
	// ClusterOptions.WatchSendCost; held while the node holds the
	// stream's responses back (holdBehind).
	backlog   int
	backlogAt time.Duration
	held      bool
}

// queue counts n more responses for the stream's sender at now, after it
// sent what it could since the last count.
func (c *watchConn) queue(now, cost time.Duration, n int) {
	if cost > 0 && c.backlog > 0 {
		sent := min(c.backlog, int((now-c.backlogAt)/cost))
		c.backlog -= sent
		c.backlogAt += time.Duration(sent) * cost
	}
	if c.backlog == 0 {
		c.backlogAt = now
	}
	c.backlog += n
}

type inboxMsg struct {
	from uint64
	msg  any
}

type clientRef struct {
	client uint64
	seq    uint64
}

// ID returns the member's id.
func (m *Member) ID() uint64 { return m.id }

// Disk returns the member's simulated disk.
func (m *Member) Disk() *Disk { return m.disk }

// Node returns the running node, nil while the member is down.
func (m *Member) Node() *node.Node { return m.node }

// Damaged returns why the member refused to start, nil if it did not.
func (m *Member) Damaged() error { return m.damaged }

// Paused reports whether the member is paused.
func (m *Member) Paused() bool { return m.paused }

// Clock returns the member's view of time.
func (m *Member) Clock() *memberClock { return &m.clock }

func (m *Member) config() node.Config {
	cfg := m.c.opts.Node
	cfg.ID = m.id
	cfg.ClusterID = 0x5eed
	cfg.Peers = m.c.initialIDs
	if m.join {
		cfg.Peers, cfg.Join = nil, true
	}
	// As kvd: the member publishes its name, and counts as started.
	cfg.Name = fmt.Sprintf("m%d", m.id)
	cfg.FS = m.fs
	cfg.Dir = "member"
	if cfg.Logger == nil {
		cfg.Logger = discardLogger
	}
	// As kvd: a steady leader's messages, and answers for entries already
	// committed, leave before the member's own fsync.
	cfg.BeforePersist = m.beforePersist
	return cfg
}

// beforePersist puts output the node lets leave before its fsync on the
// network before the round's disk cost, after anything earlier rounds
// still have waiting: no output overtakes another.
func (m *Member) beforePersist(out node.Output) {
	m.emit(out, 0)
}

// emit sends out cost from now — later if an earlier output still waits:
// no output overtakes another. Watch responses are numbered at once, in
// the order the node produced them, while the streams they belong to are
// the current ones.
func (m *Member) emit(out node.Output, cost time.Duration) {
	w := m.c.w
	watches := m.watchDeliveries(out)
	now := w.Elapsed()
	at := max(now+cost, m.outputAtElapsed)
	m.outputAtElapsed = at
	if at == now && m.outputsQueued == 0 {
		m.send(out, watches)
		return
	}
	// Queued even at the same instant when an earlier output still waits
	// there: events at one instant run in the order queued.
	m.outputsQueued++
	incarnation := m.incarnation
	w.After(at-now, func() {
		if m.node == nil || m.incarnation != incarnation {
			return // crashed before the fsync finished: nothing leaves
		}
		m.outputsQueued--
		m.send(out, watches)
	})
}

// start opens the node on the member's disk. A member whose durable state
// is damaged stays down: it must not vote or ack on that state.
func (m *Member) start() {
	if m.node != nil {
		panic(fmt.Sprintf("sim: member %d started twice", m.id))
	}
	if m.removed {
		return // removed for good
	}
	w := m.c.w
	n, err := node.Open(m.config())
	if err != nil {
		m.damaged = err
		w.Trace("member.damaged", "id=%d err=%v", m.id, err)
		return
	}
	m.damaged = nil
	m.node = n
	m.checkRecovered()
	m.recoveredCommit = n.Status().CommitIndex
	m.checkDue = m.incarnation > 0 // a restart, not the first start
	m.incarnation++
	m.waiting = map[uint64]clientRef{}
	m.watchStreams = map[int64]*watchConn{}
	m.outputAtElapsed, m.outputsQueued = 0, 0
	w.Trace("member.start", "id=%d incarnation=%d", m.id, m.incarnation)
	w.network.Register(m.id, m.receive)
	m.scheduleTick(m.incarnation)
}

// Crash stops the member at once: nothing is closed or flushed, the disk
// loses what was not synced (a torn tail if the disk is set to tear).
func (m *Member) Crash() {
	if m.node == nil {
		return
	}
	m.c.w.Trace("member.crash", "id=%d", m.id)
	m.halt()
}

// halt takes the member down: off the network, its volatile state gone,
// and its disk crashed — the simulated disk keeps nothing unsynced across
// a stop, so every stop is modelled as the harder machine crash.
func (m *Member) halt() {
	m.stableLast = m.node.Durable().LastIndex
	m.node = nil
	m.paused = false
	m.pausedInbox = nil
	m.processScheduled = false
	m.stopping, m.restartWhenStopped = false, false
	m.c.w.network.Unregister(m.id)
	m.disk.Crash()
	m.c.observeLeadership()
}

// stopSnapshotTimeout is how much virtual time a graceful stop waits for
// its snapshot, as kvd's default.
const stopSnapshotTimeout = node.StopSnapshotTimeoutDefault

// Stop stops the member as SIGTERM stops kvd (node.PrepareStop): a leader
// hands its leadership off, and when a state snapshot is due the member
// saves it first, or stopSnapshotTimeout passes. Meanwhile it keeps
// serving and processing; then it closes its node. It stays down until
// Restart, as after Crash.
func (m *Member) Stop() {
	if m.node == nil || m.stopping {
		return
	}
	leading, _ := m.node.Leading()
	index, ok := m.node.PrepareStop(true)
	m.c.w.Trace("member.stopping", "id=%d leader=%v snapshot=%v index=%d", m.id, leading, ok, index)
	m.stopping, m.stopIndex, m.stopLed = true, 0, leading
	if ok {
		m.stopIndex = index
	}
	m.stopCalmSeq = -1
	if leading {
		m.c.leaderStops.Stops++
		if m.c.calmFor(m) {
			m.stopCalmSeq = m.c.faults.seq
		}
	}
	if m.node.StopReady() {
		m.finishStop()
		return
	}
	incarnation := m.incarnation
	m.c.w.After(stopSnapshotTimeout, func() {
		if m.node == nil || m.incarnation != incarnation || !m.stopping {
			return
		}
		m.node.AbandonStopSnapshot()
		if m.node.StopReady() {
			m.finishStop()
		}
	})
	m.scheduleProcess()
}

// finishStop closes the node of a stopping member, noting the snapshot
// index its stop saved (0 if none) for checkRecovered.
func (m *Member) finishStop() {
	w := m.c.w
	saved := uint64(0)
	if m.stopIndex > 0 && m.node.Defragmented(m.stopIndex) {
		saved = m.stopIndex
	}
	asked, handedOff := m.node.Handoffs()
	w.Trace("member.stop", "id=%d saved=%d handoffs=%d handed-off=%v", m.id, saved, asked, handedOff)
	if m.stopLed && handedOff {
		m.c.leaderStops.HandedOff++
	}
	calm := m.stopCalmSeq == m.c.faults.seq && m.c.calmFor(m)
	if m.stopLed && !handedOff && calm && !m.c.opts.Node.StopHandoffOff {
		m.c.stuck(fmt.Sprintf("liveness: member %d led when it was stopped gracefully, with every other member up and no other fault, yet it closed without handing its leadership to another member (%d transfers asked)",
			m.id, asked))
	}
	if err := m.node.Close(); err != nil {
		w.Trace("member.failed", "id=%d err=%v", m.id, err)
	}
	m.stopSaved, m.stopRewrites = saved, m.disk.rewrites
	restart := m.restartWhenStopped
	m.halt()
	if restart && !m.c.stillFaulted(m.id, "") {
		m.Restart()
	}
}

// Restart starts a crashed member again; it recovers from its disk.
func (m *Member) Restart() {
	if m.node != nil {
		return
	}
	m.start()
}

// Pause stops the member stepping: no ticks, no processing; messages wait
// in a bounded inbox (beyond it they are lost, as a full socket buffer).
func (m *Member) Pause() {
	if m.node == nil || m.paused {
		return
	}
	m.c.w.Trace("member.pause", "id=%d", m.id)
	m.paused = true
	m.c.observeLeadership()
}

// Resume lets a paused member step again and hands it what waited.
func (m *Member) Resume() {
	if m.node == nil || !m.paused {
		return
	}
	m.c.w.Trace("member.resume", "id=%d inbox=%d", m.id, len(m.pausedInbox))
	m.paused = false
	m.c.observeLeadership()
	inbox := m.pausedInbox
	m.pausedInbox = nil
	for _, in := range inbox {
		m.receive(in.from, in.msg)
	}
	m.scheduleTick(m.incarnation)
}

func (m *Member) scheduleTick(incarnation uint64) {
	m.c.w.After(m.clock.tickInterval(m.c.opts.Node.TickInterval), func() {
		if m.node == nil || m.incarnation != incarnation || m.paused {
			return
		}
		m.node.Tick()
		if !m.processScheduled {
			// Nothing else is waiting at this instant: process in this
			// event rather than queue one more.
			m.process()
		}
		if m.node != nil && m.incarnation == incarnation {
			m.scheduleTick(incarnation)
		}
	})
}

// scheduleProcess runs Process once for everything that arrived at this
// instant: batching, as kvd's loop does between two wake-ups.
func (m *Member) scheduleProcess() {
	if m.processScheduled {
		return
	}
	m.processScheduled = true
	incarnation := m.incarnation
	m.c.w.After(0, func() {
		if m.node == nil || m.incarnation != incarnation {
			return
		}
		m.processScheduled = false
		if m.paused {
			return
		}
		m.process()
	})
}

func (m *Member) process() {
	w := m.c.w
	m.disk.TakeRoundCost() // operations outside a round (start) cost nothing here
	out, err := m.node.Process()
	// The disk's cost of this round (fsync latency) delays what it sends,
	// and so everything later rounds send: no output overtakes another.
	// A round without disk operations costs nothing.
	cost := m.disk.TakeRoundCost()
	if err != nil {
		w.Trace("member.failed", "id=%d err=%v", m.id, err)
	}
	m.emit(out, cost)
	m.holdBehind()
	if errRemoved(err) {
		// It applied its own removal: it stops, as kvd exits.
		m.c.memberRemoved(m.id)
		m.Crash()
		return
	}
	if err != nil {
		// A failed disk stops the member for good, as kvd exits.
		m.damaged = err
		m.Crash()
		return
	}
	m.appliedMax = max(m.appliedMax, m.node.Durable().AppliedIndex)
	m.c.config.observe(m)
	m.c.observeLeadership()
	if m.checkDue && m.initialCheck() {
		m.checkDue = false
	}
	if m.stopping && m.node.StopReady() {
		m.finishStop()
		return
	}
	if m.node.SnapshotInProgress() {
		// As kvd's loop: keep stepping the snapshot while idle.
		m.scheduleProcess()
	}
}

// receive is the member's network endpoint.
func (m *Member) receive(from uint64, msg any) {
	if m.node == nil {
		return
	}
	if m.paused {
		if len(m.pausedInbox) < m.c.opts.PausedMessagesMax {
			m.pausedInbox = append(m.pausedInbox, inboxMsg{from, msg})
		} else {
			m.c.w.Trace("member.inbox-full", "id=%d from=%d", m.id, from)
		}
		return
	}
	switch msg := msg.(type) {
	case *peerMsg:
		if err := m.node.Receive(msg.msg); err != nil {
			m.c.w.Trace("member.reject", "id=%d from=%d err=%v", m.id, from, err)
		}
	case *clientRequest:
		m.serveClient(from, msg)
	default:
		panic(fmt.Sprintf("sim: member %d: unexpected message %T", m.id, msg))
	}
	m.scheduleProcess()
}

// serveClient hands a client's request to the node; leader-local calls
// (keepalive, watches) are answered or registered here.
func (m *Member) serveClient(from uint64, r *clientRequest) {
	w := m.c.w
	reply := func(resp proto.Message, err error) {
		w.network.Send(m.id, from, &clientResponse{seq: r.seq, member: m.id, resp: resp, err: err}, proto.Size(resp)+16)
	}
	// As kvd's gRPC layer: the token names the caller first.
	hdr, err := m.node.Authorize(r.token)
	if err != nil {
		reply(nil, err)
		return
	}
	switch {
	case r.req != nil:
		req := proto.Clone(r.req).(*pb.InternalRaftRequest)
		req.Header = hdr
		if err := m.prepareAuth(req); err != nil {
			reply(nil, err)
			return
		}
		id := m.node.Submit(req)
		m.waiting[id] = clientRef{client: from, seq: r.seq}
	case r.keepAlive != 0:
		reply(m.node.LeaseKeepAlive(r.keepAlive))
	case r.timeToLive != 0:
		reply(m.node.LeaseTimeToLive(r.timeToLive, true))
	case r.watch != nil:
		stream := int64(from)
		conn := m.watchStreams[stream]
		switch {
		case conn != nil && r.watchGeneration < conn.generation:
			// Sent on a connection the client has since replaced; that
			// connection is gone, and so is whatever it asked.
			w.Trace("member.watch-stale", "id=%d client=%d generation=%d current=%d", m.id, from, r.watchGeneration, conn.generation)
			return
		case conn == nil || r.watchGeneration > conn.generation:
			if conn != nil {
				// The client reconnected: its old stream ends, with every
				// watcher on it, as kvd's gRPC stream handler ends.
				m.node.CloseWatchStream(stream)
			}
			conn = &watchConn{client: from, generation: r.watchGeneration}
			m.watchStreams[stream] = conn
		}
		id, err := m.node.Watch(stream, proto.Clone(r.watch).(*pb.WatchCreateRequest), hdr)
		reply(&pb.WatchResponse{WatchId: id, Created: err == nil}, err)
	case r.cancelWatch:
		// Sent on one connection: a cancel for a connection the client
		// has since replaced (or that died with an earlier incarnation)
		// must not reach a watcher of a newer one that reuses the id.
		stream := int64(from)
		conn := m.watchStreams[stream]
		if conn == nil || conn.generation != r.watchGeneration {
			w.Trace("member.watch-cancel-stale", "id=%d client=%d watch=%d generation=%d", m.id, from, r.watchCancel, r.watchGeneration)
			return
		}
		// etcd answers a cancel only on the stream (the Canceled
		// response); an unknown id gets nothing.
		if err := m.node.CancelWatch(stream, r.watchCancel); err != nil {
			w.Trace("member.watch-cancel-unknown", "id=%d client=%d watch=%d err=%v", m.id, from, r.watchCancel, err)
		}
	default:
		panic(fmt.Sprintf("sim: member %d: empty client request from %d", m.id, from))
	}
}

// memberClock is a member's view of time: the World's, shifted by an
// offset and stretched by a drift (parts per million), both set by faults.
// The core reads no wall clock (leases age in ticks, request ids come from
// a boot epoch), so jumps and skews reach it only through what a workload
// or checker reads here; drift reaches it through the tick rate.
type memberClock struct {
	w        *World
	offset   time.Duration
	driftPPM int64
	// driftFrom is the virtual elapsed time drift has been accumulating from.
	driftFrom time.Duration
	driftAcc  time.Duration
}

// Now returns the member's idea of the current time.
func (c *memberClock) Now() time.Time {
	return c.w.Now().Add(c.offset + c.driftAcc + c.drift())
}

func (c *memberClock) drift() time.Duration {
	return time.Duration(int64(c.w.Elapsed()-c.driftFrom) * c.driftPPM / 1_000_000)
}

// Jump moves the member's clock by d (forward or back).
func (c *memberClock) Jump(d time.Duration) { c.offset += d }

// SetDrift makes the member's clock run fast (ppm > 0) or slow from now on.
func (c *memberClock) SetDrift(ppm int64) {
	c.driftAcc += c.drift()
	c.driftFrom = c.w.Elapsed()
	c.driftPPM = ppm
}

// tickInterval is how much virtual time one of the member's ticks takes:
// a fast clock ticks sooner.
func (c *memberClock) tickInterval(nominal time.Duration) time.Duration {
	d := time.Duration(int64(nominal) * 1_000_000 / (1_000_000 + c.driftPPM))
	return max(d, time.Microsecond)
}

// lyingFS acknowledges Sync without making anything durable: the
// ack-before-fsync unsafe variant.
type lyingFS struct{ *Disk }

func (l lyingFS) Create(name string) (disk.File, error) {
	f, err := l.Disk.Create(name)
	if err != nil {
		return nil, err
	}
	return lyingFile{f}, nil
}

func (l lyingFS) OpenAppend(name string) (disk.File, error) {
	f, err := l.Disk.OpenAppend(name)
	if err != nil {
		return nil, err
	}
	return lyingFile{f}, nil
}

func (l lyingFS) SyncDir(string) error { return nil }

type lyingFile struct{ disk.File }

func (lyingFile) Sync() error { return nil }

// Preallocate is the disk's own: the lie is only in Sync.
func (l lyingFile) Preallocate(sizeBytes int64) error {
	return disk.PreallocateThrough(l.File, sizeBytes)
}

// send hands a Process round's output to the network: raft messages to
// peers, results to the clients waiting on them, watch responses to their
// streams.
func (m *Member) send(out node.Output, watches []*watchDelivery) {
	w := m.c.w
	for _, msg := range out.Messages {
		if msg.GetType() == raftpb.MsgVoteResp && !msg.GetReject() && msg.GetTerm() >= m.granted.term {
			m.granted = grantedVote{term: msg.GetTerm(), candidate: msg.GetTo()}
		}
		w.network.Send(m.id, msg.GetTo(), &peerMsg{msg: msg, desc: describeRaft(msg)}, proto.Size(msg))
		if msg.GetType() == raftpb.MsgSnap {
			// The simulated link either delivers or drops; raft learns
			// which when the follower answers. Report success so the
			// leader resumes replication; a lost snapshot is resent.
			m.node.ReportSnapshot(msg.GetTo(), true)
		}
	}
	for _, r := range out.Results {
		if m.memberResult(r) {
			continue
		}
		ref, ok := m.waiting[r.ID]
		if !ok {
			continue
		}
		delete(m.waiting, r.ID)
		resp := &clientResponse{seq: ref.seq, member: m.id, resp: r.Response, err: r.Err}
		w.network.Send(m.id, ref.client, resp, proto.Size(r.Response)+16)
	}
	for _, d := range watches {
		w.network.Send(m.id, d.client, d, proto.Size(d.d.Response))
	}
}

// holdBehind holds, in the node, the streams whose modelled senders fell
// WatchHoldResponses behind in this round (after Process, as kvd's loop
// does), and schedules each release for when its sender is down to
// WatchReleaseResponses.
func (m *Member) holdBehind() {
	w, opts := m.c.w, m.c.opts
	for _, id := range m.behind {
		conn := m.watchStreams[id]
		if conn == nil || !conn.held {
			continue
		}
		m.node.HoldWatchStream(id, true)
		conn.queue(w.Elapsed(), opts.WatchSendCost, 0)
		wait := time.Duration(max(0, conn.backlog-opts.WatchReleaseResponses)) * opts.WatchSendCost
		w.Trace("member.watch-hold", "id=%d stream=%d backlog=%d release_in=%s", m.id, id, conn.backlog, wait)
		incarnation := m.incarnation
		w.After(wait, func() {
			if m.node == nil || m.incarnation != incarnation || m.watchStreams[id] != conn || !conn.held {
				return
			}
			conn.held = false
			m.node.HoldWatchStream(id, false)
			w.Trace("member.watch-release", "id=%d stream=%d", m.id, id)
			m.scheduleProcess()
		})
	}
	m.behind = m.behind[:0]
}

// watchDeliveries numbers a Process round's watch responses on their
// streams' connections.
func (m *Member) watchDeliveries(out node.Output) []*watchDelivery {
	var ds []*watchDelivery
	for _, d := range out.Watch {
		conn, ok := m.watchStreams[d.StreamID]
		if !ok {
			continue
		}
		parts := []*pb.WatchResponse{d.Response}
		if d.Fragment {
			parts = watch.Fragments(d.Response, m.c.opts.WatchFragmentBytes)
		}
		if opts := m.c.opts; opts.WatchSendCost > 0 {
			conn.queue(m.c.w.Elapsed(), opts.WatchSendCost, len(parts))
			if !conn.held && conn.backlog >= opts.WatchHoldResponses {
				conn.held = true
				m.behind = append(m.behind, d.StreamID)
			}
		}
		for _, part := range parts {
			conn.seqSent++
			ds = append(ds, &watchDelivery{
				member: m.id, client: conn.client, incarnation: m.incarnation,
				generation: conn.generation, seq: conn.seqSent,
				d: watch.Delivery{StreamID: d.StreamID, Response: part},
			})
		}
	}
	return ds
}

// prepareAuth does what kvd's gRPC layer does with an auth request before
// it submits it: hash passwords (at bcrypt's least cost: the simulator's
// time is virtual, its CPU is not) and check an Authenticate's password.
func (m *Member) prepareAuth(r *pb.InternalRaftRequest) error {
	if a := r.Authenticate; a != nil {
		hash, ok := m.node.PasswordHash(a.Name)
		if !ok {
			return rpctypes.ErrGRPCAuthFailed
		}
		return auth.CheckPassword(hash, a.Password)
	}
	return auth.HashRequestPasswords(r, bcrypt.MinCost)
}

// checkRecovered judges a member that has just opened its disk against
// what it held before: its recovered term must be later than the newest
// vote it granted, or the same with the same vote — else it may vote twice
// in a term, two leaders of one term; and its log must reach the last entry
// it applied, and the last it held in stable storage when it stopped, which
// raft only applies, and acknowledges to a leader, once stable. A start that cut a
// torn tail lost the last record legitimately (a tear or a flipped bit
// there cannot be told apart), so it is not judged; a fault that damaged
// the disk otherwise leaves the member refusing to start. After a graceful
// stop that saved a state snapshot, it must start from that one or a newer
// one, unless its disk was rewritten since (a bit flip, a restored image).
func (m *Member) checkRecovered() {
	d := m.node.Durable()
	saved := m.stopSaved
	m.stopSaved = 0
	if d.TornTailBytes > 0 {
		m.granted, m.appliedMax, m.stableLast = grantedVote{}, 0, 0
		return
	}
	if g := m.granted; g.term > 0 && !(d.Term > g.term || (d.Term == g.term && d.Vote == g.candidate)) {
		m.c.violate(fmt.Sprintf("durability: member %d granted its vote in term %d to member %d, then restarted with term %d and vote %d: the vote it sent was not durable",
			m.id, g.term, g.candidate, d.Term, d.Vote))
	}
	if saved > 0 && m.disk.rewrites == m.stopRewrites && d.AppliedIndex < saved {
		m.c.violate(fmt.Sprintf("durability: member %d saved a state snapshot at index %d in its graceful stop, then restarted from one at %d: the saved snapshot was lost",
			m.id, saved, d.AppliedIndex))
	}
	if d.LastIndex < m.appliedMax {
		m.c.violate(fmt.Sprintf("durability: member %d applied entries up to index %d, then restarted with its log ending at %d: entries raft had made stable were lost",
			m.id, m.appliedMax, d.LastIndex))
	} else if d.LastIndex < m.stableLast {
		m.c.violate(fmt.Sprintf("durability: member %d held its log to index %d in stable storage when it stopped, then restarted with its log ending at %d: entries it had synced (and may have acknowledged to the leader) were lost without a torn tail",
			m.id, m.stableLast, d.LastIndex))
	}
}
