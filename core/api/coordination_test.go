package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func TestMutexContention(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	eps := c.endpoints()
	s1, err := concurrency.NewSession(c.client(eps[0]), concurrency.WithTTL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s1.Close()
	s2, err := concurrency.NewSession(c.client(eps[1]), concurrency.WithTTL(2))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	m1 := concurrency.NewMutex(s1, "/lock/")
	m2 := concurrency.NewMutex(s2, "/lock/")
	if err := m1.Lock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := m2.TryLock(ctx(t)); !errors.Is(err, concurrency.ErrLocked) {
		t.Fatalf("TryLock on a held lock: %v, want concurrency.ErrLocked", err)
	}
	acquired := make(chan error, 1)
	go func() { acquired <- m2.Lock(ctx(t)) }()
	select {
	case err := <-acquired:
		t.Fatalf("second session got the lock while the first held it (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := m1.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-acquired:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("second session did not get the lock after the first unlocked")
	}
	// Fencing: the holder's key revision orders the holders.
	if m2.Header().Revision <= m1.Header().Revision {
		t.Fatalf("second holder's revision %d not after the first's %d", m2.Header().Revision, m1.Header().Revision)
	}
	if err := m2.Unlock(ctx(t)); err != nil {
		t.Fatal(err)
	}
}

func TestElectionCampaignObserveResignFailover(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	eps := c.endpoints()
	s1, err := concurrency.NewSession(c.client(eps[0]), concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	s2, err := concurrency.NewSession(c.client(eps[2]), concurrency.WithTTL(1))
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e1 := concurrency.NewElection(s1, "/election/")
	e2 := concurrency.NewElection(s2, "/election/")
	observer := concurrency.NewElection(s2, "/election/")
	obsCtx, cancelObs := context.WithCancel(ctx(t))
	defer cancelObs()
	observed := observer.Observe(obsCtx)

	if err := e1.Campaign(ctx(t), "one"); err != nil {
		t.Fatal(err)
	}
	waitObserved(t, observed, "one")
	if err := e1.Proclaim(ctx(t), "one-again"); err != nil {
		t.Fatal(err)
	}
	waitObserved(t, observed, "one-again")

	won := make(chan error, 1)
	go func() { won <- e2.Campaign(ctx(t), "two") }()
	select {
	case err := <-won:
		t.Fatalf("second candidate won while the first leads (err %v)", err)
	case <-time.After(200 * time.Millisecond):
	}
	if err := e1.Resign(ctx(t)); err != nil {
		t.Fatal(err)
	}
	if err := <-won; err != nil {
		t.Fatal(err)
	}
	waitObserved(t, observed, "two")
	if err := e2.Resign(ctx(t)); err != nil {
		t.Fatal(err)
	}

	// Failover: the leader's session ends (its lease is revoked) and the
	// waiting candidate takes over.
	if err := e1.Campaign(ctx(t), "one"); err != nil {
		t.Fatal(err)
	}
	go func() { won <- e2.Campaign(ctx(t), "two") }()
	waitObserved(t, observed, "one")
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-won:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no failover within 10s after the leader's session closed")
	}
	waitObserved(t, observed, "two")
}

func waitObserved(t *testing.T, ch <-chan *clientv3.GetResponse, want string) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case r, ok := <-ch:
			if !ok {
				t.Fatalf("observe closed before %q", want)
			}
			if len(r.Kvs) > 0 && string(r.Kvs[0].Value) == want {
				return
			}
		case <-timeout:
			t.Fatalf("did not observe leader value %q within 10s", want)
		}
	}
}

// serviceInfo is the seed's service-discovery record.
type serviceInfo struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	Health  string `json:"health"`
}

// register is the seed's ServiceRegistry.Register: a lease, a keepalive and
// a key under /services/<name>/ attached to the lease. Cancelling ctx stops
// the keepalive.
func register(ctx context.Context, t *testing.T, cli *clientv3.Client, s serviceInfo, ttlSeconds int64) {
	t.Helper()
	lease, err := cli.Grant(ctx, ttlSeconds)
	if err != nil {
		t.Fatal(err)
	}
	ka, err := cli.KeepAlive(ctx, lease.ID)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for range ka {
		}
	}()
	data, _ := json.Marshal(s)
	key := fmt.Sprintf("/services/%s/%s:%d", s.Name, s.Address, s.Port)
	if _, err := cli.Put(ctx, key, string(data), clientv3.WithLease(lease.ID)); err != nil {
		t.Fatal(err)
	}
}

func discover(t *testing.T, cli *clientv3.Client, name string) []serviceInfo {
	t.Helper()
	resp, err := cli.Get(ctx(t), "/services/"+name+"/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	var out []serviceInfo
	for _, kv := range resp.Kvs {
		var s serviceInfo
		if err := json.Unmarshal(kv.Value, &s); err != nil {
			t.Fatalf("service record %s: %v", kv.Key, err)
		}
		out = append(out, s)
	}
	return out
}

// TestServiceDiscovery is the seed's service-discovery program: two
// instances register with a 1 s lease kept alive through different members
// (one a follower, which forwards keepalives to the leader); a watcher sees
// them; the one whose keepalive stops disappears after its TTL while the
// other stays.
func TestServiceDiscovery(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	eps := c.endpoints()
	watcher := c.client(eps[0])
	start, err := watcher.Get(ctx(t), "/")
	if err != nil {
		t.Fatal(err)
	}
	wch := watcher.Watch(ctx(t), "/services/api-server/", clientv3.WithPrefix(), clientv3.WithRev(start.Header.Revision+1))

	stayCtx, stopStay := context.WithCancel(context.Background())
	defer stopStay()
	goCtx, stopGo := context.WithCancel(context.Background())
	defer stopGo()
	register(stayCtx, t, c.client(eps[1]), serviceInfo{Name: "api-server", Address: "10.0.0.1", Port: 8080, Health: "healthy"}, 1)
	register(goCtx, t, c.client(eps[2]), serviceInfo{Name: "api-server", Address: "10.0.0.2", Port: 8080, Health: "healthy"}, 1)

	if got := discover(t, watcher, "api-server"); len(got) != 2 || got[0].Address != "10.0.0.1" || got[1].Address != "10.0.0.2" {
		t.Fatalf("discovered %+v, want both instances", got)
	}
	if evs := collectEvents(t, wch, 2); evs[0].Type != mvccpb.PUT || evs[1].Type != mvccpb.PUT {
		t.Fatalf("watch saw %v and %v, want two PUTs", evs[0].Type, evs[1].Type)
	}

	// Kept alive well past the TTL: still registered.
	time.Sleep(2500 * time.Millisecond)
	if got := discover(t, watcher, "api-server"); len(got) != 2 {
		t.Fatalf("after 2.5 s of keepalives discovered %d instances, want 2", len(got))
	}

	stopGo()
	ev := collectEvents(t, wch, 1)[0]
	if ev.Type != mvccpb.DELETE || string(ev.Kv.Key) != "/services/api-server/10.0.0.2:8080" {
		t.Fatalf("after stopping a keepalive the watch saw %v %s, want the DELETE of 10.0.0.2", ev.Type, ev.Kv.Key)
	}
	if got := discover(t, watcher, "api-server"); len(got) != 1 || got[0].Address != "10.0.0.1" {
		t.Fatalf("discovered %+v after expiry, want only 10.0.0.1", got)
	}
}
