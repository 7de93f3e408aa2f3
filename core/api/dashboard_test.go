package api

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/dashboard"
)

// getJSON fetches url into v, with basic credentials when user is set,
// and returns the status code.
func getJSON(t *testing.T, url, user, password string, v any) int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("GET %s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// TestDashboardFiguresOfARealCluster: member.json reports what the member
// loop published and what the gRPC metrics counted, and the cluster view
// a follower serves names every member, the leader, and the calls made.
func TestDashboardFiguresOfARealCluster(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	cli := c.client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i := range 20 {
		if _, err := cli.Put(ctx, fmt.Sprintf("/k/%d", i), "v"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := cli.Get(ctx, "/k/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	var writes, reads uint64
	for _, m := range c.members {
		var got dashboard.Member
		if code := getJSON(t, m.clientURL+"/dashboard/member.json", "", "", &got); code != http.StatusOK {
			t.Fatalf("member.json of %s: %d", m.cfg.Self.Name, code)
		}
		st := m.srv.Status()
		if got.Name != m.cfg.Self.Name || got.ID != fmt.Sprintf("%x", m.srv.ID()) || got.Term != st.Term || got.LeaderID != fmt.Sprintf("%x", st.Leader) {
			t.Errorf("member.json %+v does not match the member's status %+v", got, st)
		}
		if want := map[bool]string{true: "leader", false: "follower"}[st.IsLeader]; got.Role != want {
			t.Errorf("%s: role %q, want %q", got.Name, got.Role, want)
		}
		if st.IsLeader && got.Keys != 20 { // the leader applied every acknowledged put
			t.Errorf("leader %s: keys %d after 20 puts", got.Name, got.Keys)
		}
		if len(got.Latency) == 0 && got.Reads+got.Writes > 0 {
			t.Errorf("%s: calls counted without a latency histogram", got.Name)
		}
		writes += got.Writes
		reads += got.Reads
	}
	if writes != 20 || reads != 1 {
		t.Errorf("members counted %d writes and %d reads, want 20 and 1", writes, reads)
	}

	var follower *testMember
	for _, m := range c.members {
		if !m.srv.Status().IsLeader {
			follower = m
			break
		}
	}
	var v dashboard.View
	if code := getJSON(t, follower.clientURL+"/dashboard/state.json", "", "", &v); code != http.StatusOK {
		t.Fatalf("state.json: %d", code)
	}
	leaderID := fmt.Sprintf("%x", follower.srv.Status().Leader)
	if v.Cluster.MembersTotal != 3 || v.Cluster.MembersUp != 3 || v.Cluster.LeaderID != leaderID || v.Cluster.Health != "healthy" || v.Cluster.Keys != 20 {
		t.Errorf("cluster view served by a follower: %+v (leader %s)", v.Cluster, leaderID)
	}
}

// TestDashboardAsksForAUserOnceAuthIsOn: with auth enabled the page and
// its stream ask for a user of the cluster (basic credentials, checked as
// Authenticate checks them); member.json, which holds what /metrics
// serves, stays open as /metrics does.
func TestDashboardAsksForAUserOnceAuthIsOn(t *testing.T) {
	c := newTestCluster(t, clusterOpts{})
	cli := c.client()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	url := c.members[0].clientURL
	if code := getJSON(t, url+"/dashboard/state.json", "", "", nil); code != http.StatusOK {
		t.Fatalf("before auth: %d", code)
	}
	if _, err := cli.UserAdd(ctx, "root", "rootpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserGrantRole(ctx, "root", "root"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.UserAdd(ctx, "viewer", "viewerpw"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.AuthEnable(ctx); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{"/dashboard", "/dashboard/state.json", "/dashboard/events"} {
		if code := getJSON(t, url+path, "", "", nil); code != http.StatusUnauthorized {
			t.Errorf("%s without a user: %d, want 401", path, code)
		}
		if code := getJSON(t, url+path, "viewer", "wrong", nil); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong password: %d, want 401", path, code)
		}
	}
	var v dashboard.View
	if code := getJSON(t, url+"/dashboard/state.json", "viewer", "viewerpw", &v); code != http.StatusOK || v.Cluster.MembersTotal != 1 {
		t.Errorf("state.json as viewer: %d %+v", code, v.Cluster)
	}
	if code := getJSON(t, url+"/dashboard/member.json", "", "", nil); code != http.StatusOK {
		t.Errorf("member.json without a user: %d", code)
	}
}
