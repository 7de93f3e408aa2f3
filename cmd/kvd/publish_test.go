package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// A member answers clients only once its name and client URLs are in the
// replicated membership, as etcd (ReadyNotify): alone of three it cannot
// publish, and its client port stays silent; once its peers start, a member
// list through it names every member.
func TestClientsAreServedOnceTheMemberHasPublished(t *testing.T) {
	c := newProcCluster(t, 3, "http", func(int) []string { return nil })
	first := c.procs[0]
	c.start(first)
	// Its client port is bound early, as etcd's: wait for that, then ask.
	addr := strings.TrimPrefix(first.clientURL, "http://")
	for deadline := time.Now().Add(10 * time.Second); ; {
		conn, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			conn.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s never listened on %s: %v", first.name, addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	hc := &http.Client{Timeout: time.Second}
	if resp, err := hc.Get(first.clientURL + "/metrics"); err == nil {
		resp.Body.Close()
		t.Fatalf("a member that cannot publish answered /metrics on its client port: %s", resp.Status)
	}
	for _, p := range c.procs[1:] {
		c.start(p)
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{first.clientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	resp, err := cli.MemberList(ctx)
	if err != nil {
		t.Fatalf("member list through %s: %v", first.name, err)
	}
	if len(resp.Members) != 3 {
		t.Fatalf("member list through %s: %d members", first.name, len(resp.Members))
	}
	for _, m := range resp.Members {
		// Others may still be publishing; the member that answers has.
		if m.ID == resp.Header.MemberId && (m.Name != first.name || len(m.ClientURLs) == 0) {
			t.Errorf("member list through %s shows it as %v", first.name, m)
		}
	}
}
