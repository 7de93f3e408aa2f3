package node

import (
	"fmt"
	"math"
	"time"
)

// leaseClockEpoch is the lease clock's origin. Only differences of lease
// times mean anything; a fixed non-zero origin keeps every lease time clear
// of the zero time, which the lessor reads as "never expires".
var leaseClockEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// leaseClock is the time the lessor measures TTLs in: the member's ticks
// times TickInterval. A lease TTL is a duration, and etcd measures it on
// Go's monotonic clock, so stepping the wall clock (NTP, an operator, the
// simulator's clock-jump and clock-skew faults) neither shortens nor
// stretches a lease. Leases were once timed on an injected wall clock,
// which in the simulator carries no monotonic reading: a leader whose clock
// jumped back 21 s kept an abandoned lease 21 s past its TTL (kvsim seed
// 2312), and one whose clock jumped forward revoked leases its clients were
// keeping alive. The member reads no wall clock at all now (request ids
// come from a boot epoch). Ticks are its own monotonic time, the one raft already
// times elections and the promote extension by, so lease time and raft
// time cannot disagree; a clock that runs fast or slow ticks fast or slow
// and moves both together, as drift moves a real monotonic clock.
//
// A keepalive during a tick reads that tick's start, and Tick judges
// expiry before it counts the new tick, so a lease lives at least its TTL
// after a keepalive and at most a tick more.
//
// A tick the caller never delivers (kvd's ticker drops ticks while its loop
// is busy) is time the lease does not age: a lease may outlive its TTL by
// the ticks lost, never expire early.
type leaseClock struct{ n *Node }

// Now returns the lease time of the member's current tick. The lease clock
// spans math.MaxInt64 nanoseconds (292 years) of ticks; a member ticking
// longer is a bug, not an input.
func (c leaseClock) Now() time.Time {
	ticksMax := uint64(math.MaxInt64 / int64(c.n.cfg.TickInterval))
	if c.n.ticks > ticksMax {
		panic(fmt.Sprintf("node %x: %d ticks of %v overflow the lease clock", c.n.cfg.ID, c.n.ticks, c.n.cfg.TickInterval))
	}
	return leaseClockEpoch.Add(time.Duration(c.n.ticks) * c.n.cfg.TickInterval)
}
