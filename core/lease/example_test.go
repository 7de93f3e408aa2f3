package lease_test

import (
	"fmt"
	"time"

	"github.com/kvdlabs/kvd/core/clock"
	"github.com/kvdlabs/kvd/core/lease"
)

// keys stands in for the MVCC store: it deletes keys and, as the store
// does, detaches each deleted key from its lease.
type keys struct {
	lessor *lease.Lessor
	lease  map[string]int64
}

func (k *keys) DeleteKeys(del [][]byte) int64 {
	for _, key := range del {
		k.lessor.Detach(k.lease[string(key)], key)
		delete(k.lease, string(key))
	}
	return 0
}

// A leader grants a lease, a key is written with it, the client stops
// sending keepalives, and the leader finds the lease expired and revokes it.
func Example() {
	clk := &clock.Manual{T: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	lessor := lease.New(lease.Options{Clock: clk})
	store := &keys{lessor: lessor, lease: map[string]int64{}}
	lessor.SetDeleter(store)

	// This member became raft leader: it now tracks expiry.
	lessor.Promote(0)

	grant, _ := lessor.Grant(0, 1) // 1 s is raised to the 2 s minimum
	fmt.Println("granted TTL:", grant.TTL)

	// The store attaches a key written with the lease.
	lessor.Attach(grant.ID, []byte("service/a"))
	store.lease["service/a"] = grant.ID

	clk.Advance(1500 * time.Millisecond)
	ttl, _ := lessor.TimeToLive(grant.ID, true)
	fmt.Printf("remaining: %ds, keys: %q\n", ttl.TTL, ttl.Keys)

	clk.Advance(time.Second)
	expired := lessor.Expired(100)
	fmt.Println("expired:", len(expired) == 1 && expired[0] == grant.ID)

	// The leader proposes the revoke; every member applies it.
	for _, id := range expired {
		_, _ = lessor.Revoke(id)
	}
	fmt.Println("leases left:", lessor.Len(), "keys left:", len(store.lease))

	_, err := lessor.Revoke(grant.ID)
	fmt.Println(err)
	// Output:
	// granted TTL: 2
	// remaining: 0s, keys: ["service/a"]
	// expired: true
	// leases left: 0 keys left: 0
	// rpc error: code = NotFound desc = etcdserver: requested lease not found
}
