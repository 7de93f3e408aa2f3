package lease

import (
	"time"

	"github.com/tidwall/btree"

	"github.com/kvdlabs/kvd/core/bugs"
)

// expiryItem is one lease's place in the expiry order.
type expiryItem struct {
	expiry time.Time
	id     int64
}

// expiryQueue orders leases by (expiry, id) so Expired reads the due leases
// off the front without looking at the rest.
type expiryQueue struct {
	tree *btree.BTreeG[expiryItem]
}

func expiryLess(a, b expiryItem) bool {
	if !a.expiry.Equal(b.expiry) {
		return a.expiry.Before(b.expiry)
	}
	return a.id < b.id
}

func newExpiryQueue() *expiryQueue {
	return &expiryQueue{tree: btree.NewBTreeGOptions(expiryLess, btree.Options{NoLocks: true})}
}

func (q *expiryQueue) insert(expiry time.Time, id int64) {
	_, replaced := q.tree.Set(expiryItem{expiry: expiry, id: id})
	assert(!replaced, "lease queued for expiry twice")
}

func (q *expiryQueue) remove(expiry time.Time, id int64) {
	_, found := q.tree.Delete(expiryItem{expiry: expiry, id: id})
	assert(found, "lease missing from the expiry queue")
}

func (q *expiryQueue) len() int { return q.tree.Len() }

func (q *expiryQueue) clear() { q.tree.Clear() }

// due appends to ids up to max lease ids whose expiry is at or before now,
// in (expiry, id) order.
func (q *expiryQueue) due(now time.Time, max int, ids []int64) []int64 {
	q.tree.Scan(func(it expiryItem) bool {
		stop := len(ids) >= max || it.expiry.After(now)
		if bugs.On(bugs.LeaseExpiryEarly) {
			// planted bug (kvdbugs builds only): due once less than a whole second of TTL remains
			stop = len(ids) >= max || it.expiry.Sub(now) >= time.Second
		}
		if stop {
			return false
		}
		ids = append(ids, it.id)
		return true
	})
	return ids
}
