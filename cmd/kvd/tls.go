package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/transport"
)

// tlsSideFlags are etcd's TLS flags for one side: client (--cert-file, …)
// or peer (--peer-cert-file, …).
type tlsSideFlags struct {
	certFile, keyFile, trustedCAFile string
	clientCertAuth, autoTLS          bool
}

// tlsFlags are etcd's TLS flags.
type tlsFlags struct {
	client, peer tlsSideFlags
	cipherSuites string
	minVersion   string
	maxVersion   string
}

func (t *tlsFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.client.certFile, "cert-file", "", "path to the client server TLS cert file")
	fs.StringVar(&t.client.keyFile, "key-file", "", "path to the client server TLS key file")
	fs.StringVar(&t.client.trustedCAFile, "trusted-ca-file", "", "path to the client server TLS trusted CA cert file; clients must then present a certificate it signed")
	fs.BoolVar(&t.client.clientCertAuth, "client-cert-auth", false, "enable client cert authentication")
	fs.BoolVar(&t.client.autoTLS, "auto-tls", false, "client TLS using generated certificates")
	fs.StringVar(&t.peer.certFile, "peer-cert-file", "", "path to the peer server TLS cert file")
	fs.StringVar(&t.peer.keyFile, "peer-key-file", "", "path to the peer server TLS key file")
	fs.StringVar(&t.peer.trustedCAFile, "peer-trusted-ca-file", "", "path to the peer server TLS trusted CA file; peers must then present a certificate it signed")
	fs.BoolVar(&t.peer.clientCertAuth, "peer-client-cert-auth", false, "enable peer client cert authentication")
	fs.BoolVar(&t.peer.autoTLS, "peer-auto-tls", false, "peer TLS using generated certificates")
	fs.StringVar(&t.cipherSuites, "cipher-suites", "", "comma-separated list of supported TLS cipher suites between client/server and peers, Go's names (empty: Go's choice)")
	fs.StringVar(&t.minVersion, "tls-min-version", "TLS1.2", "minimum TLS version supported: TLS1.2 or TLS1.3")
	fs.StringVar(&t.maxVersion, "tls-max-version", "", "maximum TLS version supported: TLS1.2 or TLS1.3 (empty: Go's choice)")
}

// tlsParams are the parsed protocol flags, shared by both sides.
type tlsParams struct {
	cipherSuites           []uint16
	minVersion, maxVersion uint16
}

// parseCipherSuite takes Go's name of a suite, the insecure ones included,
// as etcd does, and the two ChaCha20 names Go used before it added _SHA256.
func parseCipherSuite(name string) (uint16, bool) {
	for _, list := range [][]*tls.CipherSuite{tls.CipherSuites(), tls.InsecureCipherSuites()} {
		for _, c := range list {
			if c.Name == name {
				return c.ID, true
			}
		}
	}
	switch name {
	case "TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256, true
	case "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305":
		return tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256, true
	}
	return 0, false
}

// parseTLSVersion reads etcd's version names; "" is 0, Go's choice.
func parseTLSVersion(flagName, v string) (uint16, error) {
	switch v {
	case "":
		return 0, nil
	case "TLS1.2":
		return tls.VersionTLS12, nil
	case "TLS1.3":
		return tls.VersionTLS13, nil
	}
	return 0, fmt.Errorf("%s %q: unexpected TLS version (must be one of: TLS1.2, TLS1.3)", flagName, v)
}

// params parses the protocol flags, reporting every problem.
func (t *tlsFlags) params() (tlsParams, []error) {
	var p tlsParams
	var errs []error
	for _, name := range splitURLs(t.cipherSuites) {
		id, ok := parseCipherSuite(name)
		if !ok {
			errs = append(errs, fmt.Errorf("--cipher-suites: unexpected TLS cipher suite %q (Go's names, e.g. TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256)", name))
			continue
		}
		p.cipherSuites = append(p.cipherSuites, id)
	}
	var minErr, maxErr error
	p.minVersion, minErr = parseTLSVersion("--tls-min-version", t.minVersion)
	p.maxVersion, maxErr = parseTLSVersion("--tls-max-version", t.maxVersion)
	errs = append(errs, minErr, maxErr)
	if minErr == nil && maxErr == nil {
		if p.maxVersion != 0 && p.minVersion > p.maxVersion {
			errs = append(errs, fmt.Errorf("--tls-min-version %s is greater than --tls-max-version %s", t.minVersion, t.maxVersion))
		}
		if p.minVersion == tls.VersionTLS13 && t.cipherSuites != "" {
			// Go picks TLS 1.3's suites itself and ignores the list.
			errs = append(errs, fmt.Errorf("--cipher-suites cannot be configured when only TLS1.3 is enabled (--tls-min-version TLS1.3)"))
		}
	}
	if p.minVersion == 0 {
		p.minVersion = tls.VersionTLS12 // etcd's floor, whatever Go's default
	}
	return p, errs
}

