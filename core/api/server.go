package api

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"slices"
	"sync/atomic"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/watch"
)

// Server is one kvd member: the node, its member loop, and the etcd API in
// front of it.
type Server struct {
	cfg Config
	n   *node.Node
	tr  PeerLinks

	calls *callQueue
	// membersEpoch is the node's MembersEpoch when view.members was built.
	membersEpoch uint64
	callBuf      []*call
	controls     chan func()
	donec        chan struct{} // closed when Run returns
	publishedc   chan struct{} // closed once node.Published holds (see Published)
	published    bool
	runErr       error // valid once donec is closed

	view   atomic.Pointer[view]
	dbSize atomic.Int64
	// overQuota: this member's data was over QuotaBackendBytes when last
	// measured; writes are refused (etcd's quota check) and the NOSPACE
	// alarm is raised through raft until the cluster shows it.
	overQuota atomic.Bool

	// authSem bounds Authenticate's password checks at once.
	authSem chan struct{}
	// jwt makes and verifies JSON web tokens; nil: simple tokens.
	jwt *jwtTokens

	nextStreamID atomic.Int64
	grpc         *grpc.Server
	metrics      *metrics
	forwarder    *forwarder
	// gw is the JSON gateway's in-process connection to grpc (gateway.go).
	gw *inProcessConn

	// Touched by the member loop only.
	waiting map[uint64]*call
	streams map[int64]*watchStream
	// behind lists the streams deliverWatch found behind in this round,
	// for holdBehind.
	behind     []*watchStream
	peerAddrs  map[uint64]string
	lastLeader uint64
	// recoveredCommit is the commit index the member recovered from its
	// WAL: applied, the member holds the state it had when it stopped.
	recoveredCommit uint64
	// lastMembers is the membership peers were last set from.
	lastMembers []node.Member
}

// call is one request waiting for its result; done has room for it.
type call struct {
	req *pb.InternalRaftRequest
	// who names the caller (callerFrom); the loop resolves it.
	who caller
	// member, when set instead of req, is a membership change.
	member *node.MemberChange
	write  bool
	done   chan node.Result
}

// view is what the loop publishes after each Process for handlers, health
// and metrics to read without touching the node.
type view struct {
	header  *pb.ResponseHeader
	status  node.Status
	members []node.Member
	// removed are the ids removed from the cluster, ascending.
	removed []uint64
	// alarms are the cluster's active alarms (replicated), nil if none.
	alarms []*pb.AlarmMember
}

// refusesWrite is etcd's quota check: a write that would store more data
// is refused with NOSPACE while this member's data is over its quota. An
// active alarm is not checked here: apply refuses such writes on every
// member in log order, and this member's view may still show an alarm
// that a disarm ahead of the write in the log has lifted.
func (s *Server) refusesWrite() error {
	if s.overQuota.Load() {
		return rpctypes.ErrGRPCNoSpace
	}
	return nil
}

