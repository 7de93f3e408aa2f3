package api

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"time"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ClientNextProtos are the ALPN protocols an https client URL offers: h2
// for gRPC (grpc-go refuses a server that does not select it) and
// http/1.1 for /health and /metrics.
var ClientNextProtos = []string{"h2", "http/1.1"}

// ServeClientTLS serves the client API on ln behind TLS (an https client
// URL) until ctx is done, then shuts down as ServeClient does. cfg must
// offer ClientNextProtos. As etcd's secure listener does, every request —
// gRPC over HTTP/2 included — goes through one net/http server: an HTTP/2
// connection may carry gRPC and /health alike, so it cannot be routed by
// its preface as the plain port's are, and gRPC calls then see the
// client's certificate (credentials.TLSInfo in their peer), which
// certificate-based authentication needs.
func (s *Server) ServeClientTLS(ctx context.Context, ln net.Listener, cfg *tls.Config, drainTimeout time.Duration) error {
	var p http.Protocols
	p.SetHTTP1(true)
	p.SetHTTP2(true)
	hs := &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         cfg,
		Protocols:         &p,
		ReadHeaderTimeout: 10 * time.Second,
		// gRPC's own limit: watches and keepalives are long-lived streams,
		// many per client connection.
		HTTP2:    &http.HTTP2Config{MaxConcurrentStreams: math.MaxInt32},
		ErrorLog: s.httpErrorLog(ln),
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.ServeTLS(ln, "", "") }()
	var err error
	select {
	case err = <-errc:
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		} else {
			err = fmt.Errorf("api: serve TLS on %s: %w", ln.Addr(), err)
		}
	case <-ctx.Done():
	}
	s.stopClientAPI(hs, drainTimeout)
	return err
}

// ServeMetricsTLS serves /health and /metrics on ln behind TLS (an https
// --listen-metrics-urls) until ctx is done. HTTP/1.1 only is offered.
func (s *Server) ServeMetricsTLS(ctx context.Context, ln net.Listener, cfg *tls.Config) error {
	hs := NewHTTPServer(s.MetricsHandler())
	hs.ErrorLog = s.httpErrorLog(ln)
	return serveUntil(ctx, hs, tls.NewListener(ln, cfg), time.Second)
}

// httpErrorLog puts net/http's own complaints — refused TLS handshakes
// above all — in the member's structured log.
func (s *Server) httpErrorLog(ln net.Listener) *log.Logger {
	return slog.NewLogLogger(s.cfg.Logger.With("listener", ln.Addr().String()).Handler(), slog.LevelWarn)
}

// dialCredentials chooses how the forwarder reaches a member's client
// URL: TLS for https, with Config.ClientTLS asked afresh per connection.
func (s *Server) dialCredentials(clientURL string) (credentials.TransportCredentials, error) {
	u, err := url.Parse(clientURL)
	if err != nil {
		return nil, fmt.Errorf("api: client URL %q: %w", clientURL, err)
	}
	if u.Scheme != "https" {
		return insecure.NewCredentials(), nil
	}
	return freshTLS{config: s.cfg.ClientTLS}, nil
}

// freshTLS is gRPC's TLS credentials over a configuration fetched at each
// handshake, so a member's rotated client certificate or CA is used by
// its next connection without a restart.
type freshTLS struct {
	config func() (*tls.Config, error)
}

func (f freshTLS) current() (credentials.TransportCredentials, error) {
	var cfg *tls.Config
	if f.config != nil {
		var err error
		if cfg, err = f.config(); err != nil {
			return nil, fmt.Errorf("api: TLS configuration for dialing members: %w", err)
		}
	}
	return credentials.NewTLS(cfg), nil
}

func (f freshTLS) ClientHandshake(ctx context.Context, authority string, c net.Conn) (net.Conn, credentials.AuthInfo, error) {
	creds, err := f.current()
	if err != nil {
		return nil, nil, err
	}
	return creds.ClientHandshake(ctx, authority, c)
}

func (f freshTLS) ServerHandshake(net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return nil, nil, errors.New("api: freshTLS dials only")
}

func (f freshTLS) Info() credentials.ProtocolInfo {
	return credentials.NewTLS(nil).Info()
}

func (f freshTLS) Clone() credentials.TransportCredentials { return f }

// OverrideServerName is gRPC's deprecated hook; the authority of the dial
// target names the server instead.
func (f freshTLS) OverrideServerName(string) error { return nil }

var _ credentials.TransportCredentials = freshTLS{}