// validateTLS reports every problem with the TLS flags, as etcd would at
// start: a half-given key pair, an https URL nobody can serve, unknown
// suites or versions.
func (f *flags) validateTLS() []error {
	_, errs := f.tls.params()
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	for _, side := range []struct {
		prefix string
		s      tlsSideFlags
	}{{"--", f.tls.client}, {"--peer-", f.tls.peer}} {
		if (side.s.certFile == "") != (side.s.keyFile == "") {
			add("%scert-file and %skey-file must both be given (cert %q, key %q)", side.prefix, side.prefix, side.s.certFile, side.s.keyFile)
		}
	}
	clientCert := f.tls.client.certFile != "" || f.tls.client.autoTLS
	for _, g := range []struct {
		flag   string
		urls   []string
		served bool
		needs  string
	}{
		{"--listen-client-urls", f.listenClientURLs, clientCert, "--cert-file and --key-file, or --auto-tls"},
		{"--listen-metrics-urls", f.listenMetricsURLs, clientCert, "--cert-file and --key-file, or --auto-tls"},
		{"--listen-peer-urls", f.listenPeerURLs, f.tls.peer.certFile != "" || f.tls.peer.autoTLS, "--peer-cert-file and --peer-key-file, or --peer-auto-tls"},
	} {
		for _, u := range g.urls {
			if isHTTPS(u) && !g.served {
				add("%s %s is https: TLS needs a certificate (%s)", g.flag, u, g.needs)
			}
		}
	}
	return errs
}

func isHTTPS(rawURL string) bool {
	u, err := url.Parse(rawURL)
	return err == nil && u.Scheme == "https"
}

// selfSignedValidity is how long an --auto-tls certificate is good for:
// etcd's --self-signed-cert-validity default, one year.
const selfSignedValidity = 365 * 24 * time.Hour

// memberTLS is what a member serves and dials with; a nil side has no
// certificate and no CA.
type memberTLS struct {
	client, peer *certSource
	params       tlsParams
}

// setupTLS loads the certificates the flags name, or generates the
// --auto-tls ones, and says what etcd says about flags it ignores.
func setupTLS(f *flags, log *slog.Logger) (*memberTLS, error) {
	params, errs := f.tls.params()
	if err := errors.Join(errs...); err != nil {
		return nil, err // validated with the flags
	}
	m := &memberTLS{params: params}
	var err error
	if m.client, err = newSide(f.tls.client, "client", "--", f.dataDir, f.listenClientURLs, params, log); err != nil {
		return nil, err
	}
	if m.peer, err = newSide(f.tls.peer, "peer", "--peer-", f.dataDir, f.listenPeerURLs, params, log); err != nil {
		return nil, err
	}
	for _, g := range []struct {
		flag, side string
		urls       []string
		s          tlsSideFlags
	}{{"--listen-client-urls", "client", f.listenClientURLs, f.tls.client}, {"--listen-peer-urls", "peer", f.listenPeerURLs, f.tls.peer}} {
		for _, u := range g.urls {
			if isHTTPS(u) {
				continue
			}
			if g.s.certFile != "" {
				log.Warn("scheme is http while key and cert files are present; ignoring key and cert files for this URL", "flag", g.flag, "url", u)
			}
			if g.s.clientCertAuth {
				log.Warn("scheme is http while "+g.side+" client cert auth is enabled; ignoring client cert auth for this URL", "flag", g.flag, "url", u)
			}
		}
	}
	return m, nil
}

func newSide(s tlsSideFlags, side, prefix, dataDir string, listenURLs []string, params tlsParams, log *slog.Logger) (*certSource, error) {
	src := &certSource{
		side: side, certFile: s.certFile, keyFile: s.keyFile, caFile: s.trustedCAFile,
		// etcd asks for a client certificate whenever a CA is given.
		requireClientCert: s.clientCertAuth || s.trustedCAFile != "",
		params:            params, log: log.With("component", side+"-tls"),
	}
	if s.autoTLS && s.certFile != "" {
		log.Warn("ignoring " + side + " auto TLS since certs given")
	} else if s.autoTLS {
		dir := filepath.Join(dataDir, "fixtures", side)
		certFile, keyFile, err := selfCert(dir, listenURLs, log)
		if err != nil {
			return nil, fmt.Errorf("%sauto-tls: %w", prefix, err)
		}
		if s.clientCertAuth || s.trustedCAFile != "" {
			log.Warn("ignoring " + side + " client cert auth and trusted CA with auto TLS: a self-signed certificate is not checked against a CA")
		}
		// Every member signs its own certificate, so none can be verified:
		// etcd's auto TLS encrypts and skips verification both ways.
		src.certFile, src.keyFile, src.caFile = certFile, keyFile, ""
		src.requireClientCert, src.selfSigned = false, true
	}
	if src.certFile == "" && src.caFile == "" {
		return nil, nil
	}
	if _, err := src.reload(); err != nil {
		return nil, fmt.Errorf("%s TLS (%scert-file, %skey-file, %strusted-ca-file): %w", side, prefix, prefix, prefix, err)
	}
	src.checkedAt = time.Now()
	return src, nil
}

