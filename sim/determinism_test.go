package sim

import (
	"encoding/hex"
	"fmt"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/nemesis"
)

// runSeed runs one seeded simulation — a generated fault schedule and a
// random client workload on a 3-member cluster — and returns its trace
// hash, how many faults it carried out and how many calls completed.
func runSeed(t testing.TB, seed uint64, profile string) (hash string, faults, calls int) {
	restore := InstallCryptoRand(seed)
	defer restore()
	w := New(seed, Options{Network: NetworkOptions{Link: LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: 2 * time.Millisecond}}})
	c := NewCluster(w, ClusterOptions{Members: 3, Node: nodeConfigSmallSnapshots()})
	sched := nemesis.Generate(seed, nemesis.GenerateOptions{Nodes: c.IDs(), Duration: 20 * time.Second, Profile: profile})
	c.ApplySchedule(sched)
	rng := w.Rand("test/workload")
	end := w.Now().Add(sched.Duration)
	for i := range 3 {
		cl := c.NewClient(ClientOptions{Timeout: time.Second})
		var next func()
		next = func() {
			if !w.Now().Before(end) {
				return
			}
			key := []byte(fmt.Sprintf("k%d", rng.IntN(5)))
			var req *pb.InternalRaftRequest
			switch rng.IntN(4) {
			case 0:
				req = &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: key}}
			case 1:
				req = &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: key}}
			default:
				req = &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: key, Value: []byte(fmt.Sprintf("c%d-%d", i, calls))}}
			}
			cl.Do(req, func(Call) {
				calls++
				w.After(time.Duration(rng.IntN(20))*time.Millisecond, next)
			})
		}
		w.After(time.Duration(i)*time.Millisecond, next)
	}
	w.RunUntil(end.Add(2 * time.Second))
	h := w.TraceHash()
	return hex.EncodeToString(h[:]), len(c.FaultWindows()), calls
}

// TestSameSeedTwice is the determinism self-check of ARCHITECTURE.md: one
// seed run twice gives the identical trace, for 50 seeds with faults.
func TestSameSeedTwice(t *testing.T) {
	seeds := 50
	if testing.Short() {
		seeds = 10
	}
	hashes := map[string]uint64{}
	var faults, calls int
	for seed := uint64(1); seed <= uint64(seeds); seed++ {
		a, f, n := runSeed(t, seed, "all")
		b, _, _ := runSeed(t, seed, "all")
		if a != b {
			t.Fatalf("seed %d: trace hash %s then %s", seed, a, b)
		}
		if prev, dup := hashes[a]; dup {
			t.Fatalf("seeds %d and %d have the same trace hash", prev, seed)
		}
		hashes[a] = seed
		faults += f
		calls += n
	}
	if faults == 0 || calls == 0 {
		t.Fatalf("the runs did nothing: %d faults, %d calls", faults, calls)
	}
	t.Logf("%d seeds twice: %d faults, %d calls", seeds, faults, calls)
}
