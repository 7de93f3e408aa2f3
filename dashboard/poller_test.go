package dashboard

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeMember serves a member.json whose figures the test sets.
type fakeMember struct {
	mu sync.Mutex
	m  Member
}

func (f *fakeMember) set(fn func(*Member)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(&f.m)
}

func (f *fakeMember) get() Member {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.m
}

func (f *fakeMember) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/dashboard/member.json" {
		http.NotFound(w, r)
		return
	}
	json.NewEncoder(w).Encode(f.get())
}

// fakeSource is a three-member cluster: member 1 serves the page, 2 and 3
// answer over HTTP.
type fakeSource struct {
	self  *fakeMember
	peers []Peer
}

func (s fakeSource) Self() Member   { return s.self.get() }
func (s fakeSource) SelfID() uint64 { return 1 }
func (s fakeSource) Peers() []Peer  { return s.peers }

// latency is a cumulative histogram with n calls at or below 1 ms, and
// slow calls between 1 ms and 10 ms.
func latency(fast, slow uint64) []Bucket {
	return []Bucket{{UpperSeconds: 0.001, Count: fast}, {UpperSeconds: 0.01, Count: fast + slow}, {Inf: true, Count: fast + slow}}
}

func newFakeCluster(t *testing.T) (fakeSource, []*fakeMember, []*httptest.Server) {
	members := make([]*fakeMember, 3)
	var servers []*httptest.Server
	src := fakeSource{}
	for i := range members {
		id := uint64(i + 1)
		members[i] = &fakeMember{m: Member{ID: []string{"1", "2", "3"}[i], Name: []string{"a", "b", "c"}[i],
			Role: "follower", LeaderID: "2", Term: 3, Keys: 10 + i, Watchers: 1, Leases: 2, LeaderChanges: 1}}
		peer := Peer{ID: id, Name: members[i].m.Name}
		if i > 0 {
			ts := httptest.NewServer(members[i])
			t.Cleanup(ts.Close)
			servers = append(servers, ts)
			peer.ClientURLs = []string{ts.URL}
		}
		src.peers = append(src.peers, peer)
	}
	members[1].m.Role = "leader"
	src.self = members[0]
	return src, members, servers
}

// TestPollerJudgesTheCluster: rates come from counter deltas over the
// poll interval, the p99 from the histogram deltas, keys and leases from
// the leader, watchers summed; a member that stops answering is marked
// down with the reason and the cluster degraded, and past a quorum lost
// unhealthy.
func TestPollerJudgesTheCluster(t *testing.T) {
	src, members, servers := newFakeCluster(t)
	now := time.Unix(1000, 0)
	p, err := NewPoller(src, Options{Now: func() time.Time { return now }, HistoryPoints: 3})
	if err != nil {
		t.Fatal(err)
	}
	view := func() View {
		t.Helper()
		p.poll(context.Background())
		var v View
		if err := json.Unmarshal(p.Latest(), &v); err != nil {
			t.Fatal(err)
		}
		return v
	}
	v := view()
	if v.Cluster.Health != "healthy" || v.Cluster.Leader != "b" || v.Cluster.MembersUp != 3 || v.ServedBy != "a" {
		t.Fatalf("first poll: %+v", v.Cluster)
	}
	if v.Cluster.Keys != 11 || v.Cluster.Watchers != 3 || v.Cluster.Leases != 2 {
		t.Errorf("keys %d (want the leader's 11), watchers %d (want 3 summed), leases %d", v.Cluster.Keys, v.Cluster.Watchers, v.Cluster.Leases)
	}
	if v.Cluster.ReadsPerSecond != 0 || v.Cluster.P99Ms != -1 {
		t.Errorf("no rate before two samples: reads/s %v p99 %v", v.Cluster.ReadsPerSecond, v.Cluster.P99Ms)
	}

	// Two seconds later: a did 200 reads, b 100 writes; 98 calls fast, 2 slow.
	now = now.Add(2 * time.Second)
	members[0].set(func(m *Member) { m.Reads = 200; m.Latency = latency(98, 0) })
	members[1].set(func(m *Member) { m.Writes = 100; m.Latency = latency(0, 2) })
	members[2].set(func(m *Member) { m.Latency = latency(0, 0) })
	// The first sample had no histogram: give every member one now and
	// sample again, so the deltas are comparable.
	v = view()
	now = now.Add(2 * time.Second)
	members[0].set(func(m *Member) { m.Reads = 400; m.Latency = latency(196, 0) })
	members[1].set(func(m *Member) { m.Writes = 300; m.Latency = latency(0, 4) })
	v = view()
	if v.Cluster.ReadsPerSecond != 100 || v.Cluster.WritesPerSecond != 100 {
		t.Errorf("reads/s %v writes/s %v, want 100 and 100", v.Cluster.ReadsPerSecond, v.Cluster.WritesPerSecond)
	}
	// 98 of 100 calls within 1 ms, the p99 falls in (1 ms, 10 ms]: rank 99
	// is half way through the two slow calls.
	if want := 1 + 9*0.5; math.Abs(v.Cluster.P99Ms-want) > 1e-9 {
		t.Errorf("p99 %v ms, want %v", v.Cluster.P99Ms, want)
	}
	if len(v.History) != 3 {
		t.Errorf("history holds %d points, want HistoryPoints 3", len(v.History))
	}

	servers[1].Close() // c stops answering
	v = view()
	c := v.Members[2]
	if c.Up || c.Error == "" || c.LastSeenUnixMs == 0 || c.Name != "c" {
		t.Errorf("c after its server closed: %+v", c)
	}
	if v.Cluster.Health != "degraded" || !strings.Contains(v.Cluster.Reason, "c") {
		t.Errorf("one member down: health %q reason %q", v.Cluster.Health, v.Cluster.Reason)
	}
	servers[0].Close() // b too: no quorum
	v = view()
	if v.Cluster.Health != "unhealthy" || !strings.Contains(v.Cluster.Reason, "no quorum") {
		t.Errorf("two of three down: health %q reason %q", v.Cluster.Health, v.Cluster.Reason)
	}
	if len(v.History) != 3 {
		t.Errorf("history grew past its bound: %d", len(v.History))
	}
}

