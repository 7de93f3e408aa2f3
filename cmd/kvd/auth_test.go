package main

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/kvdlabs/kvd/core/transport/tlstest"
)

// TestEtcdctlAuth walks etcd's auth setup with the real etcdctl against a
// 3-member kvd cluster: root and a read-only role on /a/, auth enable;
// then what each caller may do, a password change that ends a session's
// token, and auth disable.
func TestEtcdctlAuth(t *testing.T) {
	// Debug logs, so the check at the end sees every line a member writes.
	c := startProcCluster(t, 3, "--bcrypt-cost", "4", "--log-level", "debug", "--feature-gates", "InitialCorruptCheck=true")
	c.leader(c.client(), nil)
	ok := func(want string, args ...string) {
		t.Helper()
		out, err := etcdctlAt(c.endpoints(), args...)
		if err != nil || !strings.Contains(out, want) {
			t.Fatalf("etcdctl %v: %v\n%s\nwant %q", args, err, out, want)
		}
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, err := etcdctlAt(c.endpoints(), args...)
		if err == nil || !strings.Contains(out, want) {
			t.Fatalf("etcdctl %v: %v\n%s\nwant an error %q", args, err, out, want)
		}
	}
	fails("etcdserver: root user does not exist", "auth", "enable")
	ok("User root created", "user", "add", "root:rootpw", "--interactive=false")
	ok("Role root is granted to user root", "user", "grant-role", "root", "root")
	ok("Role ro-a created", "role", "add", "ro-a")
	ok("Role ro-a updated", "role", "grant-permission", "ro-a", "read", "/a/", "--prefix=true")
	ok("User alice created", "user", "add", "alice:alicepw", "--interactive=false")
	ok("Role ro-a is granted to user alice", "user", "grant-role", "alice", "ro-a")
	ok("OK", "put", "/a/x", "1")
	ok("OK", "put", "/b/y", "2")
	ok("Authentication Enabled", "auth", "enable")

	fails("etcdserver: user name is empty", "put", "/a/x", "2")
	fails("etcdserver: authentication failed, invalid user ID or password", "--user", "alice:wrong", "get", "/a/x")
	ok("OK", "--user", "root:rootpw", "put", "/a/x", "3")
	ok("3", "--user", "alice:alicepw", "get", "/a/x", "--print-value-only")
	fails("etcdserver: permission denied", "--user", "alice:alicepw", "put", "/a/x", "4")
	fails("etcdserver: permission denied", "--user", "alice:alicepw", "get", "/b/y")
	fails("etcdserver: permission denied", "--user", "alice:alicepw", "user", "list")
	ok("alice", "--user", "root:rootpw", "user", "list")
	ok("[/a/, /a0) (prefix /a/)", "--user", "root:rootpw", "role", "get", "ro-a")

	// A session's token ends with a password change: the client's next
	// call re-authenticates with the old password and fails.
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), Username: "alice", Password: "alicepw", DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Get(ctxT(t, 5*time.Second), "/a/x"); err != nil {
		t.Fatalf("alice's session: %v", err)
	}
	if out := c.etcdctl("newpw\n", "--user", "root:rootpw", "user", "passwd", "alice", "--interactive=false"); !strings.Contains(out, "Password updated") {
		t.Fatalf("user passwd: %s", out)
	}
	if _, err := cli.Get(ctxT(t, 5*time.Second), "/a/x"); err == nil || !strings.Contains(err.Error(), "authentication failed") {
		t.Fatalf("alice's session after her password changed: %v", err)
	}
	ok("3", "--user", "alice:newpw", "get", "/a/x", "--print-value-only")

	// Corruption checks ask peers over the peer port: auth does not stand
	// in their way. A restarted member's initial check hears both peers.
	p := c.procs[1]
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	c.start(p)
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(p.log.String(), `"peersAnswered":2`); {
		if time.Now().After(deadline) {
			t.Fatalf("no initial check with both peers answering under auth:\n%s", p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// The member stopped may have led: until the next leader is elected
	// etcdctl's Authenticate meets "leader changed" or "no leader", and an
	// operator retries, as this does.
	for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, err := etcdctlAt(c.endpoints(), "--user", "root:rootpw", "auth", "disable")
		if err == nil && strings.Contains(out, "Authentication Disabled") {
			break
		}
		if !strings.Contains(out, "leader changed") && !strings.Contains(out, "no leader") || time.Now().After(deadline) {
			t.Fatalf("etcdctl auth disable: %v\n%s\nwant %q", err, out, "Authentication Disabled")
		}
	}
	ok("OK", "put", "/b/y", "5")

	// No password, and no token, in any line a member logged.
	for _, p := range c.procs {
		log := p.log.String()
		for _, secret := range []string{"rootpw", "alicepw", "newpw", `"token"`} {
			if strings.Contains(log, secret) {
				t.Errorf("%s logged %q", p.name, secret)
			}
		}
	}
}

// TestJWTAuth runs kvd with etcd's jwt tokens (RS256, keys generated
// here): a token is a signed JWT naming its user; a tampered one is
// refused with etcd's invalid-token error; after an auth change the old
// token's revision is too old and clientv3 authenticates again by itself.
func TestJWTAuth(t *testing.T) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	priv := filepath.Join(dir, "jwt.key")
	pub := filepath.Join(dir, "jwt.pub")
	pubDER, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(priv, pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	c := startProcCluster(t, 1, "--bcrypt-cost", "4", "--auth-token", "jwt,sign-method=RS256,pub-key="+pub+",priv-key="+priv+",ttl=1m")
	c.leader(c.client(), nil)
	for _, args := range [][]string{
		{"user", "add", "root:rootpw", "--interactive=false"}, {"user", "grant-role", "root", "root"},
		{"role", "add", "rw-a"}, {"role", "grant-permission", "rw-a", "readwrite", "/a/", "--prefix=true"},
		{"user", "add", "alice:alicepw", "--interactive=false"}, {"user", "grant-role", "alice", "rw-a"},
		{"auth", "enable"},
	} {
		if out, err := etcdctlAt(c.endpoints(), args...); err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
	}
	cli := c.client()
	resp, err := cli.Authenticate(ctxT(t, 5*time.Second), "alice", "alicepw")
	if err != nil {
		t.Fatalf("authenticate: %v", err)
	}
	if strings.Count(resp.Token, ".") != 2 {
		t.Fatalf("token %q: want a JWT", resp.Token)
	}
	tampered := resp.Token[:len(resp.Token)-2] + "xx"
	_, err = pb.NewKVClient(cli.ActiveConnection()).Range(metadata.AppendToOutgoingContext(ctxT(t, 5*time.Second), "token", tampered), &pb.RangeRequest{Key: []byte("/a/x")})
	if err == nil || !strings.Contains(err.Error(), "etcdserver: invalid auth token") {
		t.Fatalf("a tampered token: %v", err)
	}
	alice, err := clientv3.New(clientv3.Config{Endpoints: c.endpoints(), Username: "alice", Password: "alicepw", DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer alice.Close()
	if _, err := alice.Put(ctxT(t, 5*time.Second), "/a/x", "1"); err != nil {
		t.Fatalf("alice's put: %v", err)
	}
	if out, err := etcdctlAt(c.endpoints(), "--user", "root:rootpw", "role", "add", "other"); err != nil {
		t.Fatalf("role add: %v\n%s", err, out)
	}
	// alice's token names the revision before the role was added.
	if _, err := alice.Put(ctxT(t, 5*time.Second), "/a/x", "2"); err != nil {
		t.Fatalf("alice's put after an auth change (clientv3 authenticates again on an old revision): %v", err)
	}
	if _, err := alice.Put(ctxT(t, 5*time.Second), "/b/x", "2"); err == nil || !strings.Contains(err.Error(), "permission denied") {
		t.Fatalf("alice's put outside her role: %v", err)
	}
}

// TestClientCertCommonNameIsTheUser: with --client-cert-auth and auth on,
// a call with no token is made as the user its verified certificate's
// common name names, as etcd does.
func TestClientCertCommonNameIsTheUser(t *testing.T) {
	files := newTLSFiles(t, 1)
	alice := files.ca.Issue(t, tlstest.Leaf{CommonName: "alice"})
	aliceCert, aliceKey := alice.Write(t, files.dir, "alice")
	c := startTLSProcCluster(t, 1, func(i int) []string { return append(files.memberArgs(i), "--bcrypt-cost", "4") })
	eps := c.endpoints()
	asRoot := []string{"--cacert", files.caFile, "--cert", files.clientCert, "--key", files.clientKey} // CN root
	asAlice := []string{"--cacert", files.caFile, "--cert", aliceCert, "--key", aliceKey}
	c.leader(tlsClient(t, eps, files.clientTLS), nil)
	for _, args := range [][]string{
		{"user", "add", "root:rootpw", "--interactive=false"}, {"user", "grant-role", "root", "root"},
		{"role", "add", "ro-a"}, {"role", "grant-permission", "ro-a", "read", "/a/", "--prefix=true"},
		{"user", "add", "alice:alicepw", "--interactive=false"}, {"user", "grant-role", "alice", "ro-a"},
		{"put", "/a/x", "1"}, {"auth", "enable"},
	} {
		if out, err := etcdctlTLS(eps, asRoot, args...); err != nil {
			t.Fatalf("etcdctl %v: %v\n%s", args, err, out)
		}
	}
	if out, err := etcdctlTLS(eps, asRoot, "put", "/b/y", "2"); err != nil {
		t.Fatalf("root by certificate: %v\n%s", err, out)
	}
	if out, err := etcdctlTLS(eps, asAlice, "get", "/a/x", "--print-value-only"); err != nil || strings.TrimSpace(out) != "1" {
		t.Fatalf("alice by certificate reads /a/x: %v\n%s", err, out)
	}
	if out, err := etcdctlTLS(eps, asAlice, "put", "/a/x", "2"); err == nil || !strings.Contains(out, "permission denied") {
		t.Fatalf("alice by certificate writes /a/x: %v\n%s", err, out)
	}
}
