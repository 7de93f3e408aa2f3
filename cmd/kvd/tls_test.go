package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/transport/tlstest"
)

// TestTLSFlags: every bad TLS flag is reported at once, in etcd's terms.
func TestTLSFlags(t *testing.T) {
	var stderr strings.Builder
	https := []string{
		"--listen-client-urls", "https://127.0.0.1:1", "--advertise-client-urls", "https://127.0.0.1:1",
		"--listen-peer-urls", "https://127.0.0.1:2", "--initial-advertise-peer-urls", "https://127.0.0.1:2",
		"--listen-metrics-urls", "https://127.0.0.1:3",
	}
	_, err := parseFlags(append(https, "--peer-key-file", "p.key",
		"--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,TLS_NO_SUCH_SUITE",
		"--tls-min-version", "TLS1.1", "--tls-max-version", "SSL3"), &stderr)
	for _, want := range []string{
		"--listen-client-urls https://127.0.0.1:1 is https: TLS needs a certificate (--cert-file and --key-file, or --auto-tls)",
		"--listen-metrics-urls https://127.0.0.1:3 is https",
		"--listen-peer-urls https://127.0.0.1:2 is https: TLS needs a certificate (--peer-cert-file and --peer-key-file, or --peer-auto-tls)",
		`--peer-cert-file and --peer-key-file must both be given (cert "", key "p.key")`,
		`unexpected TLS cipher suite "TLS_NO_SUCH_SUITE"`,
		`--tls-min-version "TLS1.1": unexpected TLS version (must be one of: TLS1.2, TLS1.3)`,
		`--tls-max-version "SSL3"`,
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("bad TLS flags: error lacks %q:\n%v", want, err)
		}
	}
	for _, c := range []struct {
		args []string
		bad  string
	}{
		{[]string{"--cert-file", "c.pem"}, `--cert-file and --key-file must both be given (cert "c.pem", key "")`},
		{[]string{"--tls-min-version", "TLS1.3", "--tls-max-version", "TLS1.2"}, "--tls-min-version TLS1.3 is greater than --tls-max-version TLS1.2"},
		{[]string{"--tls-min-version", "TLS1.3", "--cipher-suites", "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"}, "--cipher-suites cannot be configured when only TLS1.3 is enabled"},
		{[]string{"--listen-client-urls", "unix://kvd.sock"}, `scheme "unix" not supported (http or https)`},
	} {
		if _, err := parseFlags(c.args, &stderr); err == nil || !strings.Contains(err.Error(), c.bad) {
			t.Errorf("%v: %v, want an error about %q", c.args, err, c.bad)
		}
	}
	// Served: a key pair, or a generated certificate; the https peer URLs
	// in --initial-cluster too.
	for _, args := range [][]string{
		append(https, "--cert-file", "c.pem", "--key-file", "c.key", "--peer-cert-file", "p.pem", "--peer-key-file", "p.key"),
		append(https, "--auto-tls", "--peer-auto-tls", "--client-cert-auth", "--tls-max-version", "TLS1.3",
			"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"),
	} {
		f, err := parseFlags(args, &stderr)
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		p, errs := f.tls.params()
		if len(errs) != 2 || errs[0] != nil || errs[1] != nil || p.minVersion != tls.VersionTLS12 {
			t.Fatalf("%v: params %+v, %v", args, p, errs)
		}
	}
	f, _ := parseFlags([]string{"--cipher-suites", "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305, TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "--tls-max-version", "TLS1.3"}, &stderr)
	if p, _ := f.tls.params(); len(p.cipherSuites) != 2 || p.cipherSuites[0] != tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256 ||
		p.cipherSuites[1] != tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256 || p.maxVersion != tls.VersionTLS13 {
		t.Fatalf("params %+v", p)
	}
}

// TestCertSourceReloads: a rewritten key pair or CA is picked up at the
// next check; a pair that does not load keeps the previous one in use.
func TestCertSourceReloads(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, "ca")
	first := ca.Issue(t, tlstest.Loopback("m0"))
	certFile, keyFile := first.Write(t, dir, "m0")
	caFile := filepath.Join(dir, "ca.pem")
	tlstest.WriteFile(t, caFile, ca.PEM)
	src, err := newSide(tlsSideFlags{certFile: certFile, keyFile: keyFile, trustedCAFile: caFile}, "client", "--", dir, nil, tlsParams{minVersion: tls.VersionTLS12}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		cert, _ := src.current()
		return cert.Leaf.SerialNumber.String()
	}
	if got := serial(); got != first.Cert.SerialNumber.String() {
		t.Fatalf("serial %s, want the first certificate's %s", got, first.Cert.SerialNumber)
	}
	second := ca.Issue(t, tlstest.Loopback("m0"))
	second.Write(t, dir, "m0")
	if got := serial(); got != first.Cert.SerialNumber.String() {
		t.Fatalf("read again within %v of the last check", reloadInterval)
	}
	src.checkedAt = time.Time{}
	if got := serial(); got != second.Cert.SerialNumber.String() {
		t.Fatalf("serial %s after rotation, want %s", got, second.Cert.SerialNumber)
	}
	// A new key whose certificate has not been written yet.
	tlstest.WriteFile(t, keyFile, ca.Issue(t, tlstest.Loopback("m0")).KeyPEM)
	src.checkedAt = time.Time{}
	if got := serial(); got != second.Cert.SerialNumber.String() {
		t.Fatalf("serial %s with a mismatched key, want the previous %s kept", got, second.Cert.SerialNumber)
	}
	if _, err := newSide(tlsSideFlags{certFile: certFile, keyFile: keyFile}, "peer", "--peer-", dir, nil, tlsParams{}, slog.New(slog.DiscardHandler)); err == nil ||
		!strings.Contains(err.Error(), "peer TLS (--peer-cert-file, --peer-key-file, --peer-trusted-ca-file)") || !strings.Contains(err.Error(), certFile) {
		t.Fatalf("mismatched pair at start: %v, want an error naming the flags and %s", err, certFile)
	}
}

