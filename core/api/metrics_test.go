package api

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
)

// scrape reads url's Prometheus text with Prometheus' own parser.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("parse %s: %v", url, err)
	}
	return fams
}

// labelNames is a metric's label names, sorted, comma-separated.
func labelNames(m *dto.Metric) string {
	var names []string
	for _, l := range m.GetLabel() {
		names = append(names, l.GetName())
	}
	slices.Sort(names)
	return strings.Join(names, ",")
}

// value finds the metric of fam whose labels include want (name=value
// pairs); ok false if none.
func value(fams map[string]*dto.MetricFamily, name string, want ...string) (v float64, ok bool) {
	f := fams[name]
	if f == nil {
		return 0, false
	}
metrics:
	for _, m := range f.GetMetric() {
		for i := 0; i+1 < len(want); i += 2 {
			if !slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == want[i] && l.GetValue() == want[i+1] }) {
				continue metrics
			}
		}
		switch f.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true // a histogram's count
		case dto.MetricType_UNTYPED:
			return m.GetUntyped().GetValue(), true
		}
	}
	return 0, false
}

// etcdSeries are the series kvd serves under etcd v3.7.3's names, with
// etcd's type and label names (checked against a scrape of etcd v3.7.3:
// make etcd), kvd's own beside them.
var etcdSeries = []struct {
	name   string
	typ    dto.MetricType
	labels string
}{
	{"etcd_server_has_leader", dto.MetricType_GAUGE, ""},
	{"etcd_server_is_leader", dto.MetricType_GAUGE, ""},
	{"etcd_server_is_learner", dto.MetricType_GAUGE, ""},
	{"etcd_server_leader_changes_seen_total", dto.MetricType_COUNTER, ""},
	{"etcd_server_proposals_committed_total", dto.MetricType_GAUGE, ""},
	{"etcd_server_proposals_applied_total", dto.MetricType_GAUGE, ""},
	{"etcd_server_proposals_pending", dto.MetricType_GAUGE, ""},
	{"etcd_server_proposals_failed_total", dto.MetricType_COUNTER, ""},
	{"etcd_server_quota_backend_bytes", dto.MetricType_GAUGE, ""},
	{"etcd_server_id", dto.MetricType_GAUGE, "server_id"},
	{"etcd_server_version", dto.MetricType_GAUGE, "server_version"},
	{"etcd_server_go_version", dto.MetricType_GAUGE, "server_go_version"},
	{"etcd_cluster_version", dto.MetricType_GAUGE, "cluster_version"},
	{"etcd_disk_wal_fsync_duration_seconds", dto.MetricType_HISTOGRAM, ""},
	{"etcd_disk_backend_commit_duration_seconds", dto.MetricType_HISTOGRAM, ""},
	{"etcd_snap_fsync_duration_seconds", dto.MetricType_HISTOGRAM, ""},
	{"etcd_mvcc_db_total_size_in_bytes", dto.MetricType_GAUGE, ""},
	{"etcd_mvcc_db_total_size_in_use_in_bytes", dto.MetricType_GAUGE, ""},
	{"etcd_debugging_mvcc_keys_total", dto.MetricType_GAUGE, ""}, // what etcd v3.7.3 serves
	{"etcd_mvcc_keys_total", dto.MetricType_GAUGE, ""},           // what kvd's issue names
	{"etcd_debugging_mvcc_watcher_total", dto.MetricType_GAUGE, ""},
	{"etcd_debugging_mvcc_watch_stream_total", dto.MetricType_GAUGE, ""},
	{"etcd_network_known_peers", dto.MetricType_GAUGE, "Local,Remote"},
	{"etcd_debugging_mvcc_current_revision", dto.MetricType_GAUGE, ""},
	{"etcd_debugging_mvcc_compact_revision", dto.MetricType_GAUGE, ""},
	{"etcd_network_client_grpc_sent_bytes_total", dto.MetricType_COUNTER, ""},
	{"etcd_network_client_grpc_received_bytes_total", dto.MetricType_COUNTER, ""},
	{"etcd_network_peer_sent_bytes_total", dto.MetricType_COUNTER, "To"},
	{"etcd_network_peer_received_bytes_total", dto.MetricType_COUNTER, "From"},
	{"etcd_network_peer_sent_failures_total", dto.MetricType_COUNTER, "To"},
	{"etcd_network_peer_received_failures_total", dto.MetricType_COUNTER, "From"},
	{"etcd_network_peer_round_trip_time_seconds", dto.MetricType_HISTOGRAM, "To"},
	{"etcd_network_active_peers", dto.MetricType_GAUGE, "Local,Remote"},
	{"etcd_network_disconnected_peers_total", dto.MetricType_COUNTER, "Local,Remote"},
	{"grpc_server_started_total", dto.MetricType_COUNTER, "grpc_method,grpc_service,grpc_type"},
	{"grpc_server_handled_total", dto.MetricType_COUNTER, "grpc_code,grpc_method,grpc_service,grpc_type"},
	{"grpc_server_msg_received_total", dto.MetricType_COUNTER, "grpc_method,grpc_service,grpc_type"},
	{"grpc_server_msg_sent_total", dto.MetricType_COUNTER, "grpc_method,grpc_service,grpc_type"},
	{"grpc_server_handling_seconds", dto.MetricType_HISTOGRAM, "grpc_method,grpc_service,grpc_type"},
	{"process_resident_memory_bytes", dto.MetricType_GAUGE, ""},
	{"process_cpu_seconds_total", dto.MetricType_COUNTER, ""},
	{"process_open_fds", dto.MetricType_GAUGE, ""},
	{"go_goroutines", dto.MetricType_GAUGE, ""},
	{"go_info", dto.MetricType_GAUGE, "version"},
	{"kvd_raft_term", dto.MetricType_GAUGE, ""},
	{"kvd_lease_active", dto.MetricType_GAUGE, ""},
	{"kvd_member_process_duration_seconds", dto.MetricType_HISTOGRAM, ""},
}

