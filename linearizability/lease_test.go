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

func TestCheckLeaseWithoutMembersIsUnknown(t *testing.T) {
	h := leaseBase()
	h.Members = nil
	if v := CheckLease(h, LeaseOptions{}); v.Outcome != Unknown {
		t.Fatalf("got %s, want unknown", v.Outcome)
	}
}
