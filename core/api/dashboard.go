package api

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/dashboard"
)

// handleDashboard registers the live dashboard's routes on mux. Its poller
// starts with the first page opened and stops when the member stops.
func (s *Server) handleDashboard(mux *http.ServeMux) {
	p, err := dashboard.NewPoller(dashboardSource{s}, dashboard.Options{Client: s.memberHTTPClient()})
	if err != nil {
		panic(err) // default options
	}
	h := dashboard.Handler(dashboard.Config{
		Poller:    p,
		Source:    dashboardSource{s},
		Authorize: s.authorizeDashboard,
		Context:   stopContext{done: s.donec},
	})
	mux.Handle("/dashboard", h)
	mux.Handle("/dashboard/", h)
}

// memberHTTPClient fetches other members' pages over their client URLs,
// with Config.ClientTLS asked afresh for each https connection.
func (s *Server) memberHTTPClient() *http.Client {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: time.Second}).DialContext,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     30 * time.Second,
		DialTLSContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			var cfg *tls.Config
			if s.cfg.ClientTLS != nil {
				c, err := s.cfg.ClientTLS()
				if err != nil {
					return nil, err
				}
				cfg = c
			}
			if cfg == nil {
				cfg = &tls.Config{}
			}
			cfg = cfg.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName, _, _ = net.SplitHostPort(addr)
			}
			cfg.NextProtos = []string{"http/1.1"}
			return (&tls.Dialer{Config: cfg}).DialContext(ctx, network, addr)
		},
	}
	return &http.Client{Transport: tr}
}

// authorizeDashboard asks for a user of the cluster once auth is enabled:
// HTTP basic credentials, checked as Authenticate checks them.
func (s *Server) authorizeDashboard(r *http.Request) error {
	user, password, given := r.BasicAuth()
	var enabled bool
	if err := s.control(r.Context(), func() { enabled = s.n.AuthEnabled() }); err != nil {
		return err
	}
	if !enabled {
		return nil
	}
	if !given {
		return dashboard.ErrUnauthorized
	}
	switch err := s.checkPassword(r.Context(), user, password); {
	case errors.Is(err, rpctypes.ErrGRPCAuthFailed):
		return dashboard.ErrUnauthorized
	case errors.Is(err, rpctypes.ErrGRPCAuthNotEnabled):
		return nil // turned off meanwhile
	default:
		return err
	}
}

// dashboardSource tells the dashboard what the member loop published
// (the view) and what the metrics counted.
type dashboardSource struct{ s *Server }

func (d dashboardSource) SelfID() uint64 { return d.s.cfg.Node.ID }

func (d dashboardSource) Peers() []dashboard.Peer {
	v := d.s.view.Load()
	if v == nil {
		return nil
	}
	peers := make([]dashboard.Peer, len(v.members))
	for i, m := range v.members {
		peers[i] = dashboard.Peer{ID: m.ID, Name: m.Name, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner}
	}
	return peers
}

func (d dashboardSource) Self() dashboard.Member {
	s := d.s
	m := dashboard.Member{
		ID: strconv.FormatUint(s.cfg.Node.ID, 16), Name: s.cfg.Self.Name, Version: Version,
		DBSizeBytes: s.dbSize.Load(), TimeUnixMs: time.Now().UnixMilli(), LeaderID: "0",
	}
	if v := s.view.Load(); v != nil {
		st := v.status
		switch {
		case st.IsLeader:
			m.Role = "leader"
		case st.IsLearner:
			m.Role = "learner"
		default:
			m.Role = "follower"
		}
		m.LeaderID = strconv.FormatUint(st.Leader, 16)
		m.Term, m.AppliedIndex, m.CommitIndex, m.Revision = st.Term, st.AppliedIndex, st.CommitIndex, st.Revision
		m.Keys, m.Watchers, m.Leases = st.Keys, st.Watchers, st.Leases
		for _, a := range v.alarms {
			m.Alarms = append(m.Alarms, a.Alarm.String())
		}
	}
	d.countCalls(&m)
	return m
}

// dashboardReads and dashboardWrites are the KV methods counted as client
// reads and writes.
var (
	dashboardReads  = map[string]bool{"Range": true}
	dashboardWrites = map[string]bool{"Put": true, "DeleteRange": true, "Txn": true, "Compact": true}
)

// countCalls fills the call counters and the latency histogram from the
// gRPC metrics, so the page and /metrics count the same calls.
func (d dashboardSource) countCalls(m *dashboard.Member) {
	families, err := d.s.cfg.Registry.Gather()
	if err != nil {
		return // a collector failed: the page shows no rates rather than wrong ones
	}
	for _, f := range families {
		switch f.GetName() {
		case "etcd_server_leader_changes_seen_total":
			for _, x := range f.GetMetric() {
				m.LeaderChanges += uint64(x.GetCounter().GetValue())
			}
		case "grpc_server_handling_seconds":
			for _, x := range f.GetMetric() {
				method, ok := kvMethod(x.GetLabel())
				if !ok || !dashboardReads[method] && !dashboardWrites[method] {
					continue
				}
				h := x.GetHistogram()
				if dashboardReads[method] {
					m.Reads += h.GetSampleCount()
				} else {
					m.Writes += h.GetSampleCount()
				}
				m.Latency = addHistogram(m.Latency, h)
			}
		}
	}
}

// kvMethod is the KV service's method a series counts ("Range"), from
// either label shape: grpc_method="/etcdserverpb.KV/Range", or
// grpc_service="etcdserverpb.KV" with grpc_method="Range".
func kvMethod(labels []*dto.LabelPair) (string, bool) {
	var service, method string
	for _, l := range labels {
		switch l.GetName() {
		case "grpc_service":
			service = l.GetValue()
		case "grpc_method":
			method = l.GetValue()
		}
	}
	if full, ok := strings.CutPrefix(method, "/"); ok {
		service, method, _ = strings.Cut(full, "/")
	}
	return method, service == "etcdserverpb.KV"
}

// addHistogram adds a Prometheus histogram's cumulative buckets (and its
// +Inf total) into sum.
func addHistogram(sum []dashboard.Bucket, h *dto.Histogram) []dashboard.Bucket {
	bs := h.GetBucket()
	if len(sum) == 0 {
		sum = make([]dashboard.Bucket, len(bs)+1)
		for i, b := range bs {
			sum[i].UpperSeconds = b.GetUpperBound()
		}
		sum[len(bs)].Inf = true
	}
	if len(sum) != len(bs)+1 {
		return sum // another histogram's bounds: not comparable
	}
	for i, b := range bs {
		sum[i].Count += b.GetCumulativeCount()
	}
	sum[len(bs)].Count += h.GetSampleCount()
	return sum
}

// stopContext is done when the member stops (its Run returned), so the
// dashboard's poller and event streams end with it.
type stopContext struct{ done <-chan struct{} }

func (stopContext) Deadline() (time.Time, bool) { return time.Time{}, false }
func (c stopContext) Done() <-chan struct{}     { return c.done }
func (stopContext) Value(any) any               { return nil }
func (c stopContext) Err() error {
	select {
	case <-c.done:
		return context.Canceled
	default:
		return nil
	}
}
