package linearizability

import (
	"strings"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

var t0 = time.Unix(1000, 0)

func sec(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }

func leasedPut(key string, lease, rev int64) *mvccpb.Event {
	e := put(key, "x", rev, rev, 1)
	e.Kv.Lease = lease
	return e
}

// leaseBase: lease 7 (TTL 5 s) with two keys, kept alive until 10 s,
// revoked at revision 4, seen at 16 s.
func leaseBase() LeaseHistory {
	evs := []*mvccpb.Event{leasedPut("/s/a", 7, 2), leasedPut("/s/b", 7, 3), del("/s/a", 4), del("/s/b", 4)}
	return LeaseHistory{
		Grants:      []LeaseGrant{{Lease: 7, TTL: 5 * time.Second, Invoke: sec(0), Return: sec(0.01)}},
		KeepAlives:  []LeaseKeepAlive{{Lease: 7, Invoke: sec(10), Return: sec(10.01), OK: true}},
		Sightings:   []LeaseSighting{{At: sec(16), Events: evs[2:]}},
		Members:     []MemberHistory{{Member: 1, Revision: 4, Events: evs}, {Member: 2, Revision: 4, Events: evs}},
		CollectedAt: sec(30),
	}
}

func TestCheckLease(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(h *LeaseHistory)
		detail string
	}{
		{"ok", func(*LeaseHistory) {}, ""},
		{"members disagree", func(h *LeaseHistory) {
			h.Members[1].Events = []*mvccpb.Event{leasedPut("/s/a", 7, 2), leasedPut("/s/b", 7, 3), del("/s/a", 4)}
		}, "disagree at revision 4"},
		{"two revoke revisions", func(h *LeaseHistory) {
			evs := []*mvccpb.Event{leasedPut("/s/a", 7, 2), leasedPut("/s/b", 7, 3), del("/s/a", 4), del("/s/b", 5)}
			h.Members = []MemberHistory{{Member: 1, Revision: 5, Events: evs}}
		}, "survived the lease's revoke at revision 4"},
		{"read after revoke", func(h *LeaseHistory) {
			h.Reads = []LeaseRead{{Return: sec(20), Revision: 4, Prefix: []byte("/s/"), Kvs: []*mvccpb.KeyValue{leasedPut("/s/a", 7, 2).Kv}}}
		}, "revoked at revision 4"},
		{"read misses live key", func(h *LeaseHistory) {
			h.Reads = []LeaseRead{{Return: sec(5), Revision: 3, Prefix: []byte("/s/"), Kvs: []*mvccpb.KeyValue{leasedPut("/s/a", 7, 2).Kv}}}
		}, "misses key"},
		{"revoked while kept alive", func(h *LeaseHistory) {
			h.Sightings[0].At = sec(11)
		}, "only 1s after a successful keepalive"},
		// Margin: a correct leader revokes at most a tick early, a lease
		// expiring a second early stands out.
		{"revoke a clock step early", func(h *LeaseHistory) {
			h.Sightings[0].At = sec(14.9)
		}, ""},
		{"revoke a second early", func(h *LeaseHistory) {
			h.Sightings[0].At = sec(14.1)
		}, "only 4.1s after a successful keepalive"},
		{"early revoke inside a suspect window is not judged", func(h *LeaseHistory) {
			h.Sightings[0].At = sec(11)
			h.Suspect = []Window{{From: sec(9), To: sec(9.5)}}
		}, ""},
		{"never revoked", func(h *LeaseHistory) {
			evs := h.Members[0].Events[:2]
			h.Members = []MemberHistory{{Member: 1, Revision: 3, Events: evs}}
			h.Sightings = nil
		}, "never revoked"},
		// kvsim seed 2312's shape: the last successful keepalive, then a
		// window in which the leader's lease time may have slowed, then a
		// keepalive a follower refused. The refused one renewed nothing,
		// so the window may have delayed the revoke.
		{"never revoked, suspect after the last renewal and before a failed keepalive", func(h *LeaseHistory) {
			h.Members = []MemberHistory{{Member: 1, Revision: 3, Events: h.Members[0].Events[:2]}}
			h.Sightings = nil
			h.KeepAlives = append(h.KeepAlives, LeaseKeepAlive{Lease: 7, Invoke: sec(12), Return: sec(12.5), OK: false})
			h.Suspect = []Window{{From: sec(11), To: sec(11.5)}}
		}, ""},
		{"never revoked, suspect before the last renewal is still judged", func(h *LeaseHistory) {
			h.Members = []MemberHistory{{Member: 1, Revision: 3, Events: h.Members[0].Events[:2]}}
			h.Sightings = nil
			h.KeepAlives = append(h.KeepAlives, LeaseKeepAlive{Lease: 7, Invoke: sec(12), Return: sec(12.5), OK: false})
			h.Suspect = []Window{{From: sec(8), To: sec(9)}}
		}, "never revoked"},
	}
	for _, c := range cases {
		h := leaseBase()
		c.mutate(&h)
		v := CheckLease(h, LeaseOptions{})
		if c.detail == "" && v.Outcome != OK {
			t.Errorf("%s: want OK, got %s: %s", c.name, v.Outcome, v.Detail)
		}
		if c.detail != "" && (v.Outcome != Violation || !strings.Contains(v.Detail, c.detail)) {
			t.Errorf("%s: want violation mentioning %q, got %s: %s", c.name, c.detail, v.Outcome, v.Detail)
		}
	}
}

