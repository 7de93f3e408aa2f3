package sim

import (
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// A Process round is charged for the disk operations it did, not for the
// last operation the disk ever did: once a latency spike heals, a round
// that touches no disk (a heartbeat, a ReadIndex) leaves at once. Charging
// the stale cost kept a healed, idle leader answering every linearizable
// read more than a second late (kvsim bank seed 1).
func TestHealedDiskLatencyLeavesNoLagOnRoundsWithoutIO(t *testing.T) {
	const slow = 500 * time.Millisecond
	s := newScenario(t, 7, 3, nil)
	l := s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{Timeout: 10 * time.Second})
	cl.SetTarget(l)
	s.putAcked(cl, "k", "fast")

	for _, id := range s.c.IDs() {
		s.c.Member(id).Disk().SetSlow(slow)
	}
	s.putAcked(cl, "k", "slow") // every member's latest disk op is now slow
	s.w.RunFor(2 * time.Second)
	for _, id := range s.c.IDs() {
		s.c.Member(id).Disk().SetSlow(0)
	}
	if got := s.c.Leader(); got != l {
		t.Fatalf("leadership moved from %d to %d; the scenario needs a steady leader", l, got)
	}

	read := &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("k")}}
	for i := range 5 {
		c := s.do(cl, read)
		if c.Err != nil || c.TimedOut {
			t.Fatalf("read %d: err %v, timed out %v", i, c.Err, c.TimedOut)
		}
		// A ReadIndex is two rounds on the leader and one heartbeat round
		// trip: a few network latencies (≤ 2 ms each) and no fsync.
		if took := c.Return.Sub(c.Invoke); took > 50*time.Millisecond {
			t.Fatalf("linearizable read %d on a healed idle cluster took %v, want ≤ 50ms (stale disk cost %v charged?)", i, took, slow)
		}
	}
}

func TestTakeRoundCostIsTheSlowestOpSinceTheLastRound(t *testing.T) {
	d := New(1, Options{Disk: DiskOptions{OpCostBase: 5 * time.Microsecond, SyncCostBase: 2 * time.Millisecond}}).NewDisk("m1")
	equal(t, time.Duration(0), d.TakeRoundCost(), "a fresh disk's round")
	f, err := d.Create("f")
	noError(t, err, "create")
	_, err = f.Write([]byte("x"))
	noError(t, err, "write")
	noError(t, f.Sync(), "sync")
	_, err = f.Write([]byte("y"))
	noError(t, err, "write")
	equal(t, 5*time.Microsecond, d.LastOpCost(), "the last op is the write")
	equal(t, 2*time.Millisecond, d.TakeRoundCost(), "the round's slowest op is the sync")
	equal(t, time.Duration(0), d.TakeRoundCost(), "a round without ops")
	d.SetSlow(time.Second)
	noError(t, f.Sync(), "sync")
	d.SetSlow(0)
	equal(t, time.Second+2*time.Millisecond, d.TakeRoundCost(), "a slow sync")
	equal(t, time.Duration(0), d.TakeRoundCost(), "the round after the spike healed")
	equal(t, time.Second+2*time.Millisecond, d.LastOpCost(), "LastOpCost stays the latest op")
}
