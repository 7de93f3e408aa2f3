package sim

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// Driver is the simulated cluster as the workloads drive it
// (driver.Cluster): its World is the event loop, its clients the sessions.
// It adds no behaviour of its own, so a workload issues the same events in
// the same order whether it holds the Cluster or the Driver.
type Driver struct{ c *Cluster }

var _ driver.Cluster = (*Driver)(nil)
var _ driver.Session = (*Client)(nil)

// Driver returns the cluster as a driver.Cluster.
func (c *Cluster) Driver() *Driver { return &Driver{c: c} }

// Now is the World's virtual time.
func (d *Driver) Now() time.Time { return d.c.w.Now() }

// Epoch is the World's start.
func (d *Driver) Epoch() time.Time { return d.c.w.Options().Epoch }

// After schedules fn on the World.
func (d *Driver) After(delay time.Duration, fn func()) { d.c.w.After(delay, fn) }

// NewSession opens a simulated client.
func (d *Driver) NewSession(opts driver.SessionOptions) driver.Session {
	return d.c.NewClient(ClientOptions{Timeout: opts.Timeout})
}

// IDs are the member ids.
func (d *Driver) IDs() []uint64 { return d.c.IDs() }

// Up are the running members.
func (d *Driver) Up() []uint64 { return d.c.Up() }

// Revision reads the member's applied revision from its node.
func (d *Driver) Revision(id uint64) (int64, bool) {
	m := d.c.Member(id)
	if m == nil || m.Node() == nil {
		return 0, false
	}
	return m.Node().Status().Revision, true
}

// LocalRange reads the member's own store.
func (d *Driver) LocalRange(id uint64, req *pb.RangeRequest) (*pb.RangeResponse, error) {
	return d.node(id).LocalRange(req)
}

// HashKV is the member's KV hash at rev.
func (d *Driver) HashKV(id uint64, rev int64) (*pb.HashKVResponse, error) {
	return d.node(id).HashKV(rev)
}

// ProgressNotify runs every live member's watch progress notifier: the
// server-side ticker kvd runs on its own clock, which simulated members
// leave to the caller.
func (d *Driver) ProgressNotify() {
	for _, id := range d.c.Up() {
		if n := d.c.Member(id).Node(); n != nil {
			n.WatchProgressNotify()
		}
	}
}

// FaultWindows are the faults carried out so far.
func (d *Driver) FaultWindows() []driver.FaultWindow { return d.c.FaultWindows() }

// CallsInFlight counts the clients' calls not yet completed.
func (d *Driver) CallsInFlight() int { return d.c.callsInFlight }

// node is member id's node; asking a member that is not running is a
// workload's bug (it asks only members Up reported).
func (d *Driver) node(id uint64) *node.Node {
	m := d.c.Member(id)
	if m == nil || m.Node() == nil {
		panic(fmt.Sprintf("sim: driver asked member %d, which is not running", id))
	}
	return m.Node()
}
