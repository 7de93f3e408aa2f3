package api

import (
	"context"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// metrics are the member's Prometheus series. Wherever kvd has the same
// quantity as etcd v3.7.3, the series has etcd's name, type and label
// names, so etcd's Grafana dashboard and alert rules (contrib/mixin) read
// a kvd member unchanged; kvd's own series are named kvd_*. The peer
// transport's series are PeerMetrics'.
type metrics struct {
	grpc            *grpcMetrics
	clientSent      prometheus.Counter
	clientReceived  prometheus.Counter
	leaderChanges   prometheus.Counter
	proposalsFailed prometheus.Counter
	pending         prometheus.Gauge
	// walFsync observes every fsync of the member's files (timedFS); a
	// state snapshot's go to the snapshot histograms instead (fsyncFor).
	walFsync *fsyncs
	process  prometheus.Histogram
}

// etcd's gRPC types (go-grpc-middleware's grpc_type label).
const (
	grpcUnary        = "unary"
	grpcClientStream = "client_stream"
	grpcServerStream = "server_stream"
	grpcBidiStream   = "bidi_stream"
)

// grpcCodes is how many gRPC status codes there are (OK … Unauthenticated).
const grpcCodes = int(codes.Unauthenticated) + 1

// grpcMetrics are go-grpc-middleware's server series, as etcd serves them
// (grpc_server_handling_seconds: as with etcd's --metrics=extensive):
// every registered method's are there from the start at zero, and each
// call increments series resolved once per method, not label values
// hashed per call.
type grpcMetrics struct {
	s                                      *Server
	started, handled, msgReceived, msgSent *prometheus.CounterVec
	handling                               *prometheus.HistogramVec

	// methods maps a full method name ("/etcdserverpb.KV/Range") to its
	// series; replaced whole (copy on write) when a method is added, so a
	// call reads it without a lock.
	methods atomic.Pointer[map[string]*methodSeries]
	mu      sync.Mutex // serializes additions to methods
	// registered: every method of the gRPC server has its series.
	registered atomic.Bool
}

// methodSeries are one method's series.
type methodSeries struct {
	started, msgReceived, msgSent prometheus.Counter
	handled                       [grpcCodes]prometheus.Counter // by status code
	handling                      prometheus.Observer
	labels                        []string // grpc_type, grpc_service, grpc_method
	// open counts the method's streams in progress.
	open atomic.Int64
}

// watchMethod is the Watch service's stream: one per client connection's
// watches, etcd's mvcc watch stream.
const watchMethod = "/etcdserverpb.Watch/Watch"

func newMetrics(s *Server, reg *prometheus.Registry) *metrics {
	labels := []string{"grpc_type", "grpc_service", "grpc_method"}
	g := &grpcMetrics{
		s: s,
		started: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_started_total", Help: "Total number of RPCs started on the server.",
		}, labels),
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "Total number of RPCs completed on the server, regardless of success or failure.",
		}, append(labels, "grpc_code")),
		msgReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_received_total", Help: "Total number of RPC stream messages received on the server.",
		}, labels),
		msgSent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_msg_sent_total", Help: "Total number of gRPC stream messages sent by the server.",
		}, labels),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_handling_seconds",
			Help: "Histogram of response latency (seconds) of gRPC that had been application-level handled by the server (streams: their lifetime).",
			// Finer than go-grpc-middleware's default (5 ms to 10 s):
			// kvd answers most calls well under a millisecond.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, labels),
	}
	g.methods.Store(&map[string]*methodSeries{})
	m := &metrics{
		grpc: g,
		clientSent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_network_client_grpc_sent_bytes_total", Help: "The total number of bytes sent to grpc clients (encoded messages).",
		}),
		clientReceived: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_network_client_grpc_received_bytes_total", Help: "The total number of bytes received from grpc clients (encoded messages).",
		}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_leader_changes_seen_total", Help: "The number of leader changes seen.",
		}),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_failed_total", Help: "The total number of failed proposals seen (client writes that completed with an error).",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_server_proposals_pending", Help: "The current number of pending proposals to commit (client requests waiting for their result).",
		}),
		walFsync: newFsyncs(),
		process: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "kvd_member_process_duration_seconds", Help: "Latency of one member Process call (persist, send, apply).",
			Buckets: prometheus.ExponentialBuckets(0.00001, 2, 20),
		}),
	}
	gauge := func(name, help string, f func(v *view) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 {
			if v := s.view.Load(); v != nil {
				return f(v)
			}
			return 0
		})
	}
	info := func(name, help, label, value string) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help, ConstLabels: prometheus.Labels{label: value}},
			func() float64 { return 1 })
	}
	reg.MustRegister(g, m.clientSent, m.clientReceived, m.leaderChanges, m.proposalsFailed, m.pending, m.process,
		m.walFsync.wal, m.walFsync.backendCommit, m.walFsync.snapshot,
		gauge("etcd_server_has_leader", "Whether or not a leader exists. 1 is existence, 0 is not.",
			func(v *view) float64 { return b2f(v.status.Leader != 0) }),
		gauge("etcd_server_is_leader", "Whether or not this member is a leader. 1 if is, 0 otherwise.",
			func(v *view) float64 { return b2f(v.status.IsLeader) }),
		gauge("etcd_server_is_learner", "Whether or not this member is a learner. 1 if is, 0 otherwise.",
			func(v *view) float64 { return b2f(v.status.IsLearner) }),
		gauge("etcd_server_proposals_committed_total", "The total number of consensus proposals committed (the raft commit index).",
			func(v *view) float64 { return float64(v.status.CommitIndex) }),
		gauge("etcd_server_proposals_applied_total", "The total number of consensus proposals applied (the raft applied index).",
			func(v *view) float64 { return float64(v.status.AppliedIndex) }),
		gauge("etcd_debugging_mvcc_keys_total", "Total number of keys.",
			func(v *view) float64 { return float64(v.status.Keys) }),
		// etcd v3.7.3 serves only etcd_debugging_mvcc_keys_total; this
		// name is served too, for dashboards that ask for it.
		gauge("etcd_mvcc_keys_total", "Total number of keys (the same as etcd_debugging_mvcc_keys_total).",
			func(v *view) float64 { return float64(v.status.Keys) }),
		gauge("etcd_debugging_mvcc_watcher_total", "Total number of watchers.",
			func(v *view) float64 { return float64(v.status.Watchers) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_debugging_mvcc_watch_stream_total", Help: "Total number of watch streams."},
			func() float64 { return float64(g.series(watchMethod, grpcBidiStream).open.Load()) }),
		knownPeers{s: s, desc: prometheus.NewDesc("etcd_network_known_peers", "The current number of known peers.", []string{"Local", "Remote"}, nil)},
		gauge("etcd_debugging_mvcc_current_revision", "The current revision of store.",
			func(v *view) float64 { return float64(v.status.Revision) }),
		gauge("etcd_debugging_mvcc_compact_revision", "The revision of the last compaction in store.",
			func(v *view) float64 { return float64(v.status.CompactRev) }),
		gauge("kvd_raft_term", "The member's raft term.", func(v *view) float64 { return float64(v.status.Term) }),
		gauge("kvd_lease_active", "Granted leases.", func(v *view) float64 { return float64(v.status.Leases) }),
		// As Status's DbSizeInUse.
		gauge("etcd_mvcc_db_total_size_in_use_in_bytes",
			"Total size of the underlying database logically in use in bytes: the newest state snapshot and the log applied since, what the data directory would shrink to if defragmented.",
			func(v *view) float64 {
				return float64(min(s.dbSize.Load(), v.status.SnapshotSizeBytes+v.status.LogBytesSinceSnapshot))
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_mvcc_db_total_size_in_bytes",
			Help: "Total size of the underlying database physically allocated in bytes: the data directory (WAL and snapshots), which the quota judges."},
			func() float64 { return float64(s.dbSize.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "etcd_server_quota_backend_bytes", Help: "Current backend storage quota size in bytes."},
			func() float64 { return float64(s.cfg.QuotaBackendBytes) }),
		info("etcd_server_id", "Server or member ID in hexadecimal format. 1 for 'server_id' label with current ID.", "server_id", formatID(s.cfg.Node.ID)),
		info("etcd_server_version", "Which version is running. 1 for 'server_version' label with current version.", "server_version", Version),
		info("etcd_server_go_version", "Which Go version server is running with. 1 for 'server_go_version' label with current version.", "server_go_version", runtime.Version()),
		info("etcd_cluster_version", "Which version is running. 1 for 'cluster_version' label with current cluster version", "cluster_version", majorMinor(Version)),
	)
	// etcd serves the Go runtime's and the process's series; kvd's daemon
	// may have registered them already.
	for _, c := range []prometheus.Collector{collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{})} {
		if err := reg.Register(c); err != nil {
			if _, dup := err.(prometheus.AlreadyRegisteredError); !dup {
				panic(err)
			}
		}
	}
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// knownPeers is etcd_network_known_peers: 1 for every member of the
// cluster as this member knows it, itself included, as etcd counts.
type knownPeers struct {
	s    *Server
	desc *prometheus.Desc
}

func (k knownPeers) Describe(ch chan<- *prometheus.Desc) { ch <- k.desc }

func (k knownPeers) Collect(ch chan<- prometheus.Metric) {
	v := k.s.view.Load()
	if v == nil {
		return
	}
	self := formatID(k.s.cfg.Node.ID)
	for _, m := range v.members {
		ch <- prometheus.MustNewConstMetric(k.desc, prometheus.GaugeValue, 1, self, formatID(m.ID))
	}
}

// majorMinor is "3.7" of "3.7.3", as etcd's cluster version reads.
func majorMinor(v string) string {
	if i := strings.IndexByte(v, '.'); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '.'); j >= 0 {
			return v[:i+1+j]
		}
	}
	return v
}