// selfCert returns dir's cert.pem and key.pem, generating a self-signed
// pair for the listen URLs' hosts first if either is missing — etcd's
// auto TLS layout, so a restart keeps its certificate.
func selfCert(dir string, listenURLs []string, log *slog.Logger) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	_, certErr := os.Stat(certFile)
	_, keyErr := os.Stat(keyFile)
	if certErr == nil && keyErr == nil {
		return certFile, keyFile, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create %s: %w", dir, err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return "", "", fmt.Errorf("serial number: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"etcd"}},
		NotBefore:    now,
		NotAfter:     now.Add(selfSignedValidity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		// A CA of itself, so a client may trust it with --cacert.
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	for _, u := range listenURLs {
		hp, err := transport.HostPort(u)
		if err != nil {
			continue
		}
		h, _, _ := net.SplitHostPort(hp)
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else if h != "" {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	// P-256 rather than etcd's P-521: handshakes several times cheaper,
	// and nothing verifies a self-signed certificate anyway.
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return "", "", fmt.Errorf("generate key: %w", err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return "", "", fmt.Errorf("create certificate: %w", err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return "", "", fmt.Errorf("marshal key: %w", err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		return "", "", fmt.Errorf("write %s: %w", keyFile, err)
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return "", "", fmt.Errorf("write %s: %w", certFile, err)
	}
	log.Warn("automatically generated a self-signed certificate", "certFile", certFile, "notAfter", tmpl.NotAfter)
	return certFile, keyFile, nil
}

// reloadInterval bounds how often the files are read again: a handshake
// at most once a second pays for reading them, however many arrive.
const reloadInterval = time.Second

// certSource hands out TLS configurations over a key pair and CA file
// read again when their content changes, so certificates rotate without a
// restart, as etcd re-reads them at each handshake. A change that does
// not load (a key written before its certificate) keeps the previous
// files in use until it does.
type certSource struct {
	side                      string
	certFile, keyFile, caFile string
	// requireClientCert: the server side asks for and verifies a client
	// certificate.
	requireClientCert bool
	// selfSigned (auto TLS): the other side's certificate is not verified.
	selfSigned bool
	params     tlsParams
	log        *slog.Logger

	mu                     sync.Mutex
	checkedAt              time.Time
	lastErr                string
	certPEM, keyPEM, caPEM []byte
	cert                   *tls.Certificate
	pool                   *x509.CertPool // nil: the system roots
}

func readOptional(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %w", err)
	}
	return b, nil
}

// reload reads the files and, if their content changed, parses them;
// changed says whether it did. Called with mu held (or before sharing).
func (s *certSource) reload() (changed bool, err error) {
	certPEM, err := readOptional(s.certFile)
	if err != nil {
		return false, err
	}
	keyPEM, err := readOptional(s.keyFile)
	if err != nil {
		return false, err
	}
	caPEM, err := readOptional(s.caFile)
	if err != nil {
		return false, err
	}
	if bytes.Equal(certPEM, s.certPEM) && bytes.Equal(keyPEM, s.keyPEM) && bytes.Equal(caPEM, s.caPEM) && (s.cert != nil || s.pool != nil) {
		return false, nil
	}
	var cert *tls.Certificate
	if s.certFile != "" {
		c, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return false, fmt.Errorf("certificate %s with key %s: %w", s.certFile, s.keyFile, err)
		}
		cert = &c
	}
	var pool *x509.CertPool
	if s.caFile != "" {
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			return false, fmt.Errorf("trusted CA file %s holds no PEM certificate", s.caFile)
		}
	}
	s.certPEM, s.keyPEM, s.caPEM, s.cert, s.pool = certPEM, keyPEM, caPEM, cert, pool
	return true, nil
}

// current is the key pair and CA pool, re-read if due.
func (s *certSource) current() (*tls.Certificate, *x509.CertPool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if time.Since(s.checkedAt) < reloadInterval {
		return s.cert, s.pool
	}
	s.checkedAt = time.Now()
	changed, err := s.reload()
	switch {
	case err != nil:
		if err.Error() != s.lastErr {
			s.log.Warn("cannot reload TLS files; the previous ones stay in use", "err", err.Error())
		}
		s.lastErr = err.Error()
	case changed:
		s.lastErr = ""
		args := []any{"certFile", s.certFile, "trustedCAFile", s.caFile}
		if s.cert != nil && s.cert.Leaf != nil {
			args = append(args, "serial", s.cert.Leaf.SerialNumber.Text(16), "notAfter", s.cert.Leaf.NotAfter)
		}
		s.log.Info("reloaded TLS files", args...)
	}
	return s.cert, s.pool
}

func (s *certSource) base() *tls.Config {
	return &tls.Config{MinVersion: s.params.minVersion, MaxVersion: s.params.maxVersion, CipherSuites: s.params.cipherSuites}
}

// serverConfig is for a listener offering nextProtos by ALPN; each
// handshake gets the files as they are now.
func (s *certSource) serverConfig(nextProtos ...string) *tls.Config {
	cfg := s.base()
	cfg.NextProtos = nextProtos
	cfg.GetConfigForClient = func(*tls.ClientHelloInfo) (*tls.Config, error) {
		cert, pool := s.current()
		if cert == nil {
			return nil, fmt.Errorf("kvd: no %s certificate to serve TLS with", s.side)
		}
		c := s.base()
		c.NextProtos = nextProtos
		c.Certificates = []tls.Certificate{*cert}
		if s.requireClientCert {
			c.ClientAuth = tls.RequireAndVerifyClientCert
			c.ClientCAs = pool
		}
		return c, nil
	}
	return cfg
}

// clientConfig is for dialing: this side's certificate as the client's,
// its CA as the roots.
func (s *certSource) clientConfig() (*tls.Config, error) {
	cert, pool := s.current()
	c := s.base()
	c.RootCAs = pool
	// etcd's auto TLS: the peer's self-signed certificate cannot be
	// verified; the link is encrypted, not authenticated.
	c.InsecureSkipVerify = s.selfSigned
	if cert != nil {
		// Shown whatever CAs the server says it accepts (Go's selection
		// from Certificates would send none to a server of another CA), so
		// a refusal is logged as the wrong CA it is, as etcd's is.
		c.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return cert, nil }
	}
	return c, nil
}

