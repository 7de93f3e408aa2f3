package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
)

// endpoint is where a peer is dialed: its host:port, and whether its URL is
// https, in which case the connection speaks TLS from its first byte.
type endpoint struct {
	hostPort string
	secure   bool
}

// parseEndpoint reads a peer URL ("https://127.0.0.1:2380") or a bare
// host:port (plain TCP).
func parseEndpoint(addr string) (endpoint, error) {
	hp, err := HostPort(addr)
	if err != nil {
		return endpoint{}, err
	}
	u, err := url.Parse(addr)
	return endpoint{hostPort: hp, secure: err == nil && u.Scheme == "https"}, nil
}

func (e endpoint) String() string {
	if e.secure {
		return "https://" + e.hostPort
	}
	return e.hostPort
}

// clientTLS resolves the configuration for dialing an https peer; Go's
// defaults (system roots, no client certificate) when none was given.
func (t *Transport) clientTLS() (*tls.Config, error) {
	if t.opts.ClientTLS == nil {
		return nil, nil
	}
	cfg, err := t.opts.ClientTLS()
	if err != nil {
		return nil, fmt.Errorf("transport: TLS configuration for dialing peers: %w", err)
	}
	return cfg, nil
}

// dialEndpoint connects to ep within dialTimeout and, for an https peer,
// completes the TLS handshake with cfg within handshakeTimeout.
func dialEndpoint(ctx context.Context, ep endpoint, cfg *tls.Config, dialTimeout, handshakeTimeout time.Duration) (net.Conn, error) {
	c, err := (&net.Dialer{Timeout: dialTimeout}).DialContext(ctx, "tcp", ep.hostPort)
	if err != nil {
		return nil, err
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	if !ep.secure {
		return c, nil
	}
	tc := tls.Client(c, clientConfigFor(cfg, ep.hostPort))
	hctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(hctx); err != nil {
		c.Close()
		return nil, &tlsDialError{ep: ep, err: err}
	}
	return tc, nil
}

// tlsDialError is a failed client handshake: the peer is up, and one side
// refused the other's certificate or protocol.
type tlsDialError struct {
	ep  endpoint
	err error
}

func (e *tlsDialError) Error() string {
	return fmt.Sprintf("transport: TLS handshake with %s: %v", e.ep, e.err)
}

func (e *tlsDialError) Unwrap() error { return e.err }

// clientConfigFor names the server to verify after the URL's host when
// the configuration does not, as an https client does.
func clientConfigFor(cfg *tls.Config, hostPort string) *tls.Config {
	if cfg == nil {
		cfg = &tls.Config{}
	}
	if cfg.ServerName != "" {
		return cfg
	}
	cfg = cfg.Clone()
	host, _, err := net.SplitHostPort(hostPort)
	if err != nil {
		host = hostPort
	}
	cfg.ServerName = host
	return cfg
}

// handshake completes the server side of an incoming TLS connection and
// checks the peer's certificate against the address it connects from.
func (t *Transport) handshake(c net.Conn) (*tls.Conn, error) {
	tc := tls.Server(c, t.opts.ServerTLS)
	ctx, cancel := context.WithTimeout(t.ctx, t.opts.HandshakeTimeout)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return nil, err
	}
	if certs := tc.ConnectionState().PeerCertificates; len(certs) > 0 {
		if err := checkRemoteSAN(ctx, certs[0], c.RemoteAddr()); err != nil {
			return nil, err
		}
	}
	return tc, nil
}

// checkRemoteSAN refuses a peer certificate that names hosts none of which
// is the address the connection comes from, as etcd's peer listener does:
// a certificate copied to another machine does not make it a member. A
// certificate naming no host passes; a DNS name matches when the remote
// address resolves back to it.
func checkRemoteSAN(ctx context.Context, cert *x509.Certificate, remote net.Addr) error {
	if len(cert.IPAddresses) == 0 && len(cert.DNSNames) == 0 {
		return nil
	}
	host, _, err := net.SplitHostPort(remote.String())
	if err != nil {
		return fmt.Errorf("transport: remote address %q: %w", remote, err)
	}
	if len(cert.IPAddresses) > 0 && cert.VerifyHostname(host) == nil {
		return nil
	}
	if len(cert.DNSNames) > 0 {
		names, lerr := net.DefaultResolver.LookupAddr(ctx, host)
		for _, name := range names {
			if cert.VerifyHostname(strings.TrimSuffix(name, ".")) == nil {
				return nil
			}
		}
		if lerr != nil {
			return fmt.Errorf("transport: peer certificate names %v %v, and %s does not resolve back to one: %w", cert.IPAddresses, cert.DNSNames, host, lerr)
		}
	}
	return fmt.Errorf("transport: peer certificate names %v %v, not the address %s it connects from", cert.IPAddresses, cert.DNSNames, host)
}

// ServeTLS is Serve for an https peer URL: every connection accepted on ln
// must complete a TLS handshake with Options.ServerTLS within
// HandshakeTimeout; one that does not is closed and logged.
func (t *Transport) ServeTLS(ln net.Listener) error {
	if t.opts.ServerTLS == nil {
		ln.Close()
		return fmt.Errorf("transport: serve TLS on %s: Options.ServerTLS is not set", ln.Addr())
	}
	return t.serve(ln, true)
}
