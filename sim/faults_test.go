package sim

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/nemesis"
)

// TestFaultsHealToALiveConvergedCluster runs generated schedules of every
// profile under a client load, then checks liveness and convergence after
// the last heal: a leader within a bound, a write acknowledged, every live
// member at the same hash and revision, and no member left down.
func TestFaultsHealToALiveConvergedCluster(t *testing.T) {
	for _, profile := range nemesis.Profiles() {
		for seed := uint64(1); seed <= 6; seed++ {
			t.Run(fmt.Sprintf("%s/seed=%d", profile, seed), func(t *testing.T) {
				restore := InstallCryptoRand(seed)
				defer restore()
				w := New(seed, Options{})
				c := NewCluster(w, ClusterOptions{Members: 3, Node: nodeConfigSmallSnapshots()})
				sched := nemesis.Generate(seed, nemesis.GenerateOptions{Nodes: c.IDs(), Duration: 30 * time.Second, Profile: profile})
				c.ApplySchedule(sched)
				cl := c.NewClient(ClientOptions{Timeout: time.Second})
				end := w.Now().Add(sched.Duration)
				var next func()
				i := 0
				next = func() {
					if w.Now().Before(end) {
						i++
						cl.Do(putReq(fmt.Sprintf("k%d", i%7), fmt.Sprintf("v%d", i)), func(Call) { next() })
					}
				}
				next()
				w.RunUntil(end)
				s := &scenario{t: t, w: w, c: c}
				for _, id := range c.IDs() {
					if m := c.Member(id); m.Node() == nil {
						t.Fatalf("member %d still down after every fault healed (damaged: %v); faults: %v", id, m.Damaged(), c.FaultWindows())
					}
				}
				s.waitLeader(10*time.Second, 0)
				s.putAcked(cl, "final", "write")
				s.converged(3 * time.Second)
			})
		}
	}
}

// A crash and a pause on one member that heal at the same instant leave it
// running, whichever heal runs first (kvsim found the member stuck down).
func TestOverlappingCrashAndPauseHealToRunning(t *testing.T) {
	for _, order := range [][2]nemesis.Kind{{nemesis.CrashRestart, nemesis.Pause}, {nemesis.Pause, nemesis.CrashRestart}} {
		restore := InstallCryptoRand(1)
		w := New(1, Options{})
		c := NewCluster(w, ClusterOptions{Members: 3})
		w.RunFor(3 * time.Second)
		victim := c.IDs()[0]
		sched := nemesis.Schedule{Seed: 1, Nodes: c.IDs(), Duration: 20 * time.Second, Faults: []nemesis.Fault{
			{At: 4 * time.Second, Kind: order[0], Targets: []uint64{victim}, Until: 8 * time.Second},
			{At: 5 * time.Second, Kind: order[1], Targets: []uint64{victim}, Until: 8 * time.Second},
		}}
		c.ApplySchedule(sched)
		w.RunFor(10 * time.Second)
		m := c.Member(victim)
		if m.Node() == nil || m.Paused() {
			t.Fatalf("%v then %v: member %d down=%v paused=%v after both healed", order[0], order[1], victim, m.Node() == nil, m.Paused())
		}
		restore()
	}
}

// A client call rides a gRPC stream over TCP, which never delivers it
// twice; packet duplication is a fault of peer links (raft tolerates it),
// never a second execution of a client's write. kvsim found lock keys put
// twice from one Put call under packet-duplicate.
func TestPacketDuplicateNeverRepeatsAClientCall(t *testing.T) {
	s := newScenario(t, 7, 3, nil)
	s.c.ApplySchedule(nemesis.Schedule{Seed: 7, Nodes: s.c.IDs(), Duration: time.Minute, Faults: []nemesis.Fault{
		{At: time.Second, Kind: nemesis.PacketDuplicate, Params: map[string]float64{nemesis.ParamProbability: 1}, Until: 50 * time.Second},
	}})
	cl := s.c.NewClient(ClientOptions{})
	s.w.RunFor(time.Second) // the fault is on
	// Calls go to the leader: a follower would forward each proposal over
	// a peer link, whose duplicates raft's log may take twice — not the
	// client link's concern here.
	cl.SetTarget(s.waitLeader(5*time.Second, 0))
	const puts = 20
	for i := range puts {
		s.putAcked(cl, "k", fmt.Sprintf("v%d", i))
	}
	resp := s.do(cl, &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("k")}})
	rr, ok := resp.Response.(*pb.RangeResponse)
	if !ok || len(rr.Kvs) != 1 {
		t.Fatalf("range k: %v %v", resp.Response, resp.Err)
	}
	if v := rr.Kvs[0].Version; v != puts {
		t.Fatalf("key k at version %d after %d acknowledged puts, one call each: a client call was applied twice", v, puts)
	}
	// The fault still acts on the peer links.
	peerCopies := 0
	for _, line := range s.w.TraceLines() {
		var from, to uint64
		i := strings.Index(line, "net.deliver ")
		if i < 0 || !strings.Contains(line, " copy=1 ") {
			continue
		}
		f := strings.Fields(line[i:])
		if _, err := fmt.Sscanf(f[len(f)-1], "%d->%d", &from, &to); err != nil {
			t.Fatalf("trace line %q: %v", line, err)
		}
		if from < clientIDBase && to < clientIDBase {
			peerCopies++
		}
	}
	if peerCopies == 0 {
		t.Fatalf("packet-duplicate delivered no second copy on any peer link")
	}
}