// tlsFiles are a test cluster's certificates on disk.
type tlsFiles struct {
	dir                            string
	ca                             *tlstest.CA
	caFile                         string
	clientCert, clientKey          string // etcdctl's
	clientTLS                      *tls.Config
	expiredClientCert, expiredKey  string
	memberCert, memberKey          []string // --cert-file, --key-file of each member
	memberPeerCert, memberPeerKey  []string
	strangerPeerCert, strangerPeer string // from another CA
}

func newTLSFiles(t *testing.T, size int) *tlsFiles {
	f := &tlsFiles{dir: t.TempDir(), ca: tlstest.NewCA(t, "kvd test CA")}
	f.caFile = filepath.Join(f.dir, "ca.pem")
	tlstest.WriteFile(t, f.caFile, f.ca.PEM)
	client := f.ca.Issue(t, tlstest.Leaf{CommonName: "root"})
	f.clientCert, f.clientKey = client.Write(t, f.dir, "client")
	f.clientTLS = &tls.Config{Certificates: []tls.Certificate{client.TLS(t)}, RootCAs: f.ca.Pool()}
	expired := f.ca.Issue(t, tlstest.Leaf{CommonName: "root", NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour)})
	f.expiredClientCert, f.expiredKey = expired.Write(t, f.dir, "expired")
	for i := range size {
		c, k := f.ca.Issue(t, tlstest.Loopback(fmt.Sprintf("m%d", i))).Write(t, f.dir, fmt.Sprintf("m%d", i))
		f.memberCert, f.memberKey = append(f.memberCert, c), append(f.memberKey, k)
		c, k = f.ca.Issue(t, tlstest.Loopback(fmt.Sprintf("m%d", i))).Write(t, f.dir, fmt.Sprintf("m%d-peer", i))
		f.memberPeerCert, f.memberPeerKey = append(f.memberPeerCert, c), append(f.memberPeerKey, k)
	}
	other := tlstest.NewCA(t, "another CA")
	f.strangerPeerCert, f.strangerPeer = other.Issue(t, tlstest.Loopback("m3")).Write(t, f.dir, "stranger-peer")
	return f
}