// New opens the member (recovering it from Node.Dir, or bootstrapping it) and
// builds its gRPC server. Nothing runs until Run.
func New(cfg Config) (*Server, error) {
	cfg.EnsureDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Server{
		cfg:        cfg,
		tr:         cfg.Transport,
		calls:      newCallQueue(cfg.SubmitQueueMax),
		controls:   make(chan func(), cfg.SubmitQueueMax),
		donec:      make(chan struct{}),
		publishedc: make(chan struct{}),
		waiting:    map[uint64]*call{},
		streams:    map[int64]*watchStream{},
		peerAddrs:  map[uint64]string{},
		authSem:    make(chan struct{}, authenticateConcurrentMax),
	}
	if cfg.JWT != nil {
		j, err := newJWT(*cfg.JWT)
		if err != nil {
			return nil, err
		}
		s.jwt = j
	}
	s.metrics = newMetrics(s, cfg.Registry)
	s.forwarder = newForwarder(s)
	s.gw = newInProcessConn(s)

	nc := cfg.Node
	nc.FS = timedFS{FS: nc.FS, fsync: s.metrics.walFsync}
	// The transport queues without blocking, so the leader's appends leave
	// while it fsyncs the same entries.
	nc.BeforePersist = s.deliverBeforePersist
	// Every member writes the same bootstrap entries, so their contexts may
	// hold only what every member knows from --initial-cluster: name and
	// peer URLs. Client URLs are published through raft once running.
	nc.Name, nc.ClientURLs = cfg.Self.Name, cfg.Self.ClientURLs
	nc.PeerContexts = map[uint64][]byte{nc.ID: cfg.Self.bootstrapContext()}
	for id, m := range cfg.Bootstrap {
		nc.PeerContexts[id] = m.bootstrapContext()
	}
	n, err := node.Open(nc)
	if err != nil {
		return nil, fmt.Errorf("api: open member %x (%s): %w", nc.ID, cfg.Self.Name, err)
	}
	s.n = n
	s.recoveredCommit = n.Status().CommitIndex
	for _, id := range slices.Sorted(mapsKeys(cfg.Bootstrap)) {
		if id != nc.ID && len(cfg.Bootstrap[id].PeerURLs) > 0 {
			s.setPeer(id, cfg.Bootstrap[id].PeerURLs[0])
		}
	}
	s.publish()
	s.storedBytes(n.Status().WALReservedBytes) // the loop has not started: Status is safe here

	s.grpc = grpc.NewServer(
		grpc.MaxRecvMsgSize(cfg.Node.RequestBytesMax+grpcOverheadBytes),
		grpc.MaxSendMsgSize(math.MaxInt32),
		grpc.MaxConcurrentStreams(math.MaxUint32),
		grpc.NumStreamWorkers(grpcStreamWorkers),
		grpc.ChainUnaryInterceptor(s.metrics.unaryInterceptor),
		grpc.ChainStreamInterceptor(s.metrics.streamInterceptor),
	)
	pb.RegisterKVServer(s.grpc, &kvServer{s: s})
	pb.RegisterWatchServer(s.grpc, &watchServer{s: s})
	pb.RegisterLeaseServer(s.grpc, &leaseServer{s: s})
	pb.RegisterClusterServer(s.grpc, &clusterServer{s: s})
	pb.RegisterMaintenanceServer(s.grpc, &maintenanceServer{s: s})
	pb.RegisterAuthServer(s.grpc, &authServer{s: s})
	hs := health.NewServer()
	hs.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(s.grpc, hs)
	return s, nil
}