// fsyncs are the member's fsync histograms. It is the prometheus.Observer
// timedFS is made with (it observes WAL fsyncs); fsyncFor hands a state
// snapshot file the snapshot ones.
type fsyncs struct {
	wal prometheus.Histogram
	// backendCommit and snapshot both observe the fsync of a state
	// snapshot file (this member's own or the leader's): kvd has no bbolt
	// backend, and the snapshot is where its applied state is committed
	// to disk apart from the log.
	backendCommit, snapshot prometheus.Histogram
	snapshotFile            prometheus.Observer
}

func newFsyncs() *fsyncs {
	f := &fsyncs{
		wal: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_wal_fsync_duration_seconds", Help: "The latency distributions of fsync called by WAL.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		backendCommit: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "etcd_disk_backend_commit_duration_seconds",
			Help:    "The latency distributions of commit called by backend. kvd has no bbolt backend: the fsync that commits a state snapshot (the applied state) to disk.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
		snapshot: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_snap_fsync_duration_seconds", Help: "The latency distributions of fsync called by snap (a state snapshot file).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	f.snapshotFile = snapshotFsync{f}
	return f
}

func (f *fsyncs) Observe(seconds float64) { f.wal.Observe(seconds) }

type snapshotFsync struct{ f *fsyncs }

func (s snapshotFsync) Observe(seconds float64) {
	s.f.backendCommit.Observe(seconds)
	s.f.snapshot.Observe(seconds)
}

// snapshotFileSuffix ends the name a state snapshot is written under
// until it is durable (core/wal: "<term>-<index>.snap.tmp").
const snapshotFileSuffix = ".snap.tmp"

// fsyncFor is the observer for the fsyncs of the file named name: a state
// snapshot's go to the snapshot histograms, everything else to o.
func fsyncFor(o prometheus.Observer, name string) prometheus.Observer {
	if f, ok := o.(*fsyncs); ok && strings.HasSuffix(name, snapshotFileSuffix) {
		return f.snapshotFile
	}
	return o
}

// Describe and Collect make grpcMetrics one collector; the first scrape
// gives every registered method its series at zero, as etcd does.
func (g *grpcMetrics) Describe(ch chan<- *prometheus.Desc) {
	g.started.Describe(ch)
	g.handled.Describe(ch)
	g.msgReceived.Describe(ch)
	g.msgSent.Describe(ch)
	g.handling.Describe(ch)
}

func (g *grpcMetrics) Collect(ch chan<- prometheus.Metric) {
	g.registerAll()
	g.started.Collect(ch)
	g.handled.Collect(ch)
	g.msgReceived.Collect(ch)
	g.msgSent.Collect(ch)
	g.handling.Collect(ch)
}

// registerAll gives every method of the member's gRPC server its series.
func (g *grpcMetrics) registerAll() {
	if g.registered.Load() || g.s.grpc == nil {
		return
	}
	for svc, info := range g.s.grpc.GetServiceInfo() {
		for _, mi := range info.Methods {
			typ := grpcUnary
			if mi.IsClientStream || mi.IsServerStream {
				typ = streamType(mi.IsClientStream, mi.IsServerStream)
			}
			g.add("/"+svc+"/"+mi.Name, typ)
		}
	}
	g.registered.Store(true)
}

// series returns a method's series; typ is its grpc_type.
func (g *grpcMetrics) series(fullMethod, typ string) *methodSeries {
	if ms := (*g.methods.Load())[fullMethod]; ms != nil {
		return ms
	}
	g.registerAll()
	return g.add(fullMethod, typ)
}

// add makes a method's series unless it has them.
func (g *grpcMetrics) add(fullMethod, typ string) *methodSeries {
	g.mu.Lock()
	defer g.mu.Unlock()
	old := *g.methods.Load()
	if ms := old[fullMethod]; ms != nil {
		return ms
	}
	svc, method := splitMethod(fullMethod)
	ms := &methodSeries{
		started:     g.started.WithLabelValues(typ, svc, method),
		msgReceived: g.msgReceived.WithLabelValues(typ, svc, method),
		msgSent:     g.msgSent.WithLabelValues(typ, svc, method),
		handling:    g.handling.WithLabelValues(typ, svc, method),
		labels:      []string{typ, svc, method},
	}
	for c := range ms.handled {
		ms.handled[c] = g.handled.WithLabelValues(typ, svc, method, codes.Code(c).String())
	}
	methods := make(map[string]*methodSeries, len(old)+1)
	for k, v := range old {
		methods[k] = v
	}
	methods[fullMethod] = ms
	g.methods.Store(&methods)
	return ms
}

// splitMethod splits "/etcdserverpb.KV/Range" into service and method,
// as go-grpc-middleware does.
func splitMethod(fullMethod string) (service, method string) {
	fullMethod = strings.TrimPrefix(fullMethod, "/")
	if i := strings.IndexByte(fullMethod, '/'); i >= 0 {
		return fullMethod[:i], fullMethod[i+1:]
	}
	return "unknown", "unknown"
}

// streamType is a stream's grpc_type, as go-grpc-middleware names it.
func streamType(clientStream, serverStream bool) string {
	switch {
	case clientStream && !serverStream:
		return grpcClientStream
	case !clientStream && serverStream:
		return grpcServerStream
	}
	return grpcBidiStream
}

// done counts a finished call under its status code.
func (ms *methodSeries) done(g *grpcMetrics, start time.Time, err error) {
	ms.handling.Observe(time.Since(start).Seconds())
	if c := codeOf(err); int(c) < grpcCodes {
		ms.handled[c].Inc()
	} else { // a code gRPC does not define
		g.handled.WithLabelValues(append(ms.labels[:3:3], c.String())...).Inc()
	}
}

// codeOf is the status code a call ended with, as go-grpc-middleware and
// gRPC's server read it: a context's error is Canceled or DeadlineExceeded,
// not Unknown.
func codeOf(err error) codes.Code {
	if st, ok := status.FromError(err); ok {
		return st.Code()
	}
	return status.FromContextError(err).Code()
}

// protoSize is the encoded size of a message.
func protoSize(m any) int {
	if pm, ok := m.(proto.Message); ok {
		return proto.Size(pm)
	}
	return 0
}

// unaryInterceptor counts a unary call as go-grpc-middleware does, but
// for grpc_server_msg_sent_total, which counts only the responses there
// were (go-grpc-middleware counts one for a failed call too).
func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	ms := m.grpc.series(info.FullMethod, grpcUnary)
	ms.started.Inc()
	ms.msgReceived.Inc()
	m.clientReceived.Add(float64(protoSize(req)))
	start := time.Now()
	resp, err := h(ctx, req)
	if err == nil {
		ms.msgSent.Inc()
		m.clientSent.Add(float64(protoSize(resp)))
	}
	ms.done(m.grpc, start, err)
	return resp, err
}