// memberArgs are member i's TLS flags: client and peer TLS, both
// requiring certificates from the test CA.
func (f *tlsFiles) memberArgs(i int) []string {
	return []string{
		"--cert-file", f.memberCert[i], "--key-file", f.memberKey[i], "--trusted-ca-file", f.caFile, "--client-cert-auth",
		"--peer-cert-file", f.memberPeerCert[i], "--peer-key-file", f.memberPeerKey[i], "--peer-trusted-ca-file", f.caFile, "--peer-client-cert-auth",
	}
}

// startTLSProcCluster starts size members on https client and peer URLs;
// args(i) are member i's TLS flags.
func startTLSProcCluster(t *testing.T, size int, args func(i int) []string) *procCluster {
	return startSchemeProcCluster(t, size, "https", args)
}

// etcdctlTLS runs the real etcdctl with TLS flags.
func etcdctlTLS(endpoints []string, tlsArgs []string, args ...string) (string, error) {
	return etcdctlTimed(5*time.Second, endpoints, tlsArgs, args...)
}

// etcdctlTimed is etcdctlTLS with its timeouts: a refused handshake is
// retried until they pass, so calls meant to fail get short ones.
func etcdctlTimed(timeout time.Duration, endpoints []string, tlsArgs []string, args ...string) (string, error) {
	all := append([]string{"--endpoints", strings.Join(endpoints, ","), "--dial-timeout", timeout.String(), "--command-timeout", timeout.String()}, tlsArgs...)
	out, err := exec.Command(etcdctlBin, append(all, args...)...).CombinedOutput()
	return string(out), err
}

func tlsClient(t *testing.T, endpoints []string, cfg *tls.Config) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: endpoints, TLS: cfg, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

var netDialer = net.Dialer{Timeout: 5 * time.Second}

// serverSerial is the serial of the certificate a new TLS connection to
// hostPort is served, and the handshake's error.
func serverSerial(hostPort string, cfg *tls.Config) (string, error) {
	c, err := tls.DialWithDialer(&netDialer, "tcp", hostPort, cfg)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String(), nil
}