// A network fault acts from its start, not from the next network fault's
// start or heal (the executor rebuilt the network before counting the
// starting fault as active, so a lone partition never cut anything).
func TestNetworkFaultActsFromItsStart(t *testing.T) {
	s := newScenario(t, 3, 3, nil)
	victim := s.c.IDs()[0]
	s.c.ApplySchedule(nemesis.Schedule{Seed: 3, Nodes: s.c.IDs(), Duration: time.Minute, Faults: []nemesis.Fault{
		{At: 2 * time.Second, Kind: nemesis.PartitionIsolateLeader, Targets: []uint64{victim}, Until: 5 * time.Second},
	}})
	net := s.w.Network()
	for _, at := range []struct {
		elapsed time.Duration
		cut     bool
	}{{1999 * time.Millisecond, false}, {2 * time.Second, true}, {4999 * time.Millisecond, true}, {5 * time.Second, false}} {
		s.w.RunUntil(s.w.Options().Epoch.Add(at.elapsed))
		for _, other := range s.c.IDs()[1:] {
			if got := net.cut(victim, other) && net.cut(other, victim); got != at.cut {
				t.Fatalf("at %v: link %d<->%d cut=%v, want %v (fault from 2s to 5s)", at.elapsed, victim, other, got, at.cut)
			}
		}
	}
}

// Flips of one byte, by one fault or by two overlapping faults healing in
// either order, are all undone, leaving the file as it was. (Repair once
// restored "the byte before the flip", which failed when two faults flipped
// one byte and the earlier one healed first: the member stayed damaged.)
func TestRepairUndoesFlipsOfOneByte(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flips [][2]int // fault index, bit — in the order flipped
		heal  []int    // fault indexes in the order healed
	}{
		{"one fault, two bits", [][2]int{{0, 0}, {0, 3}}, []int{0}},
		{"two faults, earlier heals first", [][2]int{{0, 0}, {1, 7}}, []int{0, 1}},
		{"two faults, later heals first", [][2]int{{0, 0}, {1, 7}}, []int{1, 0}},
		{"two faults, same bit", [][2]int{{0, 5}, {1, 5}}, []int{0, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			restore := InstallCryptoRand(1)
			defer restore()
			w := New(1, Options{})
			c := NewCluster(w, ClusterOptions{Members: 3})
			w.RunFor(3 * time.Second)
			m := c.Member(1)
			m.Crash()
			names, err := m.Disk().List("member")
			if err != nil {
				t.Fatal(err)
			}
			var name string
			for _, n := range names {
				if strings.HasSuffix(n, ".wal") {
					name = "member/" + n
				}
			}
			original, err := m.Disk().ReadFile(name)
			if err != nil {
				t.Fatal(err)
			}
			original = slices.Clone(original)
			faults := []*activeFault{
				{f: nemesis.Fault{Kind: nemesis.DiskBitFlip, Targets: []uint64{1}}, targets: []uint64{1}},
				{f: nemesis.Fault{Kind: nemesis.DiskBitFlip, Targets: []uint64{1}}, targets: []uint64{1}},
			}
			for _, fb := range tc.flips {
				a := faults[fb[0]]
				c.faults.flipped[a] = append(c.faults.flipped[a], flip{m: m, name: name, offset: 0, bit: fb[1]})
				m.Disk().flipBitAt(name, 0, fb[1])
			}
			for _, i := range tc.heal {
				c.repairBits(faults[i])
			}
			after, _ := m.Disk().ReadFile(name)
			if !bytes.Equal(after, original) {
				t.Fatalf("byte 0 is %08b after repair, was %08b", after[0], original[0])
			}
		})
	}
}

