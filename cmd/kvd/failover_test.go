package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/node"
)

// TestSIGKILLLeader kills the leader process mid-load: a new leader is
// elected, a client configured with every endpoint carries on, the killed
// member restarts and catches up, and no acknowledged write is lost. A small
// --snapshot-count makes the restarted member catch up from a snapshot sent
// over the peer transport, not from the log alone.
func TestSIGKILLLeader(t *testing.T) {
	c := startProcCluster(t, 3, "--snapshot-count", "40")
	cli := c.client()
	old := c.leader(cli, nil)

	acked := map[string]string{}
	write := func(i int) bool {
		key, val := fmt.Sprintf("/acked/%04d", i), fmt.Sprintf("v%d", i)
		cx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		if _, err := cli.Put(cx, key, val); err != nil {
			return false // indeterminate: not counted as acknowledged
		}
		acked[key] = val
		return true
	}
	for i := range 100 {
		if !write(i) {
			t.Fatalf("write %d failed before any fault", i)
		}
	}

	if err := old.cmd.Process.Kill(); err != nil { // SIGKILL
		t.Fatal(err)
	}
	<-old.exited
	killedAt := time.Now()
	ok := 0
	for i := 100; i < 300 && time.Since(killedAt) < 30*time.Second; i++ {
		if write(i) {
			ok++
		}
	}
	if ok < 150 {
		t.Fatalf("only %d of 200 writes succeeded after the leader was killed", ok)
	}
	newLeader := c.leader(cli, old)
	if newLeader == old {
		t.Fatal("the killed member is still reported leader")
	}

	c.start(old) // same flags, same data dir
	deadline := time.Now().Add(20 * time.Second)
	oldCli, err := clientv3.New(clientv3.Config{Endpoints: []string{old.clientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer oldCli.Close()
	for {
		cx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := oldCli.Get(cx, "/acked/", clientv3.WithPrefix(), clientv3.WithSerializable(), clientv3.WithCountOnly())
		cancel()
		if err == nil && resp.Count == int64(len(acked)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted member did not catch up within 20s (count %v, err %v, want %d)\n%s", resp, err, len(acked), old.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Every acknowledged write, read linearizably through every member.
	for _, p := range c.procs {
		pc, err := clientv3.New(clientv3.Config{Endpoints: []string{p.clientURL}, DialTimeout: 5 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		resp, err := pc.Get(ctxT(t, 10*time.Second), "/acked/", clientv3.WithPrefix())
		pc.Close()
		if err != nil {
			t.Fatalf("read from %s: %v", p.name, err)
		}
		got := map[string]string{}
		for _, kv := range resp.Kvs {
			got[string(kv.Key)] = string(kv.Value)
		}
		for k, v := range acked {
			if got[k] != v {
				t.Fatalf("%s lost acknowledged write %s=%s (has %q)", p.name, k, v, got[k])
			}
		}
	}
}

// TestSIGTERMIsGraceful: SIGTERM makes kvd exit 0; the restarted member
// keeps its data.
func TestSIGTERMIsGraceful(t *testing.T) {
	c := startProcCluster(t, 1)
	cli := c.client()
	c.leader(cli, nil)
	if _, err := cli.Put(ctxT(t, 10*time.Second), "k", "v"); err != nil {
		t.Fatal(err)
	}
	p := c.procs[0]
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("kvd did not exit within 10s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0\n%s", code, p.log.String())
	}
	c.start(p)
	c.leader(cli, nil)
	resp, err := cli.Get(ctxT(t, 10*time.Second), "k")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v" {
		t.Fatalf("after restart get k: %v, %v", resp, err)
	}
}

func TestFlags(t *testing.T) {
	var stderr strings.Builder
	if code := run(context.Background(), []string{"--no-such-flag"}, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown flag --no-such-flag") {
		t.Fatalf("unknown flag: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	code := run(context.Background(), []string{"--name", "a", "--initial-cluster", "b=http://127.0.0.1:1", "--election-timeout", "10", "--log-level", "loud"}, &stderr)
	for _, want := range []string{"no member named \"a\"", "--election-timeout", "--log-level"} {
		if code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("bad flags: exit %d, stderr %q lacks %q", code, stderr.String(), want)
		}
	}
	f, err := parseFlags(nil, &stderr)
	if err != nil {
		t.Fatal(err)
	}
	if f.name != "default" || f.dataDir != "default.etcd" || f.listenClientURLs[0] != "http://127.0.0.1:2379" ||
		f.initialCluster != "default=http://127.0.0.1:2380" || f.maxTxnOps != 128 || f.maxRequestBytes != 1536*1024 ||
		f.corruptCheckTime != 0 || f.watchProgressNotify != 10*time.Minute {
		t.Fatalf("defaults %+v differ from etcd's", f)
	}
	f, err = parseFlags([]string{"--corrupt-check-time", "2m", "--watch-progress-notify-interval", "5s"}, &stderr)
	if err != nil || f.corruptCheckTime != 2*time.Minute || f.watchProgressNotify != 5*time.Second {
		t.Fatalf("durations: %+v, %v", f, err)
	}
	// etcd's feature gates: its names, true or false; an unknown gate is
	// refused as etcd refuses it.
	f, err = parseFlags([]string{"--feature-gates", "InitialCorruptCheck=true,LeaseCheckpoint=false"}, &stderr)
	if err != nil || !f.gates["InitialCorruptCheck"] || f.gates["LeaseCheckpoint"] || !f.gates["FastLeaseKeepAlive"] {
		t.Fatalf("feature gates: %v, %v", f.gates, err)
	}
	if _, err := parseFlags([]string{"--feature-gates", "NoSuchGate=true,InitialCorruptCheck=maybe"}, &stderr); err == nil ||
		!strings.Contains(err.Error(), "unrecognized feature gate: NoSuchGate") || !strings.Contains(err.Error(), "invalid value of InitialCorruptCheck") {
		t.Fatalf("bad feature gates: %v", err)
	}
	// Auto compaction as etcd reads it: hours without a unit in periodic
	// mode, a count in revision mode, "0" off.
	for _, c := range []struct {
		args []string
		want node.AutoCompaction
		bad  string
	}{
		{nil, node.AutoCompaction{}, ""},
		{[]string{"--auto-compaction-retention", "1"}, node.AutoCompaction{Period: time.Hour}, ""},
		{[]string{"--auto-compaction-retention", "30m"}, node.AutoCompaction{Period: 30 * time.Minute}, ""},
		{[]string{"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1000"}, node.AutoCompaction{Revisions: 1000}, ""},
		{[]string{"--auto-compaction-mode", "revision", "--auto-compaction-retention", "1h"}, node.AutoCompaction{}, "count of revisions"},
		{[]string{"--auto-compaction-retention", "soon"}, node.AutoCompaction{}, "want a duration"},
		{[]string{"--auto-compaction-mode", "weekly"}, node.AutoCompaction{}, "periodic or revision"},
	} {
		f, err := parseFlags(c.args, &stderr)
		if c.bad != "" {
			if err == nil || !strings.Contains(err.Error(), c.bad) {
				t.Errorf("%v: %v, want an error about %q", c.args, err, c.bad)
			}
			continue
		}
		got, aerr := f.autoCompaction()
		if err != nil || aerr != nil || got.Period != c.want.Period || got.Revisions != c.want.Revisions {
			t.Errorf("%v: %+v (%v, %v), want %+v", c.args, got, err, aerr, c.want)
		}
	}
}

// TestAutoCompactionPeriodicProcess runs kvd with a one-second periodic
// retention: after writes over a few seconds, the oldest revisions are
// compacted away and the newest second's are still there.
func TestAutoCompactionPeriodicProcess(t *testing.T) {
	c := startProcCluster(t, 1, "--auto-compaction-retention", "1s")
	cli := c.client()
	c.leader(cli, nil)
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := cli.Put(ctxT(t, 5*time.Second), "k", "v")
		if err != nil {
			t.Fatal(err)
		}
		st, err := cli.Status(ctxT(t, 5*time.Second), c.procs[0].clientURL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := cli.Get(ctxT(t, 5*time.Second), "k", clientv3.WithRev(2)); errors.Is(err, rpctypes.ErrCompacted) {
			if _, err := cli.Get(ctxT(t, 5*time.Second), "k", clientv3.WithRev(resp.Header.Revision)); err != nil {
				t.Fatalf("the newest revision %d is gone too: %v (status %+v)", resp.Header.Revision, err, st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("revision 2 still readable after 10 s of a 1 s periodic retention (store at %d)", resp.Header.Revision)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
