package lease

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"pgregory.net/rapid"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// mvccHarness runs the property test against the real store, wired to the
// lessor both ways as kvd wires them.
type mvccHarness struct {
	t     fataler
	store *mvcc.Store
	// deleted holds, per committed revision since the last commits call,
	// the keys its DELETE events name, in sub-revision order.
	deleted map[int64][]string
}

func newMVCCHarness(t fataler, l *Lessor) *mvccHarness {
	h := &mvccHarness{t: t, deleted: map[int64][]string{}}
	h.store = mvcc.New(mvcc.Options{
		Lessor: l,
		OnCommit: func(rev int64, events []*mvccpb.Event) {
			keys := []string{}
			for _, ev := range events {
				if ev.Type == mvccpb.DELETE {
					keys = append(keys, string(ev.Kv.Key))
				}
			}
			if len(keys) == 0 {
				keys = nil
			}
			h.deleted[rev] = keys
		},
	})
	l.SetDeleter(h.store)
	return h
}

func (h *mvccHarness) put(key string, leaseID int64) error {
	_, err := h.store.Put(&pb.PutRequest{Key: []byte(key), Value: []byte("v"), Lease: leaseID})
	return err
}

func (h *mvccHarness) del(key string) {
	if _, err := h.store.DeleteRange(&pb.DeleteRangeRequest{Key: []byte(key)}); err != nil {
		h.t.Fatalf("DeleteRange(%q): %v", key, err)
	}
}

func (h *mvccHarness) rev() int64 { return h.store.Rev() }

func (h *mvccHarness) live() map[string]int64 {
	resp, err := h.store.Range(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		h.t.Fatalf("Range(all): %v", err)
	}
	kv := make(map[string]int64, len(resp.Kvs))
	for _, e := range resp.Kvs {
		kv[string(e.Key)] = e.Lease
	}
	return kv
}

func (h *mvccHarness) commits() map[int64][]string {
	out := h.deleted
	h.deleted = map[int64][]string{}
	return out
}

// TestPropertyLeaseModelMVCC is the integration property: random grants,
// puts with and without leases, deletes, revokes, keepalives, clock moves
// and leadership changes against the real core/mvcc store, checked after
// every step against a plain model. Revoke must delete exactly the attached
// keys at one revision (DELETE events in key order), a key re-put without a
// lease must leave its old lease, TimeToLive must list the right keys and
// TTL, and Expired must report exactly the leases past their TTL on the
// primary and nothing elsewhere.
func TestPropertyLeaseModelMVCC(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		runLeaseModel(t, func(l *Lessor) kvHarness { return newMVCCHarness(t, l) })
	})
}