// TimeToLive answers on leaseBase's lease 7 (TTL 5 s), whose keepalive at
// 10 s returned at 10.01 s with term 3.
func TestCheckLeaseTimeToLive(t *testing.T) {
	alive := func(invoke float64, ttl int64, term uint64) LeaseTimeToLive {
		return LeaseTimeToLive{Lease: 7, Invoke: sec(invoke), Return: sec(invoke + 0.01), TTLSeconds: ttl, GrantedTTLSeconds: 5, Term: term}
	}
	notFound := func(invoke float64) LeaseTimeToLive {
		return LeaseTimeToLive{Lease: 7, Invoke: sec(invoke), Return: sec(invoke + 0.01), NotFound: true}
	}
	cases := []struct {
		name   string
		mutate func(h *LeaseHistory)
		detail string
	}{
		{"remaining as elapsed allows", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(11.5, 3, 3)}
		}, ""},
		{"remaining more than elapsed allows", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(11.5, 4, 3)}
		}, "at most TTL 5s - 1.49s elapsed"},
		// kvd's lease clock advances in 100 ms ticks: 0.95 s after the
		// renewal it may still read 4.1 s, reported as 4.
		{"remaining within a clock step", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(10.96, 4, 3)}
		}, ""},
		{"granted TTL reported as remaining", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(12, 5, 3)}
		}, "at most TTL 5s - 1.99s elapsed"},
		{"overlong remaining inside a suspect window is not judged", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(12, 5, 3)}
			h.Suspect = []Window{{From: sec(11), To: sec(11.5)}}
		}, ""},
		{"keepalive in flight may have renewed", func(h *LeaseHistory) {
			h.KeepAlives = append(h.KeepAlives, LeaseKeepAlive{Lease: 7, Invoke: sec(11.9), Return: sec(13.9), TimedOut: true})
			h.TimeToLives = []LeaseTimeToLive{alive(12, 4, 3)}
		}, ""},
		{"keepalive sent after the answer renewed nothing", func(h *LeaseHistory) {
			h.KeepAlives = append(h.KeepAlives, LeaseKeepAlive{Lease: 7, Invoke: sec(12.5), Return: sec(12.51), OK: true, Term: 3})
			h.TimeToLives = []LeaseTimeToLive{alive(12, 4, 3)}
		}, "at most TTL 5s"},
		// Another term's leader may have been promoted after the last
		// renewal and restarted the lease at TTL + 1 s.
		{"new leader's full TTL", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(12, 5, 4)}
		}, ""},
		{"new leader's extension right after its promotion", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(12, 6, 4)}
		}, ""},
		{"new leader's extension long after its promotion", func(h *LeaseHistory) {
			h.KeepAlives = append(h.KeepAlives, LeaseKeepAlive{Lease: 7, Invoke: sec(10.5), Return: sec(10.51), OK: true, Term: 4})
			h.TimeToLives = []LeaseTimeToLive{{Lease: 7, Invoke: sec(12), Return: sec(12.01), TTLSeconds: 6, GrantedTTLSeconds: 5, Term: 5},
				{Lease: 7, Invoke: sec(20), Return: sec(20.01), TTLSeconds: 6, GrantedTTLSeconds: 5, Term: 5}}
		}, "more than its granted TTL 5s allows"},
		{"more than granted plus extension", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(12, 7, 4)}
		}, "more than its granted TTL 5s allows"},
		{"granted TTL as granted", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{alive(12, 2, 4)}
		}, ""},
		{"granted TTL not as granted", func(h *LeaseHistory) {
			q := alive(12, 2, 4)
			q.GrantedTTLSeconds = 6
			h.TimeToLives = []LeaseTimeToLive{q}
		}, "reports granted TTL 6s, but 5s was granted"},
		{"not found once expired", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{notFound(15)}
		}, ""},
		{"not found while kept alive", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{notFound(13)}
		}, "answered not found by"},
		{"not found while kept alive inside a suspect window is not judged", func(h *LeaseHistory) {
			h.TimeToLives = []LeaseTimeToLive{notFound(13)}
			h.Suspect = []Window{{From: sec(12), To: sec(12.5)}}
		}, ""},
		{"not found inside a suspect window, kept alive after the answer", func(h *LeaseHistory) {
			// kvsim seed 3321: a keepalive that succeeded after the answer
			// was judged as protecting it, with a suspect window that
			// could not cover it.
			h.KeepAlives = append(h.KeepAlives, LeaseKeepAlive{Lease: 7, Invoke: sec(19), Return: sec(19.01), OK: true, Term: 3})
			h.Sightings[0].At = sec(25) // revoked once that keepalive ran out
			h.TimeToLives = []LeaseTimeToLive{notFound(13)}
			h.Suspect = []Window{{From: sec(12), To: sec(12.5)}}
		}, ""},
		{"not found but never revoked", func(h *LeaseHistory) {
			h.Members = []MemberHistory{{Member: 1, Revision: 3, Events: h.Members[0].Events[:2]}}
			h.Sightings = nil
			h.CollectedAt = sec(17) // too early to judge the revoke itself
			h.TimeToLives = []LeaseTimeToLive{notFound(16)}
		}, "were never revoked"},
	}
	for _, c := range cases {
		h := leaseBase()
		h.KeepAlives[0].Term = 3
		c.mutate(&h)
		v := CheckLease(h, LeaseOptions{})
		if c.detail == "" && v.Outcome != OK {
			t.Errorf("%s: want OK, got %s: %s", c.name, v.Outcome, v.Detail)
		}
		if c.detail != "" && (v.Outcome != Violation || !strings.Contains(v.Detail, c.detail)) {
			t.Errorf("%s: want violation mentioning %q, got %s: %s", c.name, c.detail, v.Outcome, v.Detail)
		}
	}
}

func TestCheckLeaseWithoutMembersIsUnknown(t *testing.T) {
	h := leaseBase()
	h.Members = nil
	if v := CheckLease(h, LeaseOptions{}); v.Outcome != Unknown {
		t.Fatalf("got %s, want unknown", v.Outcome)
	}
}
