package main

import (
	"context"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/transport"
)

// startMember runs a one-member kvd in process on loopback and returns its
// client URL; it stops when the test ends.
func startMember(t *testing.T) string {
	t.Helper()
	peerLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	clientLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	self := api.MemberInfo{Name: "smoke", PeerURLs: []string{"http://" + peerLn.Addr().String()},
		ClientURLs: []string{"http://" + clientLn.Addr().String()}}
	id := api.MemberID(self.PeerURLs, "kvbench-smoke")
	clusterID := api.ClusterID([]uint64{id})
	tr, err := transport.New(transport.Options{ID: id, ClusterID: clusterID})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := api.New(api.Config{
		Node: node.Config{ID: id, ClusterID: clusterID, Peers: []uint64{id}, FS: disk.OSFS{},
			Dir: filepath.Join(t.TempDir(), "member"), TickInterval: 10 * time.Millisecond},
		Transport: tr, Self: self,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	go tr.Serve(peerLn)
	go srv.Run(ctx)
	go srv.ServeClient(ctx, clientLn, time.Second)
	t.Cleanup(func() {
		stop()
		<-srv.Done()
		tr.Close()
	})
	return self.ClientURLs[0]
}

// TestEveryLoadAgainstOneMember drives a few hundred operations of each
// load through the official client against a real member.
func TestEveryLoadAgainstOneMember(t *testing.T) {
	ep := startMember(t)
	for _, load := range Loads {
		o := Options{Load: load, Endpoints: []string{ep}, Clients: 2, Concurrency: 8, Total: 200,
			Keyspace: 150, Watchers: 3, Duration: 20 * time.Second}
		r, err := Run(t.Context(), o, nil)
		if err != nil {
			t.Fatalf("%s: %v", load, err)
		}
		if r.Errors != 0 || r.Ops != 200 {
			t.Fatalf("%s: %d ops, %d errors (%v), want 200 and 0", load, r.Ops, r.Errors, r.ErrorSample)
		}
		if !(0 < r.P50Ms && r.P50Ms <= r.P99Ms && r.P99Ms <= r.MaxMs) || r.OpsPerSec <= 0 {
			t.Fatalf("%s: inconsistent figures %+v", load, r)
		}
	}
}

// TestRunCountsFailuresAsErrors points the tool at a member that is gone:
// operations fail and are counted, none is reported as served.
func TestRunCountsFailuresAsErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	o := Options{Load: "put", Endpoints: []string{"http://" + addr}, Clients: 1, Concurrency: 2, Total: 4,
		RequestTimeout: 200 * time.Millisecond, Duration: 10 * time.Second}
	r, err := Run(t.Context(), o, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.Ops != 0 || r.Errors != 4 || len(r.ErrorSample) == 0 {
		t.Fatalf("against nothing: %d ops served, %d errors %v", r.Ops, r.Errors, r.ErrorSample)
	}
}
