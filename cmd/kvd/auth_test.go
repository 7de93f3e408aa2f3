package main

import (
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// TestEtcdctlAuth walks etcd's auth setup with the real etcdctl against a
// 3-member kvd cluster: root and a read-only role on /a/, auth enable;
// then what each caller may do, a password change that ends a session's
// token, and auth disable.
func TestEtcdctlAuth(t *testing.T) {
	c := startProcCluster(t, 3, "--bcrypt-cost", "4")
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

	ok("Authentication Disabled", "--user", "root:rootpw", "auth", "disable")
	ok("OK", "put", "/b/y", "5")
}