// TestTLSCluster runs three members with client and peer TLS, each side
// requiring certificates from the cluster's CA, and checks what etcd's
// users rely on: etcdctl and clientv3 with certificates work and without
// one are refused at the handshake, lease calls forwarded between members
// go over TLS, an expired client certificate is refused while the member
// serves on, a rotated server certificate is served without a restart,
// and a member whose peer certificate another CA signed cannot join.
func TestTLSCluster(t *testing.T) {
	files := newTLSFiles(t, 3)
	c := startTLSProcCluster(t, 3, files.memberArgs)
	eps := c.endpoints()
	cli := tlsClient(t, eps, files.clientTLS)
	leader := c.leader(cli, nil)
	withCert := []string{"--cacert", files.caFile, "--cert", files.clientCert, "--key", files.clientKey}

	t.Run("etcdctl", func(t *testing.T) {
		for _, args := range [][]string{{"put", "tls-key", "v1"}, {"get", "tls-key", "--print-value-only"}, {"member", "list", "-w", "json"},
			{"endpoint", "status", "-w", "json"}, {"endpoint", "health"}} {
			out, err := etcdctlTLS(eps, withCert, args...)
			if err != nil {
				t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
			}
			switch args[0] {
			case "get":
				if strings.TrimSpace(out) != "v1" {
					t.Fatalf("get printed %q, want v1", out)
				}
			case "member":
				var l memberListJSON
				if err := json.Unmarshal([]byte(out), &l); err != nil || len(l.Members) != 3 {
					t.Fatalf("member list: %v\n%s", err, out)
				}
				for _, m := range l.Members {
					if len(m.PeerURLs) != 1 || !strings.HasPrefix(m.PeerURLs[0], "https://") || len(m.ClientURLs) != 1 || !strings.HasPrefix(m.ClientURLs[0], "https://") {
						t.Fatalf("member %s has URLs %v %v, want https", m.Name, m.PeerURLs, m.ClientURLs)
					}
				}
			case "endpoint":
				if want := len(eps); strings.Count(out, "is healthy") != want && args[1] == "health" {
					t.Fatalf("endpoint health: want %d healthy endpoints:\n%s", want, out)
				}
			}
		}
		// Refused, each within the timeout, run side by side: without a
		// client certificate, with one from a CA the members do not trust,
		// and without --cacert (the members' CA unknown to etcdctl).
		refused := [][]string{
			{"--cacert", files.caFile},
			{"--cacert", files.caFile, "--cert", files.strangerPeerCert, "--key", files.strangerPeer},
			{"--cert", files.clientCert, "--key", files.clientKey},
		}
		errc := make(chan error, len(refused))
		for _, args := range refused {
			go func() {
				if out, err := etcdctlTimed(time.Second, eps[:1], args, "get", "tls-key"); err == nil {
					errc <- fmt.Errorf("etcdctl %v was served:\n%s", args, out)
					return
				}
				errc <- nil
			}()
		}
		for range refused {
			if err := <-errc; err != nil {
				t.Error(err)
			}
		}
	})

	t.Run("clientv3", func(t *testing.T) {
		// A follower forwards keepalives and TimeToLive to the leader's
		// https client URL with its own client certificate.
		var follower *proc
		for _, p := range c.procs {
			if p != leader {
				follower = p
				break
			}
		}
		fcli := tlsClient(t, []string{follower.clientURL}, files.clientTLS)
		ctx := ctxT(t, 10*time.Second)
		lease, err := fcli.Grant(ctx, 30)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := fcli.Put(ctx, "leased", "x", clientv3.WithLease(lease.ID)); err != nil {
			t.Fatal(err)
		}
		if _, err := fcli.KeepAliveOnce(ctx, lease.ID); err != nil {
			t.Fatalf("keepalive through follower %s: %v", follower.name, err)
		}
		if ttl, err := fcli.TimeToLive(ctx, lease.ID); err != nil || ttl.TTL <= 0 {
			t.Fatalf("TimeToLive through follower %s: %+v, %v", follower.name, ttl, err)
		}
		if r, err := cli.Get(ctx, "leased"); err != nil || len(r.Kvs) != 1 {
			t.Fatalf("get leased: %+v, %v", r, err)
		}
		// No client certificate: refused at the handshake.
		bare := tlsClient(t, eps, &tls.Config{RootCAs: files.ca.Pool()})
		bctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if _, err := bare.Get(bctx, "tls-key"); err == nil {
			t.Fatal("clientv3 without a client certificate was served")
		}
	})

	t.Run("health", func(t *testing.T) {
		// /health over https, HTTP/1.1 and HTTP/2 alike.
		for _, h2 := range []bool{false, true} {
			hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: files.clientTLS.Clone(), ForceAttemptHTTP2: h2}}
			resp, err := hc.Get(c.procs[0].clientURL + "/health")
			if err != nil {
				t.Fatalf("GET /health (h2 %v): %v", h2, err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"health":"true"`) || (resp.ProtoMajor == 2) != h2 {
				t.Fatalf("GET /health (h2 %v): %s %s %s", h2, resp.Proto, resp.Status, body)
			}
			hc.CloseIdleConnections()
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		// Served over TLS; the serving member reaches the others' figures
		// over their https client URLs, presenting its certificate as
		// --client-cert-auth asks.
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: files.clientTLS.Clone()}}
		defer hc.CloseIdleConnections()
		var view struct {
			Cluster struct {
				Health    string `json:"health"`
				MembersUp int    `json:"members_up"`
				Leader    string `json:"leader"`
			} `json:"cluster"`
			Members []struct {
				Name  string `json:"name"`
				Error string `json:"error"`
			} `json:"members"`
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			resp, err := hc.Get(c.procs[0].clientURL + "/dashboard/state.json")
			if err != nil {
				t.Fatalf("GET /dashboard/state.json over https: %v", err)
			}
			err = json.NewDecoder(resp.Body).Decode(&view)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("state.json: %s %v", resp.Status, err)
			}
			if view.Cluster.MembersUp == 3 && view.Cluster.Health == "healthy" && view.Cluster.Leader == leader.name {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the dashboard over TLS never saw the cluster whole: %+v", view)
			}
			time.Sleep(200 * time.Millisecond)
		}
	})

	t.Run("expired client certificate", func(t *testing.T) {
		expired, err := tls.LoadX509KeyPair(files.expiredClientCert, files.expiredKey)
		if err != nil {
			t.Fatal(err)
		}
		cfg := &tls.Config{Certificates: []tls.Certificate{expired}, RootCAs: files.ca.Pool()}
		hc := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		if resp, err := hc.Get(c.procs[0].clientURL + "/health"); err == nil {
			resp.Body.Close()
			t.Fatalf("an expired client certificate was served: %s", resp.Status)
		} else if !strings.Contains(err.Error(), "expired certificate") && !strings.Contains(err.Error(), "bad certificate") {
			t.Logf("refused with %v", err) // the alert's wording is the server's choice
		}
		if _, err := cli.Put(ctxT(t, 5*time.Second), "after-expired", "still serving"); err != nil {
			t.Fatalf("member stopped serving after an expired certificate: %v", err)
		}
		if !strings.Contains(c.procs[0].log.String(), "expired") {
			t.Errorf("m0 did not log the expired certificate:\n%s", c.procs[0].log.String())
		}
	})

	t.Run("rotation", func(t *testing.T) {
		hostPort := strings.TrimPrefix(c.procs[0].clientURL, "https://")
		before, err := serverSerial(hostPort, files.clientTLS)
		if err != nil {
			t.Fatal(err)
		}
		next := files.ca.Issue(t, tlstest.Loopback("m0"))
		// The same paths the member was started with.
		tlstest.WriteFile(t, files.memberKey[0], next.KeyPEM)
		tlstest.WriteFile(t, files.memberCert[0], next.CertPEM)
		want := next.Cert.SerialNumber.String()
		deadline := time.Now().Add(5 * time.Second)
		got := before
		for got != want && time.Now().Before(deadline) {
			time.Sleep(100 * time.Millisecond)
			if got, err = serverSerial(hostPort, files.clientTLS); err != nil {
				t.Fatal(err)
			}
		}
		if got != want {
			t.Fatalf("m0 serves serial %s 5s after rotation, want the new %s (was %s)", got, want, before)
		}
		if r, err := cli.Get(ctxT(t, 5*time.Second), "tls-key"); err != nil || len(r.Kvs) != 1 {
			t.Fatalf("get after rotation: %+v, %v", r, err)
		}
	})

	t.Run("peer from another CA cannot join", func(t *testing.T) {
		ports := freePorts(t, 2)
		peerURL := fmt.Sprintf("https://127.0.0.1:%d", ports[1])
		// etcd refuses to add a member until the leader has led for its
		// health interval (5 s); the cluster may be younger than that.
		var out string
		var err error
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
			if out, err = etcdctlTLS(eps, withCert, "member", "add", "m3", "--peer-urls", peerURL); err == nil || !strings.Contains(out, "unhealthy cluster") {
				break
			}
		}
		if err != nil {
			t.Fatalf("member add: %v\n%s", err, out)
		}
		var initial []string
		for _, p := range c.procs {
			initial = append(initial, p.name+"="+p.peerURL())
		}
		clientURL := fmt.Sprintf("https://127.0.0.1:%d", ports[0])
		stranger := &proc{name: "m3", clientURL: clientURL, args: []string{
			"--name", "m3", "--data-dir", filepath.Join(t.TempDir(), "m3.etcd"),
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(append(initial, "m3="+peerURL), ","),
			"--initial-cluster-state", "existing", "--heartbeat-interval", "10", "--election-timeout", "100", "--log-level", "warn",
			"--cert-file", files.memberCert[0], "--key-file", files.memberKey[0], "--trusted-ca-file", files.caFile,
			"--peer-cert-file", files.strangerPeerCert, "--peer-key-file", files.strangerPeer,
			"--peer-trusted-ca-file", files.caFile, "--peer-client-cert-auth",
		}}
		c.procs = append(c.procs, stranger)
		c.start(stranger)
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) && !(strings.Contains(stranger.log.String(), "tls:") && strings.Contains(c.procs[0].log.String(), "TLS handshake failed")) {
			time.Sleep(50 * time.Millisecond)
		}
		if !strings.Contains(stranger.log.String(), "tls:") {
			t.Fatalf("m3 logged no handshake failure:\n%s", stranger.log.String())
		}
		if !strings.Contains(c.procs[0].log.String(), "rejected peer connection: TLS handshake failed") {
			t.Fatalf("m0 logged no refused peer:\n%s", c.procs[0].log.String())
		}
		// The three serve on; m3 stays added and never started.
		if _, err := cli.Put(ctxT(t, 5*time.Second), "after-stranger", "ok"); err != nil {
			t.Fatal(err)
		}
		out, err = etcdctlTLS(eps, withCert, "member", "list", "-w", "json")
		var l memberListJSON
		if err != nil || json.Unmarshal([]byte(out), &l) != nil {
			t.Fatalf("member list: %v\n%s", err, out)
		}
		started := 0
		for _, m := range l.Members {
			if m.Name != "" {
				started++
			}
		}
		if len(l.Members) != 4 || started != 3 {
			t.Fatalf("members %+v: want 4 of which 3 started", l.Members)
		}
		if testing.Verbose() {
			t.Logf("m3 says: %s", lineWith(stranger.log.String(), "tls:"))
			t.Logf("m0 says: %s", lineWith(c.procs[0].log.String(), "rejected peer connection"))
		}
	})
}

// TestAutoTLSCluster: --auto-tls and --peer-auto-tls give each member a
// self-signed certificate in <data-dir>/fixtures, as etcd's do; peers
// encrypt without verifying, and etcdctl reaches them skipping
// verification.
func TestAutoTLSCluster(t *testing.T) {
	c := startTLSProcCluster(t, 3, func(int) []string { return []string{"--auto-tls", "--peer-auto-tls"} })
	skip := []string{"--insecure-skip-tls-verify"}
	deadline := time.Now().Add(15 * time.Second)
	var out string
	var err error
	for time.Now().Before(deadline) {
		if out, err = etcdctlTLS(c.endpoints(), skip, "put", "auto", "tls"); err == nil {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("put: %v\n%s", err, out)
	}
	if out, err := etcdctlTLS(c.endpoints()[2:], skip, "get", "auto", "--print-value-only"); err != nil || strings.TrimSpace(out) != "tls" {
		t.Fatalf("get: %v\n%s", err, out)
	}
	for _, side := range []string{"client", "peer"} {
		for _, name := range []string{"cert.pem", "key.pem"} {
			if _, err := os.Stat(filepath.Join(c.procs[0].dataDir(), "fixtures", side, name)); err != nil {
				t.Errorf("auto TLS left no %s: %v", name, err)
			}
		}
	}
}

// lineWith is the first line of s containing sub.
func lineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return l
		}
	}
	return ""
}