// peerServer is the transport's ServerTLS; nil without a peer certificate.
func (m *memberTLS) peerServer() *tls.Config {
	if m.peer == nil || m.peer.certFile == "" {
		return nil
	}
	return m.peer.serverConfig()
}

// peerDial is the transport's ClientTLS.
func (m *memberTLS) peerDial() func() (*tls.Config, error) {
	if m.peer == nil {
		return nil
	}
	return m.peer.clientConfig
}

// peerDialConfig is one configuration for a membership query; nil: Go's
// defaults.
func (m *memberTLS) peerDialConfig() *tls.Config {
	if m.peer == nil {
		return nil
	}
	c, _ := m.peer.clientConfig()
	return c
}

// clientDial is api.Config.ClientTLS: the member dials other members'
// client URLs as a client of theirs would.
func (m *memberTLS) clientDial() func() (*tls.Config, error) {
	if m.client == nil {
		return nil
	}
	return m.client.clientConfig
}

// httpsListener marks a listener of an https URL.
type httpsListener struct{ net.Listener }

// servePeer serves peer traffic on ln, behind TLS for an https URL.
func servePeer(tr *transport.Transport, ln net.Listener) error {
	if h, ok := ln.(httpsListener); ok {
		return tr.ServeTLS(h.Listener)
	}
	return tr.Serve(ln)
}

// serveClient serves the client API on ln, behind TLS for an https URL.
func (m *memberTLS) serveClient(ctx context.Context, srv *api.Server, ln net.Listener) error {
	if h, ok := ln.(httpsListener); ok {
		return srv.ServeClientTLS(ctx, h.Listener, m.client.serverConfig(api.ClientNextProtos...), drainTimeout)
	}
	return srv.ServeClient(ctx, ln, drainTimeout)
}

// serveMetrics serves /metrics and /health on ln, behind TLS with the
// client certificate for an https URL, as etcd's metrics listener does.
func (m *memberTLS) serveMetrics(ctx context.Context, srv *api.Server, ln net.Listener) error {
	if h, ok := ln.(httpsListener); ok {
		return srv.ServeMetricsTLS(ctx, h.Listener, m.client.serverConfig("http/1.1"))
	}
	return srv.ServeMetrics(ctx, ln)
}

// markHTTPS wraps ln if rawURL is https.
func markHTTPS(ln net.Listener, rawURL string) net.Listener {
	if isHTTPS(rawURL) {
		return httpsListener{ln}
	}
	return ln
}