// TestPollerNoLeader: members that answer but name no leader make the
// cluster unhealthy, and the page says so.
func TestPollerNoLeader(t *testing.T) {
	src, members, _ := newFakeCluster(t)
	for _, m := range members {
		m.set(func(m *Member) { m.Role, m.LeaderID = "follower", "0" })
	}
	p, err := NewPoller(src, Options{})
	if err != nil {
		t.Fatal(err)
	}
	p.poll(context.Background())
	var v View
	json.Unmarshal(p.Latest(), &v)
	if v.Cluster.Health != "unhealthy" || v.Cluster.Leader != "" || !strings.Contains(v.Cluster.Reason, "no leader") {
		t.Errorf("no leader: %+v", v.Cluster)
	}
}

func TestQuantile(t *testing.T) {
	for _, c := range []struct {
		name    string
		buckets []Bucket
		q, want float64
	}{
		{"empty", nil, 0.99, math.NaN()},
		{"no calls", latency(0, 0), 0.99, math.NaN()},
		{"all in the first bucket", latency(100, 0), 0.5, 0.0005},
		{"in the second bucket", latency(50, 50), 0.75, 0.001 + 0.009*0.5},
		{"past the last bound", []Bucket{{UpperSeconds: 0.001, Count: 1}, {Inf: true, Count: 10}}, 0.99, 0.001},
	} {
		got := quantile(c.buckets, c.q)
		if math.IsNaN(c.want) != math.IsNaN(got) || !math.IsNaN(c.want) && math.Abs(got-c.want) > 1e-12 {
			t.Errorf("%s: quantile %v = %v, want %v", c.name, c.q, got, c.want)
		}
	}
}

func TestOptionsValidateReportsEveryProblem(t *testing.T) {
	o := Options{Interval: time.Second, HistoryPoints: -1, FetchTimeout: 2 * time.Second, MemberJSONBytesMax: -1}
	err := o.Validate()
	for _, field := range []string{"HistoryPoints", "FetchTimeout", "MemberJSONBytesMax"} {
		if err == nil || !strings.Contains(err.Error(), field) {
			t.Errorf("Validate does not name %s: %v", field, err)
		}
	}
}

// TestEventsStreamViewsAndAuth: the event stream sends the newest view at
// once and then each new one, without the page asking again; with an
// Authorize that refuses, the page and the stream answer 401 with a Basic
// challenge while member.json stays open.
func TestEventsStreamViewsAndAuth(t *testing.T) {
	src, _, _ := newFakeCluster(t)
	p, err := NewPoller(src, Options{Interval: 50 * time.Millisecond, FetchTimeout: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var refuse bool
	ts := httptest.NewServer(Handler(Config{Poller: p, Source: src, Context: ctx, Authorize: func(*http.Request) error {
		if refuse {
			return ErrUnauthorized
		}
		return nil
	}}))
	defer ts.Close()

	resp, err := http.Get(ts.URL + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("events content type %q", ct)
	}
	r := bufio.NewReader(resp.Body)
	var times []int64
	for len(times) < 3 {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("after %d views: %v", len(times), err)
		}
		if data, ok := strings.CutPrefix(line, "data: "); ok {
			var v View
			if err := json.Unmarshal([]byte(data), &v); err != nil {
				t.Fatalf("view %q: %v", data, err)
			}
			if v.Cluster.MembersTotal != 3 {
				t.Fatalf("view of %d members", v.Cluster.MembersTotal)
			}
			times = append(times, v.TimeUnixMs)
		}
	}
	if !(times[0] <= times[1] && times[1] <= times[2]) {
		t.Errorf("views not in time order: %v", times)
	}

	refuse = true
	for _, path := range []string{"/dashboard", "/dashboard/events", "/dashboard/state.json"} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s without a user: %s, challenge %q", path, resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	resp, err = http.Get(ts.URL + "/dashboard/member.json")
	if err != nil {
		t.Fatal(err)
	}
	var m Member
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || m.Name != "a" {
		t.Errorf("member.json without a user: %v %+v", err, m)
	}
	resp.Body.Close()

	// The member stopping ends the stream.
	refuse = false
	resp, err = http.Get(ts.URL + "/dashboard/events")
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { _, err := bufio.NewReader(resp.Body).ReadString(0); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, nil) && err.Error() != "EOF" {
			t.Logf("stream ended with %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the event stream outlived the member")
	}
	resp.Body.Close()
}