func (m *metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	typ := streamType(info.IsClientStream, info.IsServerStream)
	ms := m.grpc.series(info.FullMethod, typ)
	ms.started.Inc()
	ms.open.Add(1)
	start := time.Now()
	err := h(srv, &meteredStream{ServerStream: ss, m: m, ms: ms})
	ms.open.Add(-1)
	ms.done(m.grpc, start, err)
	return err
}

// meteredStream counts a stream's messages and their bytes: those sent
// and received (go-grpc-middleware counts failed sends and receives too,
// the end of the stream included).
type meteredStream struct {
	grpc.ServerStream
	m  *metrics
	ms *methodSeries
}

// cachedSize reads the size gRPC's codec computed when it encoded the
// message, rather than measuring it again.
var cachedSize = proto.MarshalOptions{UseCachedSize: true}

func (s *meteredStream) SendMsg(v any) error {
	err := s.ServerStream.SendMsg(v)
	if err == nil {
		s.ms.msgSent.Inc()
		if pm, ok := v.(proto.Message); ok {
			s.m.clientSent.Add(float64(cachedSize.Size(pm)))
		}
	}
	return err
}

func (s *meteredStream) RecvMsg(v any) error {
	err := s.ServerStream.RecvMsg(v)
	if err == nil {
		s.ms.msgReceived.Inc()
		s.m.clientReceived.Add(float64(protoSize(v)))
	}
	return err
}

