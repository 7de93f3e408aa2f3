package linearizability

import (
	"strings"
	"testing"

	"go.etcd.io/etcd/api/v3/mvccpb"
)

// lockBase: a (rev 2) holds, writes g at 4, releases at 5; b (rev 3) then
// holds and writes g at 6.
func lockBase() LockHistory {
	a := LockHolder{Key: "/l/h/a", CreateRevision: 2}
	b := LockHolder{Key: "/l/h/b", CreateRevision: 3}
	return LockHistory{
		Prefix: []byte("/l/h/"), GuardedKey: []byte("/l/g"),
		Events:   []*mvccpb.Event{put("/l/h/a", "", 2, 2, 1), put("/l/h/b", "", 3, 3, 1), put("/l/g", "a1", 4, 4, 1), del("/l/h/a", 5), put("/l/g", "b1", 6, 4, 2)},
		Writers:  map[string]LockHolder{"a1": a, "b1": b, "a2": a},
		Acquired: []LockClaim{{Holder: a, Revision: 3}, {Holder: b, Revision: 5}},
		Acked:    []LockWrite{{Holder: a, Key: "/l/g", Value: []byte("a1"), Revision: 4}},
	}
}

func TestCheckLock(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(h *LockHistory)
		detail string
	}{
		{"ok", func(*LockHistory) {}, ""},
		{"write by a non-holder", func(h *LockHistory) {
			h.Events = append(h.Events[:2:2], put("/l/g", "b1", 4, 4, 1))
			h.Acquired = nil
		}, "holder by fencing was"},
		{"interleaving A B A", func(h *LockHistory) {
			// b writes between two writes of a, while a still holds: the
			// fencing check names the write that broke exclusion.
			h.Events = []*mvccpb.Event{put("/l/h/a", "", 2, 2, 1), put("/l/h/b", "", 3, 3, 1), put("/l/g", "a1", 4, 4, 1), put("/l/g", "b1", 5, 4, 2), put("/l/g", "a2", 6, 4, 3)}
			h.Acquired = nil
		}, "guarded write PUT \"/l/g\"=\"b1\"@5"},
		{"false claim", func(h *LockHistory) {
			h.Acquired = append(h.Acquired, LockClaim{Holder: LockHolder{Key: "/l/h/b", CreateRevision: 3}, Revision: 4})
		}, "concluded at revision 4"},
		{"reads of the holder", func(h *LockHistory) {
			a, b := h.Acquired[0].Holder, h.Acquired[1].Holder
			h.Observed = []LockObservation{{Revision: 1}, {Revision: 2, Holder: a, Held: true}, {Revision: 4, Holder: a, Held: true}, {Revision: 6, Holder: b, Held: true}}
		}, ""},
		{"stale read of the holder", func(h *LockHistory) {
			// a released at 5: a read at 5 that still names a is stale.
			h.Observed = []LockObservation{{Revision: 5, Holder: h.Acquired[0].Holder, Held: true}}
		}, "a read at revision 5 saw \"/l/h/a\" (lock revision 2) hold the lock, but the holder by fencing was \"/l/h/b\""},
		{"read of nobody while held", func(h *LockHistory) {
			h.Observed = []LockObservation{{Revision: 3}}
		}, "a read at revision 3 saw nobody hold the lock"},
		{"proclamations by the leader", func(h *LockHistory) {
			electionOf(h)
		}, ""},
		{"proclamation by a waiter", func(h *LockHistory) {
			electionOf(h)
			// b's proclamation lands while a still leads.
			h.Events = []*mvccpb.Event{put("/l/h/a", "", 2, 2, 1), put("/l/h/b", "", 3, 3, 1), put("/l/h/b", "b1", 4, 3, 2)}
			h.Acquired, h.Acked = nil, nil
		}, "guarded write PUT \"/l/h/b\"=\"b1\"@4"},
		{"holder key put twice unguarded", func(h *LockHistory) {
			electionOf(h)
			// A value no guarded write carries: the enqueue put applied
			// a second time is no proclamation, but it is a bug.
			h.Events = append(h.Events, put("/l/h/b", "", 7, 3, 3))
		}, "no guarded write carries"},
		{"acked write lost", func(h *LockHistory) {
			h.Acked = append(h.Acked, LockWrite{Key: "/l/g", Value: []byte("b9"), Revision: 6})
		}, "not in the committed history"},
	}
	for _, c := range cases {
		h := lockBase()
		c.mutate(&h)
		v := CheckLock(h)
		if c.detail == "" && v.Outcome != OK {
			t.Errorf("%s: want OK, got %s: %s", c.name, v.Outcome, v.Detail)
		}
		if c.detail != "" && (v.Outcome != Violation || !strings.Contains(v.Detail, c.detail)) {
			t.Errorf("%s: want violation mentioning %q, got %s: %s", c.name, c.detail, v.Outcome, v.Detail)
		}
	}
}

// electionOf turns lockBase into an election: no guarded key, each
// leader's guarded writes are proclamations on its own key.
func electionOf(h *LockHistory) {
	a, b := h.Writers["a1"], h.Writers["b1"]
	h.GuardedKey = nil
	h.Events = []*mvccpb.Event{put("/l/h/a", "", 2, 2, 1), put("/l/h/b", "", 3, 3, 1), put("/l/h/a", "a1", 4, 2, 2), del("/l/h/a", 5), put("/l/h/b", "b1", 6, 3, 2)}
	h.Acked = []LockWrite{{Holder: a, Key: "/l/h/a", Value: []byte("a1"), Revision: 4}, {Holder: b, Key: "/l/h/b", Value: []byte("b1"), Revision: 6}}
}