func mapsKeys[V any](m map[uint64]V) func(func(uint64) bool) {
	return func(yield func(uint64) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// GRPC returns the gRPC server (for serving on a plain listener in tests or
// behind Handler).
func (s *Server) GRPC() *grpc.Server { return s.grpc }

// ID is this member's raft id.
func (s *Server) ID() uint64 { return s.cfg.Node.ID }

// Status is the member's state as of the last Process.
func (s *Server) Status() node.Status { return s.view.Load().status }

// Done is closed when Run has returned.
func (s *Server) Done() <-chan struct{} { return s.donec }

// Published is closed once the replicated membership shows this member's
// name and client URLs (at once for a member without a name, and for one
// restarted with the attributes it had published). etcd opens its client
// service only then: a member list through a member that has just started
// names it, as through every other.
func (s *Server) Published() <-chan struct{} { return s.publishedc }

// alwaysReady is closed: selecting it never blocks.
var alwaysReady = func() chan struct{} {
	c := make(chan struct{})
	close(c)
	return c
}()

// Run is the member loop; it returns nil once ctx is done, or the storage
// error that stopped the member. Call it once.
func (s *Server) Run(ctx context.Context) (err error) {
	defer func() {
		s.shutdown(err)
	}()
	go s.checkCorruption(ctx)
	tick := time.NewTicker(s.cfg.Node.TickInterval)
	defer tick.Stop()
	sizeEvery := max(1, int(time.Second/s.cfg.Node.TickInterval))
	progressEvery := max(1, int(s.cfg.WatchProgressNotifyInterval/s.cfg.Node.TickInterval))
	ticks := 0
	for {
		// While a snapshot is being written the loop must come round even
		// with nothing waiting, so the snapshot advances
		// (node.SnapshotInProgress).
		var idle <-chan struct{}
		if s.n.SnapshotInProgress() {
			idle = alwaysReady
		}
		select {
		case <-idle:
		case <-ctx.Done():
			return s.stopGracefully(tick.C)
		case <-tick.C:
			s.n.Tick()
			ticks++
			if ticks%progressEvery == 0 {
				s.n.WatchProgressNotify()
			}
			if ticks%sizeEvery == 0 {
				s.measureSize()
			}
		case m := <-s.tr.Received():
			s.receive(m)
		case r := <-s.tr.Reports():
			s.feedback(r)
		case <-s.calls.wake:
		case f := <-s.controls:
			f()
		}
		s.drain()
		if err := s.round(); err != nil {
			return err
		}
	}
}

// round is one Process of the member loop: its output delivered and the
// view published, or the storage error that stops the member.
func (s *Server) round() error {
	start := time.Now()
	out, err := s.n.Process()
	s.metrics.process.Observe(time.Since(start).Seconds())
	s.deliver(out)
	s.holdBehind()
	s.publish()
	if err != nil {
		return fmt.Errorf("api: member %x stopped: %w", s.cfg.Node.ID, err)
	}
	return nil
}

// stopGracefully keeps the member loop going after its context is done —
// peers answered, no new client calls taken — until the stop node.PrepareStop
// began is over: a leader's leadership handed off (bounded by the node in
// election timeouts), and the state snapshot saved, so that a graceful
// restart restores it instead of replaying the log, or StopSnapshotTimeout
// passed.
func (s *Server) stopGracefully(tick <-chan time.Time) error {
	start := time.Now()
	index, snapshot := s.n.PrepareStop(s.cfg.StopSnapshotTimeout >= 0)
	var deadline <-chan time.Time
	if snapshot {
		t := time.NewTimer(s.cfg.StopSnapshotTimeout)
		defer t.Stop()
		deadline = t.C
	}
	if err := s.round(); err != nil { // starts a leader's handoff
		return err
	}
	for !s.n.StopReady() {
		var working <-chan struct{}
		if snapshot {
			working = alwaysReady // the snapshot's next step is the work
		}
		select {
		case <-deadline:
			s.cfg.Logger.Warn("stopping without a state snapshot: it took longer than the stop allows; the restart replays the log",
				"index", index, "timeout", s.cfg.StopSnapshotTimeout.String())
			s.n.AbandonStopSnapshot()
			snapshot, deadline = false, nil
		case <-tick:
			s.n.Tick()
		case m := <-s.tr.Received():
			s.receive(m)
		case r := <-s.tr.Reports():
			s.feedback(r)
		case <-working:
		}
		if err := s.round(); err != nil {
			return err
		}
	}
	if asked, handedOff := s.n.Handoffs(); asked > 0 {
		s.cfg.Logger.Info("handed leadership off before stopping", "done", handedOff, "transfers", asked, "leader", fmt.Sprintf("%x", s.n.Status().Leader))
	}
	if snapshot {
		s.cfg.Logger.Info("saved a state snapshot before stopping", "index", index, "took", time.Since(start).String())
	}
	return nil
}

// drain takes what is already waiting, up to BatchMax inputs, so one
// Process (one fsync) serves them all.
func (s *Server) drain() {
	calls := s.calls.take(s.callBuf)
	for i, c := range calls {
		s.submit(c)
		calls[i] = nil
	}
	s.callBuf = calls
	for range s.cfg.BatchMax {
		select {
		case m := <-s.tr.Received():
			s.receive(m)
		case r := <-s.tr.Reports():
			s.feedback(r)
		case f := <-s.controls:
			f()
		default:
			return
		}
	}
}

func (s *Server) receive(m *raftpb.Message) {
	if err := s.n.Receive(m); err != nil {
		s.cfg.Logger.Debug("dropped peer message", "type", m.GetType().String(), "from", fmt.Sprintf("%x", m.GetFrom()), "err", err)
	}
}

func (s *Server) submit(c *call) {
	var id uint64
	if c.member != nil {
		id = s.n.ChangeMembership(*c.member)
	} else {
		hdr, err := s.authorize(c.who)
		if err != nil {
			c.done <- node.Result{Err: err}
			return
		}
		c.req.Header = hdr
		id = s.n.Submit(c.req)
	}
	if _, dup := s.waiting[id]; dup {
		panic(fmt.Sprintf("api: node handed out request id %x twice", id))
	}
	s.waiting[id] = c
}

// deliver hands out one Process output.
// deliverBeforePersist delivers what may leave before this round's fsync,
// then yields the processor, so the goroutines it woke (the peers' senders
// with the leader's appends, the handlers of requests already committed)
// run before the member loop blocks in the fsync. Without it a woken
// sender waited in the loop's processor until the fsync returned or the
// runtime took the processor back: a 4 s trace of a leader under puts one
// at a time showed 1.36 s of scheduling delay on the senders (about 130 µs
// per append), so the followers started their own fsync that much later.
func (s *Server) deliverBeforePersist(out node.Output) {
	s.deliver(out)
	if len(out.Messages) > 0 || len(out.Results) > 0 {
		runtime.Gosched()
	}
}

func (s *Server) deliver(out node.Output) {
	s.tr.Send(out.Messages)
	for _, r := range out.Results {
		c := s.waiting[r.ID]
		if c == nil {
			continue // a request the node made itself (lease revoke)
		}
		delete(s.waiting, r.ID)
		if r.Err != nil && c.write {
			s.metrics.proposalsFailed.Inc()
		}
		c.done <- r
	}
	if len(out.Watch) > 0 {
		hdr := s.n.Header()
		for _, d := range out.Watch {
			s.deliverWatch(d, hdr)
		}
	}
}

func (s *Server) deliverWatch(d watch.Delivery, hdr *pb.ResponseHeader) {
	ws := s.streams[d.StreamID]
	if ws == nil {
		return
	}
	resp := d.Response
	if resp.Header == nil {
		resp.Header = &pb.ResponseHeader{Revision: hdr.Revision}
	}
	resp.Header.ClusterId, resp.Header.MemberId, resp.Header.RaftTerm = hdr.ClusterId, hdr.MemberId, hdr.RaftTerm
	parts := []*pb.WatchResponse{resp}
	if d.Fragment {
		// etcd splits at its request limit plus gRPC's overhead.
		parts = watch.Fragments(resp, s.cfg.Node.RequestBytesMax+grpcOverheadBytes)
	}
	if !ws.held && len(ws.out)+len(parts) >= watchHoldQueuedResponses {
		ws.held = true
		s.behind = append(s.behind, ws)
	}
	for _, part := range parts {
		select {
		case ws.out <- part:
		default:
			// The client stopped reading: cut it off rather than stall the
			// member; clientv3 reconnects and resumes from its last revision.
			s.n.CloseWatchStream(d.StreamID)
			delete(s.streams, d.StreamID)
			close(ws.overflow)
			return
		}
	}
}

// publish records the state handlers read, and follows membership changes
// into the transport.
func (s *Server) publish() {
	if !s.published && s.n.Published() {
		s.published = true
		close(s.publishedc)
	}
	st := s.n.Status()
	var members []node.Member
	var removed []uint64
	if prev := s.view.Load(); prev != nil && s.n.MembersEpoch() == s.membersEpoch {
		members, removed = prev.members, prev.removed // unchanged: handlers may share them, nobody writes them
	} else {
		members, removed, s.membersEpoch = s.n.Members(), s.n.RemovedMembers(), s.n.MembersEpoch()
	}
	v := &view{header: s.n.Header(), status: st, members: members, removed: removed, alarms: s.n.Alarms()}
	s.view.Store(v)
	if st.Leader != s.lastLeader {
		if st.Leader != 0 {
			s.metrics.leaderChanges.Inc()
		}
		s.lastLeader = st.Leader
	}
	s.metrics.pending.Set(float64(len(s.waiting)))
	// Membership changes rarely; decoding every member's context after each
	// Process showed in profiles of the loaded leader.
	if slices.EqualFunc(v.members, s.lastMembers, sameMember) {
		return
	}
	allSet := true
	for _, m := range v.members {
		if m.ID == s.cfg.Node.ID {
			continue
		}
		info, err := DecodeMemberInfo(m.Context)
		if err != nil || len(info.PeerURLs) == 0 {
			continue
		}
		allSet = s.setPeer(m.ID, info.PeerURLs[0]) && allSet
	}
	if len(v.members) > 0 {
		// A removed member gets nothing more (a joining member knows no
		// membership yet: it keeps the peers it started with).
		for id := range s.peerAddrs {
			if !slices.ContainsFunc(v.members, func(m node.Member) bool { return m.ID == id }) {
				// Not at once: the leader's farewell to it (node.farewell)
				// is still queued, and tells it to stop.
				time.AfterFunc(removedPeerGrace, func() { s.tr.RemovePeer(id) })
				delete(s.peerAddrs, id)
			}
		}
	}
	if allSet {
		s.lastMembers = v.members // else retried after the next Process
	}
}

// removedPeerGrace is how long a removed member's link outlives its
// removal, so what was queued for it leaves.
const removedPeerGrace = time.Second

func sameMember(a, b node.Member) bool {
	return a.ID == b.ID && a.Name == b.Name && bytes.Equal(a.Context, b.Context) && slices.Equal(a.ClientURLs, b.ClientURLs)
}

// setPeer points the transport at a peer's URL; false if it could not.
func (s *Server) setPeer(id uint64, url string) bool {
	if s.peerAddrs[id] == url {
		return true
	}
	if err := s.tr.SetPeer(id, url); err != nil {
		s.cfg.Logger.Warn("cannot reach peer", "peer", fmt.Sprintf("%x", id), "url", url, "err", err)
		return false
	}
	s.peerAddrs[id] = url
	return true
}

// storedBytes measures, and keeps as dbSize, what the member's files hold:
// the data directory's size less the space the WAL has preallocated and
// not yet written (etcd's db size does not count its preallocated WAL
// either), so a fresh segment's reservation does not raise NOSPACE.
func (s *Server) storedBytes(walReservedBytes int64) int64 {
	size := max(0, dirSizeBytes(s.cfg.DataDir)-walReservedBytes)
	s.dbSize.Store(size)
	return size
}

func (s *Server) measureSize() {
	size := s.storedBytes(s.view.Load().status.WALReservedBytes)
	q := s.cfg.QuotaBackendBytes
	over := q > 0 && size > q
	s.overQuota.Store(over)
	if !over || s.view.Load().status.Leader == 0 {
		return // under the quota, or no leader to take the proposal yet
	}
	id := s.cfg.Node.ID
	if slices.ContainsFunc(s.view.Load().alarms, func(a *pb.AlarmMember) bool { return a.MemberID == id && a.Alarm == pb.AlarmType_NOSPACE }) {
		return
	}
	// Raised through raft, so every member refuses the same writes; asked
	// again each measurement until the cluster shows it.
	s.cfg.Logger.Warn("backend quota exceeded: raising the NOSPACE alarm", "sizeBytes", size, "quotaBytes", q)
	s.n.Submit(&pb.InternalRaftRequest{Alarm: &pb.AlarmRequest{Action: pb.AlarmRequest_ACTIVATE, MemberID: id, Alarm: pb.AlarmType_NOSPACE}})
}

// shutdown fails everything still waiting and closes the node.
func (s *Server) shutdown(err error) {
	for id, c := range s.waiting {
		c.done <- node.Result{ID: id, Err: rpctypes.ErrGRPCStopped}
	}
	clear(s.waiting)
	for id, ws := range s.streams {
		close(ws.overflow)
		delete(s.streams, id)
	}
	s.forwarder.close()
	s.closeInProcess()
	if cerr := s.n.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("api: close member %x: %w", s.cfg.Node.ID, cerr)
	}
	s.runErr = err
	close(s.donec)
}

// Err is the error Run returned; valid after Done is closed.
func (s *Server) Err() error {
	<-s.donec
	return s.runErr
}

// do submits a request and waits for its result.
func (s *Server) do(ctx context.Context, req *pb.InternalRaftRequest, write bool) (proto.Message, error) {
	if req.Range == nil || !req.Range.Serializable {
		if err := s.waitLeader(ctx); err != nil {
			return nil, err
		}
	}
	c := &call{req: req, who: callerFrom(ctx), write: write, done: make(chan node.Result, 1)}
	if err := s.calls.push(ctx, s.donec, c); err != nil {
		return nil, err
	}
	select {
	case r := <-c.done:
		return r.Response, r.Err
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	case <-s.donec:
		return nil, rpctypes.ErrGRPCStopped
	}
}

// changeMembers submits a membership change and waits for the membership
// it produced.
func (s *Server) changeMembers(ctx context.Context, mc node.MemberChange) ([]node.Member, error) {
	if err := s.waitLeader(ctx); err != nil {
		return nil, err
	}
	c := &call{member: &mc, write: true, done: make(chan node.Result, 1)}
	if err := s.calls.push(ctx, s.donec, c); err != nil {
		return nil, err
	}
	select {
	case r := <-c.done:
		return r.Members, r.Err
	case <-ctx.Done():
		return nil, ctxErr(ctx)
	case <-s.donec:
		return nil, rpctypes.ErrGRPCStopped
	}
}

// waitLeader holds a request that needs raft while no leader is known, as
// etcd's proposals wait, for at most four election timeouts (a randomized timeout plus a pre-vote round): a member just
// started or in an election should not fail requests it can soon serve.
func (s *Server) waitLeader(ctx context.Context) error {
	tick := s.cfg.Node.TickInterval
	for range 4 * s.cfg.Node.ElectionTicks {
		if s.view.Load().status.Leader != 0 {
			return nil
		}
		select {
		case <-time.After(tick):
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-s.donec:
			return rpctypes.ErrGRPCStopped
		}
	}
	if s.view.Load().status.Leader == 0 {
		return rpctypes.ErrGRPCNoLeader
	}
	return nil
}

// control runs f on the member loop and waits for it.
func (s *Server) control(ctx context.Context, f func()) error {
	done := make(chan struct{})
	g := func() { f(); close(done) }
	select {
	case s.controls <- g:
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-s.donec:
		return rpctypes.ErrGRPCStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctxErr(ctx)
	case <-s.donec:
		return rpctypes.ErrGRPCStopped
	}
}

// ownHeader makes h this member's, as etcd's v3rpc header.fill does for an
// answer that came from elsewhere (the leader, for a forwarded lease call):
// ids and term are this member's, a revision already set stays.
func (s *Server) ownHeader(h *pb.ResponseHeader) *pb.ResponseHeader {
	own := s.header()
	if h != nil && h.Revision != 0 {
		own.Revision = h.Revision
	}
	return own
}

// header is a response header for the member's last published state.
func (s *Server) header() *pb.ResponseHeader {
	return proto.Clone(s.view.Load().header).(*pb.ResponseHeader)
}

// ctxErr maps a finished context to etcd's errors, as etcd's v3rpc does.
func ctxErr(ctx context.Context) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return rpctypes.ErrGRPCDeadlineExceeded
	}
	return rpctypes.ErrGRPCCanceled
}