// A full-cluster restart takes every member down for its window and brings
// them all back from their disks: an acknowledged write survives it.
func TestClusterRestartBringsEveryMemberBack(t *testing.T) {
	s := newScenario(t, 7, 3, nil)
	s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{Timeout: time.Second})
	s.putAcked(cl, "before", "restart")
	at := s.w.Elapsed() + time.Second
	s.c.ApplySchedule(nemesis.Schedule{Seed: 7, Nodes: s.c.IDs(), Duration: at + 20*time.Second, Faults: []nemesis.Fault{
		{At: at, Kind: nemesis.ClusterRestart, Until: at + 2*time.Second},
	}})
	s.w.RunFor(1500 * time.Millisecond)
	if up := s.c.Up(); len(up) != 0 {
		t.Fatalf("members %v up inside the cluster restart", up)
	}
	w := s.c.FaultWindows()
	if len(w) != 1 || !slices.Equal(w[0].Targets, s.c.IDs()) {
		t.Fatalf("fault windows %v, want one on every member", w)
	}
	s.w.RunFor(2 * time.Second)
	if up := s.c.Up(); !slices.Equal(up, s.c.IDs()) {
		t.Fatalf("members %v up after the cluster restart healed, want %v", up, s.c.IDs())
	}
	s.waitLeader(10*time.Second, 0)
	s.putAcked(cl, "after", "restart")
	s.converged(2 * time.Second)
	for _, id := range s.c.IDs() {
		if got := s.readAll(id)["before"]; got != "restart" {
			t.Fatalf("member %d lost the acknowledged write: before=%q", id, got)
		}
	}
}

// A bit flip restarts its member on the damage, so recovery is what the
// fault tests: a flip in the middle of the log makes the member refuse to
// start; one in the newest bytes may be cut as a torn tail, and then the
// member is held down until the repair restores its data. Either way it
// rejoins after the repair with every acknowledged write. (The flip fault
// was counted as holding its own target down, so no restart ever read a
// flipped bit.)
func TestBitFlipRestartsOnTheDamage(t *testing.T) {
	for _, tc := range []struct {
		name      string
		newest    float64
		wantTrace string // seen on at least one seed
	}{
		{"anywhere", 0, "member.damaged"},
		{"newest", 1, "fault.flip-cut"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			seen := map[string]int{}
			for seed := uint64(1); seed <= 12; seed++ {
				t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
					for _, kind := range flipOnce(t, seed, tc.newest) {
						seen[kind]++
					}
				})
			}
			if seen[tc.wantTrace] == 0 {
				t.Fatalf("over 12 seeds traced %v, never %s", seen, tc.wantTrace)
			}
			if seen["fault.flip-cut"] != seen["disk.restore"] {
				t.Fatalf("traced %v: every member held down after a cut must be restored", seen)
			}
		})
	}
}

// flipOnce flips one bit on a follower of a 3-member cluster holding 30
// acknowledged writes, checks it is down during the fault and whole after,
// and returns the recovery events traced.
func flipOnce(t *testing.T, seed uint64, newest float64) []string {
	t.Helper()
	s := newScenario(t, seed, 3, nil)
	s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{Timeout: time.Second})
	for i := range 30 {
		s.putAcked(cl, fmt.Sprintf("k%d", i), "v")
	}
	victim := s.c.IDs()[2]
	if s.c.Member(victim).Node().Status().IsLeader {
		victim = s.c.IDs()[1]
	}
	at := s.w.Elapsed() + time.Second
	s.c.ApplySchedule(nemesis.Schedule{Seed: seed, Nodes: s.c.IDs(), Duration: at + 20*time.Second, Faults: []nemesis.Fault{
		{At: at, Kind: nemesis.DiskBitFlip, Targets: []uint64{victim}, Params: map[string]float64{nemesis.ParamFlips: 1, nemesis.ParamNewest: newest}, Until: at + 3*time.Second},
	}})
	s.w.RunFor(1500 * time.Millisecond)
	var kinds []string
	for _, r := range s.w.TraceRecords() {
		if r.Kind == "member.damaged" || r.Kind == "fault.flip-cut" || r.Kind == "disk.restore" {
			kinds = append(kinds, r.Kind)
		}
	}
	up := s.c.Member(victim).Node() != nil
	if up && len(kinds) > 0 {
		t.Fatalf("seed %d: member %d runs inside the fault after %v", seed, victim, kinds)
	}
	s.putAcked(cl, "during", "flip")
	s.w.RunFor(3 * time.Second)
	if s.c.Member(victim).Node() == nil {
		t.Fatalf("seed %d: member %d still down after the repair: %v", seed, victim, s.c.Member(victim).Damaged())
	}
	for _, r := range s.w.TraceRecords() {
		if r.Kind == "disk.restore" {
			kinds = append(kinds, r.Kind)
		}
	}
	s.putAcked(cl, "after", "flip")
	s.converged(3 * time.Second)
	if got := s.readAll(victim)["k29"]; got != "v" {
		t.Fatalf("seed %d: member %d lost an acknowledged write across the flip: k29=%q", seed, victim, got)
	}
	return kinds
}