// mixinMetrics are the series etcd's Grafana dashboard and alert rules
// (etcd's contrib/mixin) query, besides Prometheus' own "up".
var mixinMetrics = []string{
	"etcd_disk_backend_commit_duration_seconds", "etcd_disk_wal_fsync_duration_seconds",
	"etcd_mvcc_db_total_size_in_bytes", "etcd_mvcc_db_total_size_in_use_in_bytes",
	"etcd_network_client_grpc_received_bytes_total", "etcd_network_client_grpc_sent_bytes_total",
	"etcd_network_peer_received_bytes_total", "etcd_network_peer_round_trip_time_seconds",
	"etcd_network_peer_sent_bytes_total", "etcd_network_peer_sent_failures_total",
	"etcd_server_has_leader", "etcd_server_leader_changes_seen_total",
	"etcd_server_proposals_applied_total", "etcd_server_proposals_committed_total",
	"etcd_server_proposals_failed_total", "etcd_server_proposals_pending", "etcd_server_quota_backend_bytes",
	"grpc_server_handled_total", "grpc_server_handling_seconds", "grpc_server_started_total",
	"process_resident_memory_bytes",
}

// A three-member cluster, driven over gRPC (puts, gets, a failing get, a
// watch, a lease, a defragmentation), serves etcd's series on the client
// port and on a metrics listener: names, types and label names as etcd
// v3.7.3's, and the values moved by what was done.
func TestMetricsServeEtcdNamesTypesAndLabels(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3, metered: true})
	// The leader: it exchanges raft traffic with every peer (a follower
	// only with the leader).
	lead := c.waitLeader()
	var m0 *testMember
	var others []*testMember
	for _, m := range c.members {
		if m.srv.ID() == lead {
			m0 = m
		} else {
			others = append(others, m)
		}
	}
	cli := c.client(m0.clientURL)

	wctx, wcancel := context.WithCancel(ctx(t))
	defer wcancel()
	wch := cli.Watch(wctx, "k", clientv3.WithPrefix())
	const puts = 7
	for i := range puts {
		if _, err := cli.Put(ctx(t), fmt.Sprintf("k%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	for events := 0; events < puts; {
		wr, ok := <-wch
		if !ok {
			t.Fatal("watch ended")
		}
		events += len(wr.Events)
	}
	if _, err := cli.Get(ctx(t), "k", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Get(ctx(t), "k", clientv3.WithRev(1<<40)); err == nil {
		t.Fatal("get at a future revision succeeded")
	}
	if _, err := cli.Grant(ctx(t), 60); err != nil {
		t.Fatal(err)
	}
	// A defragmentation saves a state snapshot: the backend commit.
	if _, err := cli.Defragment(ctx(t), m0.clientURL); err != nil {
		t.Fatal(err)
	}

	// The metrics listener (--listen-metrics-urls) serves the same.
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sctx, scancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() { m0.srv.ServeMetrics(sctx, mln); close(served) }()
	defer func() { scancel(); <-served }()

	var peers []string
	for _, m := range others {
		peers = append(peers, formatID(m.srv.ID()))
	}
	var fams map[string]*dto.MetricFamily
	deadline := time.Now().Add(10 * time.Second)
	for { // the probes and the peers' bytes come in the background
		fams = scrape(t, m0.clientURL+"/metrics")
		ready := true
		for _, p := range peers {
			rtts, _ := value(fams, "etcd_network_peer_round_trip_time_seconds", "To", p)
			recv, _ := value(fams, "etcd_network_peer_received_bytes_total", "From", p)
			ready = ready && rtts >= 2 && recv > 0
		}
		if ready || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}

	for _, want := range etcdSeries {
		f := fams[want.name]
		if f == nil {
			t.Errorf("%s: not served", want.name)
			continue
		}
		if f.GetType() != want.typ {
			t.Errorf("%s: type %v, want %v", want.name, f.GetType(), want.typ)
		}
		if len(f.GetMetric()) == 0 {
			t.Errorf("%s: no series", want.name)
		}
		for _, m := range f.GetMetric() {
			if got := labelNames(m); got != want.labels {
				t.Errorf("%s: labels {%s}, want {%s}", want.name, got, want.labels)
				break
			}
		}
	}
	for _, name := range mixinMetrics {
		if fams[name] == nil {
			t.Errorf("%s, which etcd's dashboard or alerts query, is not served", name)
		}
	}
	if other := scrape(t, "http://"+mln.Addr().String()+"/metrics"); !slices.Equal(slices.Sorted(mapKeysOf(other)), slices.Sorted(mapKeysOf(fams))) {
		t.Errorf("the metrics listener serves %v, the client port %v", slices.Sorted(mapKeysOf(other)), slices.Sorted(mapKeysOf(fams)))
	}

	kv := []string{"grpc_service", "etcdserverpb.KV", "grpc_type", "unary"}
	atLeast := func(min float64, name string, labels ...string) {
		t.Helper()
		if v, ok := value(fams, name, labels...); !ok || v < min {
			t.Errorf("%s%v = %v (served %v), want at least %v", name, labels, v, ok, min)
		}
	}
	exactly := func(want float64, name string, labels ...string) {
		t.Helper()
		if v, ok := value(fams, name, labels...); !ok || v != want {
			t.Errorf("%s%v = %v (served %v), want %v", name, labels, v, ok, want)
		}
	}
	atLeast(puts, "grpc_server_handled_total", append(kv, "grpc_method", "Put", "grpc_code", "OK")...)
	atLeast(puts, "grpc_server_started_total", append(kv, "grpc_method", "Put")...)
	atLeast(puts, "grpc_server_msg_received_total", append(kv, "grpc_method", "Put")...)
	atLeast(puts, "grpc_server_handling_seconds", append(kv, "grpc_method", "Put")...)
	exactly(1, "grpc_server_handled_total", append(kv, "grpc_method", "Range", "grpc_code", "OutOfRange")...)
	exactly(0, "grpc_server_handled_total", append(kv, "grpc_method", "Compact", "grpc_code", "Unavailable")...) // every method and code, from the start
	atLeast(1, "grpc_server_handled_total", "grpc_service", "etcdserverpb.Maintenance", "grpc_type", "unary", "grpc_method", "Defragment", "grpc_code", "OK")
	atLeast(1, "grpc_server_started_total", "grpc_service", "etcdserverpb.Watch", "grpc_type", "bidi_stream", "grpc_method", "Watch")
	atLeast(2, "grpc_server_msg_sent_total", "grpc_service", "etcdserverpb.Watch", "grpc_type", "bidi_stream", "grpc_method", "Watch") // created, then events
	atLeast(1, "grpc_server_started_total", "grpc_service", "etcdserverpb.Lease", "grpc_type", "unary", "grpc_method", "LeaseGrant")
	exactly(0, "grpc_server_started_total", "grpc_service", "etcdserverpb.Maintenance", "grpc_type", "server_stream", "grpc_method", "Snapshot")
	atLeast(1, "etcd_network_client_grpc_sent_bytes_total")
	atLeast(puts*2, "etcd_network_client_grpc_received_bytes_total") // each put carries a key and a value
	exactly(1, "etcd_server_has_leader")
	atLeast(1, "etcd_server_leader_changes_seen_total")
	atLeast(puts, "etcd_server_proposals_committed_total")
	atLeast(puts, "etcd_server_proposals_applied_total")
	exactly(puts, "etcd_debugging_mvcc_keys_total")
	exactly(puts, "etcd_mvcc_keys_total")
	atLeast(puts+1, "etcd_debugging_mvcc_current_revision")
	atLeast(1, "etcd_debugging_mvcc_watcher_total")
	exactly(1, "etcd_debugging_mvcc_watch_stream_total")
	exactly(1, "etcd_network_known_peers", "Local", formatID(m0.srv.ID()), "Remote", formatID(m0.srv.ID()))
	exactly(1, "kvd_lease_active")
	atLeast(1, "kvd_raft_term")
	atLeast(1, "etcd_disk_wal_fsync_duration_seconds")
	atLeast(1, "etcd_disk_backend_commit_duration_seconds")
	atLeast(1, "etcd_snap_fsync_duration_seconds")
	atLeast(1, "etcd_mvcc_db_total_size_in_bytes")
	atLeast(1, "etcd_mvcc_db_total_size_in_use_in_bytes")
	exactly(QuotaBackendBytesDefault, "etcd_server_quota_backend_bytes")
	exactly(1, "etcd_server_id", "server_id", formatID(m0.srv.ID()))
	exactly(1, "etcd_server_version", "server_version", Version)
	exactly(1, "etcd_cluster_version", "cluster_version", "3.7")
	atLeast(1, "process_resident_memory_bytes")
	for _, p := range peers {
		atLeast(1, "etcd_network_peer_sent_bytes_total", "To", p)
		atLeast(1, "etcd_network_peer_received_bytes_total", "From", p)
		atLeast(2, "etcd_network_peer_round_trip_time_seconds", "To", p)
		exactly(0, "etcd_network_peer_sent_failures_total", "To", p)
		exactly(1, "etcd_network_active_peers", "Local", formatID(m0.srv.ID()), "Remote", p)
		exactly(1, "etcd_network_known_peers", "Local", formatID(m0.srv.ID()), "Remote", p)
	}
	// One leader among the members.
	leaders := 0.0
	for _, m := range c.members {
		v, _ := value(scrape(t, m.clientURL+"/metrics"), "etcd_server_is_leader")
		leaders += v
	}
	if leaders != 1 {
		t.Errorf("etcd_server_is_leader sums to %v over the members, want 1", leaders)
	}
}

func mapKeysOf[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// A call that ends with a context's error is counted as gRPC's server
// reports it (Canceled), not as Unknown: etcd's alert on failed calls
// counts Unknown.
func TestMetricsCodeOfContextErrors(t *testing.T) {
	for err, want := range map[error]string{
		nil: "OK", context.Canceled: "Canceled", context.DeadlineExceeded: "DeadlineExceeded",
		fmt.Errorf("wrapped: %w", context.Canceled): "Canceled", fmt.Errorf("plain"): "Unknown",
	} {
		if got := codeOf(err).String(); got != want {
			t.Errorf("codeOf(%v) = %s, want %s", err, got, want)
		}
	}
}

// BenchmarkUnaryInterceptor is the metrics' cost on one unary call (a
// put), the member's hot path on the gRPC side.
func BenchmarkUnaryInterceptor(b *testing.B) {
	m := newMetrics(&Server{}, prometheus.NewRegistry())
	info := &grpc.UnaryServerInfo{FullMethod: "/etcdserverpb.KV/Put"}
	req := &pb.PutRequest{Key: []byte("k1-1"), Value: make([]byte, 128)}
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{ClusterId: 1 << 60, MemberId: 1 << 61, Revision: 12345, RaftTerm: 3}}
	h := func(context.Context, any) (any, error) { return resp, nil }
	cx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(p *testing.PB) {
		for p.Next() {
			m.unaryInterceptor(cx, req, info, h)
		}
	})
}