// PeerMetrics are etcd's etcd_network_peer_* series (and active and
// disconnected peers) of one member's links to its peers. The peer
// transport feeds them: core/transport.Options.Metrics takes a
// *PeerMetrics, and the transport imports no metrics library. Peers are
// labelled by member id in hex, as etcd labels them: To on what is sent,
// From on what is received.
type PeerMetrics struct {
	self                                      string
	sent, received, sentFailures, recvFailure *prometheus.CounterVec
	disconnected                              *prometheus.CounterVec
	active                                    *prometheus.GaugeVec
	rtt                                       *prometheus.HistogramVec

	// peers maps a member id to its series; replaced whole (copy on
	// write) when a peer is added, so the transport reads it without a
	// lock.
	peers atomic.Pointer[map[uint64]*peerSeries]
	mu    sync.Mutex // serializes additions to peers
}

type peerSeries struct {
	sent, received, sentFailures, recvFailures, disconnected prometheus.Counter
	active                                                   prometheus.Gauge
	rtt                                                      prometheus.Observer
}

// NewPeerMetrics registers the peer series of member self in reg.
func NewPeerMetrics(reg prometheus.Registerer, self uint64) *PeerMetrics {
	p := &PeerMetrics{
		self: formatID(self),
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcd_network_peer_sent_bytes_total", Help: "The total number of bytes sent to peers.",
		}, []string{"To"}),
		received: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcd_network_peer_received_bytes_total", Help: "The total number of bytes received from peers.",
		}, []string{"From"}),
		sentFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcd_network_peer_sent_failures_total", Help: "The total number of send failures from peers (messages dropped).",
		}, []string{"To"}),
		recvFailure: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcd_network_peer_received_failures_total", Help: "The total number of receive failures from peers (messages dropped).",
		}, []string{"From"}),
		rtt: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "etcd_network_peer_round_trip_time_seconds",
			Help: "Round-Trip-Time histogram between peers (one observation per probe of the peer transport).",
			// etcd's buckets: 0.1 ms to 3.2768 s.
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}, []string{"To"}),
		active: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "etcd_network_active_peers", Help: "The current number of active peer connections.",
		}, []string{"Local", "Remote"}),
		disconnected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "etcd_network_disconnected_peers_total", Help: "The total number of disconnected peers.",
		}, []string{"Local", "Remote"}),
	}
	p.peers.Store(&map[uint64]*peerSeries{})
	reg.MustRegister(p.sent, p.received, p.sentFailures, p.recvFailure, p.rtt, p.active, p.disconnected)
	return p
}

