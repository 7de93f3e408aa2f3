package main

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/internal/procs"
)

// etcdctl runs the real etcdctl against the cluster's endpoints.
func (c *procCluster) etcdctl(stdin string, args ...string) string {
	c.t.Helper()
	cmd := exec.Command(etcdctlBin, append([]string{"--endpoints", strings.Join(c.endpoints(), ","), "--command-timeout", "10s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		c.t.Fatalf("etcdctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// TestEtcdctlSeedCommands runs the seed's etcdctl walkthrough with the real
// etcdctl against a 3-member cluster of kvd processes.
func TestEtcdctlSeedCommands(t *testing.T) {
	c := startProcCluster(t, 3)
	c.leader(c.client(), nil)

	// etcdctl watch /config/database/ --prefix, running through the writes.
	var watchOut procs.Output
	watch := exec.Command(etcdctlBin, "--endpoints", strings.Join(c.endpoints(), ","), "watch", "/config/database/", "--prefix")
	watch.Stdout, watch.Stderr = &watchOut, &watchOut
	if err := watch.Start(); err != nil {
		t.Fatal(err)
	}
	watchDone := make(chan struct{})
	go func() { watch.Wait(); close(watchDone) }()
	defer func() {
		watch.Process.Kill()
		<-watchDone
	}()
	time.Sleep(300 * time.Millisecond) // let the watch be created; the output check below would show a miss

	for _, kv := range [][2]string{{"/config/database/host", "db.example.com"}, {"/config/database/port", "5432"}, {"/config/database/name", "myapp"}} {
		if out := c.etcdctl("", "put", kv[0], kv[1]); out != "OK\n" {
			t.Fatalf("put %s: %q", kv[0], out)
		}
	}
	if out := c.etcdctl("", "get", "/config/database/host"); out != "/config/database/host\ndb.example.com\n" {
		t.Fatalf("get host: %q", out)
	}
	if out := c.etcdctl("", "get", "/config/database/", "--prefix"); out != "/config/database/host\ndb.example.com\n/config/database/name\nmyapp\n/config/database/port\n5432\n" {
		t.Fatalf("get --prefix: %q", out)
	}
	if out := c.etcdctl("", "get", "/config/database/", "--prefix", "--print-value-only"); out != "db.example.com\nmyapp\n5432\n" {
		t.Fatalf("get --prefix --print-value-only: %q", out)
	}
	var js struct {
		Header struct {
			ClusterID uint64 `json:"cluster_id"`
			MemberID  uint64 `json:"member_id"`
			Revision  int64  `json:"revision"`
			RaftTerm  uint64 `json:"raft_term"`
		} `json:"header"`
		Kvs []struct {
			Key   []byte `json:"key"`
			Value []byte `json:"value"`
		} `json:"kvs"`
		Count int `json:"count"`
	}
	out := c.etcdctl("", "get", "/config/database/", "--prefix", "-w", "json")
	if err := json.Unmarshal([]byte(out), &js); err != nil {
		t.Fatalf("get -w json: %v\n%s", err, out)
	}
	if js.Count != 3 || len(js.Kvs) != 3 || string(js.Kvs[1].Value) != "myapp" || js.Header.ClusterID == 0 || js.Header.MemberID == 0 || js.Header.RaftTerm == 0 || js.Header.Revision != 4 {
		t.Fatalf("get -w json: %s", out)
	}
	if out := c.etcdctl("", "del", "/config/database/host"); out != "1\n" {
		t.Fatalf("del host: %q", out)
	}
	if out := c.etcdctl("", "del", "/config/database/", "--prefix"); out != "2\n" {
		t.Fatalf("del --prefix: %q", out)
	}
	// etcdctl txn from stdin: compares, a blank line, success ops, a blank
	// line, failure ops (the seed's text with the separators etcdctl needs).
	txn := "mod(\"/config/feature/enabled\") = \"0\"\n\nput /config/feature/enabled \"true\"\nput /config/feature/rollout \"10\"\nget /config/feature/enabled\n\n\n"
	if out := c.etcdctl(txn, "txn"); out != "SUCCESS\n\nOK\n\nOK\n\n/config/feature/enabled\ntrue\n" {
		t.Fatalf("txn: %q", out)
	}
	if out := c.etcdctl(txn, "txn"); out != "FAILURE\n" {
		t.Fatalf("txn again (mod revision no longer 0): %q", out)
	}

	want := "PUT\n/config/database/host\ndb.example.com\nPUT\n/config/database/port\n5432\nPUT\n/config/database/name\nmyapp\n" +
		"DELETE\n/config/database/host\n\nDELETE\n/config/database/name\n\nDELETE\n/config/database/port\n\n"
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && watchOut.Len() < len(want) {
		time.Sleep(20 * time.Millisecond)
	}
	watch.Process.Kill()
	<-watchDone
	if got := watchOut.String(); got != want {
		t.Fatalf("watch --prefix printed %q, want %q", got, want)
	}
	if out := c.etcdctl("", "endpoint", "health"); strings.Count(out, "is healthy") != 3 {
		t.Fatalf("endpoint health: %q", out)
	}
	if out := c.etcdctl("", "member", "list"); strings.Count(out, "started") != 3 {
		t.Fatalf("member list: %q", out)
	}
}
