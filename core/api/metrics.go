package api

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// metrics are the member's Prometheus series. Names follow etcd's where
// etcd has the same series, so existing dashboards read them.
type metrics struct {
	handled         *prometheus.CounterVec
	handling        *prometheus.HistogramVec
	leaderChanges   prometheus.Counter
	proposalsFailed prometheus.Counter
	pending         prometheus.Gauge
	walFsync        prometheus.Histogram
	process         prometheus.Histogram
	// methods caches each method's series for the common outcome (code OK):
	// resolving label values hashes them under a lock, on every call.
	methods sync.Map // full method name -> *methodSeries
}

// methodSeries are one method's series for a call that succeeded.
type methodSeries struct {
	handledOK prometheus.Counter
	handling  prometheus.Observer
}

func newMetrics(s *Server, reg *prometheus.Registry) *metrics {
	m := &metrics{
		handled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "grpc_server_handled_total", Help: "gRPC calls completed, by method and status code.",
		}, []string{"grpc_method", "grpc_code"}),
		handling: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "grpc_server_handling_seconds", Help: "Latency of unary gRPC calls (streams: their lifetime), by method.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"grpc_method"}),
		leaderChanges: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_leader_changes_seen_total", Help: "Leader changes this member has seen.",
		}),
		proposalsFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "etcd_server_proposals_failed_total", Help: "Client writes that completed with an error.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "etcd_server_proposals_pending", Help: "Client requests waiting for their result.",
		}),
		walFsync: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "etcd_disk_wal_fsync_duration_seconds", Help: "Latency of the WAL's fsync calls.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
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
	reg.MustRegister(m.handled, m.handling, m.leaderChanges, m.proposalsFailed, m.pending, m.walFsync, m.process,
		gauge("etcd_server_has_leader", "1 if a leader is known.", func(v *view) float64 { return b2f(v.status.Leader != 0) }),
		gauge("etcd_server_is_leader", "1 if this member is the leader.", func(v *view) float64 { return b2f(v.status.IsLeader) }),
		gauge("kvd_raft_term", "The member's raft term.", func(v *view) float64 { return float64(v.status.Term) }),
		gauge("etcd_server_proposals_committed_total", "The raft commit index.", func(v *view) float64 { return float64(v.status.CommitIndex) }),
		gauge("etcd_server_proposals_applied_total", "The raft applied index.", func(v *view) float64 { return float64(v.status.AppliedIndex) }),
		gauge("etcd_debugging_mvcc_keys_total", "Live keys.", func(v *view) float64 { return float64(v.status.Keys) }),
		gauge("etcd_debugging_mvcc_watcher_total", "Live watchers.", func(v *view) float64 { return float64(v.status.Watchers) }),
		gauge("kvd_lease_active", "Granted leases.", func(v *view) float64 { return float64(v.status.Leases) }),
		gauge("etcd_mvcc_db_total_size_in_bytes", "Bytes of the data directory (the quota's measure).", func(*view) float64 { return float64(s.dbSize.Load()) }),
		gauge("etcd_server_quota_backend_bytes", "The backend quota.", func(*view) float64 { return float64(s.cfg.QuotaBackendBytes) }),
	)
	return m
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (m *metrics) observe(method string, start time.Time, err error) {
	ms := m.seriesOf(method)
	if err == nil {
		ms.handledOK.Inc()
	} else {
		m.handled.WithLabelValues(method, status.Code(err).String()).Inc()
	}
	ms.handling.Observe(time.Since(start).Seconds())
}

func (m *metrics) seriesOf(method string) *methodSeries {
	if ms, ok := m.methods.Load(method); ok {
		return ms.(*methodSeries)
	}
	ms, _ := m.methods.LoadOrStore(method, &methodSeries{
		handledOK: m.handled.WithLabelValues(method, codes.OK.String()),
		handling:  m.handling.WithLabelValues(method),
	})
	return ms.(*methodSeries)
}

func (m *metrics) unaryInterceptor(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	start := time.Now()
	resp, err := h(ctx, req)
	m.observe(info.FullMethod, start, err)
	return resp, err
}

func (m *metrics) streamInterceptor(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
	start := time.Now()
	err := h(srv, ss)
	m.observe(info.FullMethod, start, err)
	return err
}