// peer returns a peer's series, made at its first mention: a peer has all
// of them, at zero, from the first byte exchanged with it.
func (p *PeerMetrics) peer(id uint64) *peerSeries {
	if ps := (*p.peers.Load())[id]; ps != nil {
		return ps
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	old := *p.peers.Load()
	if ps := old[id]; ps != nil {
		return ps
	}
	hex := formatID(id)
	ps := &peerSeries{
		sent:         p.sent.WithLabelValues(hex),
		received:     p.received.WithLabelValues(hex),
		sentFailures: p.sentFailures.WithLabelValues(hex),
		recvFailures: p.recvFailure.WithLabelValues(hex),
		rtt:          p.rtt.WithLabelValues(hex),
		active:       p.active.WithLabelValues(p.self, hex),
		disconnected: p.disconnected.WithLabelValues(p.self, hex),
	}
	peers := make(map[uint64]*peerSeries, len(old)+1)
	for k, v := range old {
		peers[k] = v
	}
	peers[id] = ps
	p.peers.Store(&peers)
	return ps
}

// PeerSent, PeerReceived, PeerSendFailed, PeerReceiveFailed, PeerActive
// and PeerRoundTrip are core/transport.Metrics.

func (p *PeerMetrics) PeerSent(to uint64, bytes int)       { p.peer(to).sent.Add(float64(bytes)) }
func (p *PeerMetrics) PeerReceived(from uint64, bytes int) { p.peer(from).received.Add(float64(bytes)) }
func (p *PeerMetrics) PeerSendFailed(to uint64, messages int) {
	p.peer(to).sentFailures.Add(float64(messages))
}
func (p *PeerMetrics) PeerReceiveFailed(from uint64) { p.peer(from).recvFailures.Inc() }
func (p *PeerMetrics) PeerActive(id uint64, active bool) {
	ps := p.peer(id)
	if active {
		ps.active.Set(1)
		return
	}
	ps.active.Set(0)
	ps.disconnected.Inc()
}
func (p *PeerMetrics) PeerRoundTrip(to uint64, rtt time.Duration) {
	p.peer(to).rtt.Observe(rtt.Seconds())
}
