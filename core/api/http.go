package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Handler serves the client port: HTTP/2 requests with a gRPC content type
// go to the gRPC server; everything else to etcd's JSON gateway (/v3/...),
// the live dashboard (/dashboard), /health and /metrics.
func (s *Server) Handler() http.Handler {
	mux := s.metricsMux()
	mux.Handle("/v3/", s.gatewayHandler())
	s.handleDashboard(mux)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor == 2 && strings.HasPrefix(r.Header.Get("Content-Type"), "application/grpc") {
			s.grpc.ServeHTTP(w, r)
			return
		}
		mux.ServeHTTP(w, r)
	})
}

// MetricsHandler serves /health and /metrics (for --listen-metrics-urls).
func (s *Server) MetricsHandler() http.Handler { return s.metricsMux() }

func (s *Server) metricsMux() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/health", s.serveHealth)
	if s.cfg.EnablePprof {
		mux.HandleFunc("/debug/pprof/", pprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// healthBody is etcd's /health body.
type healthBody struct {
	Health string `json:"health"`
	Reason string `json:"reason"`
}

// serveHealth answers as etcd does: healthy when a leader is known and no
// alarm is raised; 503 with the reason otherwise.
func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	h := healthBody{Health: "true"}
	switch {
	case s.isDone():
		h = healthBody{Health: "false", Reason: "SERVER STOPPED"}
	case s.view.Load().status.Leader == 0:
		h = healthBody{Health: "false", Reason: "RAFT NO LEADER"}
	default:
		// Alarms are the cluster's, as in etcd; ?exclude=TYPE skips one.
		for _, a := range s.view.Load().alarms {
			if a.Alarm.String() != r.URL.Query().Get("exclude") {
				h = healthBody{Health: "false", Reason: "ALARM " + a.Alarm.String()}
				break
			}
		}
	}
	w.Header().Set("Content-Type", "application/json")
	if h.Health != "true" {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
	json.NewEncoder(w).Encode(h)
}

// NewHTTPServer returns an http.Server for h speaking HTTP/1.1 and
// unencrypted HTTP/2 (prior knowledge, as gRPC clients dial), so gRPC and
// HTTP share one port.
func NewHTTPServer(h http.Handler) *http.Server {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetUnencryptedHTTP2(true)
	return &http.Server{Handler: h, Protocols: &p, ReadHeaderTimeout: 10 * time.Second}
}

// ServeClient serves the client API on ln until ctx is done, then shuts the
// gRPC and HTTP servers down, waiting at most drainTimeout for calls in
// flight. gRPC clients are served by gRPC's own transport (see mux.go),
// everything else by the HTTP server.
func (s *Server) ServeClient(ctx context.Context, ln net.Listener, drainTimeout time.Duration) error {
	grpcLn, httpLn := newSplitListener(ln.Addr()), newSplitListener(ln.Addr())
	errc := make(chan error, 3)
	go func() { errc <- splitConns(ln, grpcLn, httpLn) }()
	go func() {
		if err := s.grpc.Serve(grpcLn); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			errc <- fmt.Errorf("api: serve gRPC on %s: %w", ln.Addr(), err)
		}
	}()
	hs := NewHTTPServer(s.Handler())
	go func() {
		if err := hs.Serve(httpLn); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			errc <- fmt.Errorf("api: serve HTTP on %s: %w", ln.Addr(), err)
		}
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
	}
	ln.Close()
	s.stopClientAPI(hs, drainTimeout)
	return err
}

// stopClientAPI stops the client API: calls in flight get drainTimeout to finish,
// then everything is closed.
func (s *Server) stopClientAPI(hs *http.Server, drainTimeout time.Duration) {
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	stopped := make(chan struct{})
	go func() { s.grpc.GracefulStop(); close(stopped) }()
	if hs.Shutdown(sctx) != nil {
		hs.Close() // watch and keepalive streams never finish on their own
	}
	select {
	case <-stopped:
	case <-sctx.Done():
		s.grpc.Stop()
		<-stopped
	}
}

// ServeMetrics serves /health and /metrics on ln until ctx is done.
func (s *Server) ServeMetrics(ctx context.Context, ln net.Listener) error {
	return serveUntil(ctx, NewHTTPServer(s.MetricsHandler()), ln, time.Second)
}

func serveUntil(ctx context.Context, hs *http.Server, ln net.Listener, drainTimeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		hs.Close() // watch and keepalive streams never finish on their own
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
