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
