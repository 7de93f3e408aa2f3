package sim

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/node"
)

// scenario is one simulated cluster under test, with helpers that drive the
// World until something happens or a virtual deadline passes.
type scenario struct {
	t *testing.T
	w *World
	c *Cluster
}

func newScenario(t *testing.T, seed uint64, members int, mutate func(*ClusterOptions)) *scenario {
	t.Helper()
	restore := InstallCryptoRand(seed)
	t.Cleanup(restore)
	w := New(seed, Options{Network: NetworkOptions{Link: LinkOptions{LatencyBase: time.Millisecond, LatencyJitter: time.Millisecond}}})
	opts := ClusterOptions{Members: members}
	if mutate != nil {
		mutate(&opts)
	}
	return &scenario{t: t, w: w, c: NewCluster(w, opts)}
}

// waitLeader runs until some member leads (and, if not 0, is not notID).
func (s *scenario) waitLeader(within time.Duration, notID uint64) uint64 {
	s.t.Helper()
	deadline := s.w.Now().Add(within)
	for s.w.Now().Before(deadline) {
		if l := s.c.Leader(); l != 0 && l != notID {
			return l
		}
		s.w.RunFor(10 * time.Millisecond)
	}
	s.t.Fatalf("no leader (other than %d) within %v", notID, within)
	return 0
}

// do runs one call to completion (or the client's timeout).
func (s *scenario) do(cl *Client, req *pb.InternalRaftRequest) Call {
	s.t.Helper()
	var got *Call
	cl.Do(req, func(c Call) { got = &c })
	for got == nil {
		if !s.w.Step() {
			s.t.Fatalf("world ran dry with a call in flight")
		}
	}
	return *got
}

// putAcked writes until acknowledged, retrying on errors; it returns the
// revision the write committed at.
func (s *scenario) putAcked(cl *Client, key, value string) int64 {
	s.t.Helper()
	for range 50 {
		c := s.do(cl, putReq(key, value))
		if c.Err == nil && !c.TimedOut {
			return c.Response.(*pb.PutResponse).Header.Revision
		}
	}
	s.t.Fatalf("put %q never acknowledged", key)
	return 0
}

func putReq(k, v string) *pb.InternalRaftRequest {
	return &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(k), Value: []byte(v)}}
}

// readAll returns key → value as member id serves it locally.
func (s *scenario) readAll(id uint64) map[string]string {
	s.t.Helper()
	n := s.c.Member(id).Node()
	if n == nil {
		s.t.Fatalf("member %d is down", id)
	}
	resp, err := n.LocalRange(&pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}})
	if err != nil {
		s.t.Fatalf("member %d range: %v", id, err)
	}
	kvs := map[string]string{}
	for _, kv := range resp.Kvs {
		kvs[string(kv.Key)] = string(kv.Value)
	}
	return kvs
}

// converged asserts that every live member has the same hash at the same
// revision, after letting the cluster settle.
func (s *scenario) converged(settle time.Duration) {
	s.t.Helper()
	s.w.RunFor(settle)
	var want uint32
	var wantRev int64
	var from uint64
	for _, id := range s.c.Up() {
		h, err := s.c.Member(id).Node().HashKV(0)
		if err != nil {
			s.t.Fatalf("member %d HashKV: %v", id, err)
		}
		if from == 0 {
			want, wantRev, from = h.Hash, h.Header.Revision, id
			continue
		}
		if h.Hash != want || h.Header.Revision != wantRev {
			s.t.Fatalf("member %d (rev %d hash %x) differs from member %d (rev %d hash %x)",
				id, h.Header.Revision, h.Hash, from, wantRev, want)
		}
	}
}

func TestElection(t *testing.T) {
	for _, members := range []int{3, 5} {
		t.Run(fmt.Sprintf("members=%d", members), func(t *testing.T) {
			s := newScenario(t, 1, members, nil)
			l := s.waitLeader(5*time.Second, 0)
			s.w.RunFor(2 * time.Second)
			if got := s.c.Leader(); got != l {
				t.Fatalf("leadership moved from %d to %d with no fault", l, got)
			}
			for _, id := range s.c.IDs() {
				if st := s.c.Member(id).Node().Status(); st.Leader != l {
					t.Fatalf("member %d follows %d, leader is %d", id, st.Leader, l)
				}
			}
		})
	}
}

func TestThousandReplicatedWrites(t *testing.T) {
	s := newScenario(t, 2, 3, nil)
	s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{})
	for i := range 1000 {
		s.putAcked(cl, fmt.Sprintf("k%04d", i), fmt.Sprintf("v%d", i))
	}
	s.converged(time.Second)
	for _, id := range s.c.IDs() {
		if kvs := s.readAll(id); len(kvs) != 1000 || kvs["k0999"] != "v999" {
			t.Fatalf("member %d has %d keys, k0999=%q", id, len(kvs), kvs["k0999"])
		}
	}
}

func TestLeaderCrashLosesNoAcknowledgedWrite(t *testing.T) {
	s := newScenario(t, 3, 3, nil)
	old := s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{})
	acked := map[string]string{}
	for i := range 100 {
		k, v := fmt.Sprintf("a%03d", i), fmt.Sprintf("v%d", i)
		s.putAcked(cl, k, v)
		acked[k] = v
	}
	s.c.Member(old).Crash()
	nl := s.waitLeader(10*time.Second, old)
	if nl == old {
		t.Fatalf("crashed member %d still leads", old)
	}
	for i := range 100 {
		k, v := fmt.Sprintf("b%03d", i), fmt.Sprintf("v%d", i)
		s.putAcked(cl, k, v)
		acked[k] = v
	}
	s.c.Member(old).Restart()
	s.converged(3 * time.Second)
	for _, id := range s.c.IDs() {
		kvs := s.readAll(id)
		for k, v := range acked {
			if kvs[k] != v {
				t.Fatalf("member %d lost acknowledged %q=%q (has %q)", id, k, v, kvs[k])
			}
		}
	}
}

func TestMinorityPartitionCannotCommit(t *testing.T) {
	s := newScenario(t, 4, 5, nil)
	l := s.waitLeader(5*time.Second, 0)
	var minority, majority []uint64
	minority = append(minority, l)
	for _, id := range s.c.IDs() {
		if id == l {
			continue
		}
		if len(minority) < 2 {
			minority = append(minority, id)
		} else {
			majority = append(majority, id)
		}
	}
	minorityClient := s.c.NewClient(ClientOptions{Timeout: time.Second})
	majorityClient := s.c.NewClient(ClientOptions{})
	s.c.World().Network().Partition(append(slices.Clone(minority), minorityClient.ID()), append(slices.Clone(majority), majorityClient.ID()))
	minorityClient.SetTarget(l)
	majorityClient.SetTarget(majority[0])
	var minorityAcks int
	for i := range 5 {
		c := s.do(minorityClient, putReq(fmt.Sprintf("min%d", i), "x"))
		if c.Err == nil && !c.TimedOut {
			minorityAcks++
		}
		minorityClient.SetTarget(minority[i%2])
	}
	if minorityAcks != 0 {
		t.Fatalf("the minority side acknowledged %d writes", minorityAcks)
	}
	acked := map[string]string{}
	for i := range 20 {
		k := fmt.Sprintf("maj%d", i)
		s.putAcked(majorityClient, k, "y")
		acked[k] = "y"
	}
	s.c.World().Network().Heal()
	s.converged(5 * time.Second)
	for _, id := range s.c.IDs() {
		kvs := s.readAll(id)
		for k, v := range acked {
			if kvs[k] != v {
				t.Fatalf("member %d lost majority write %q after heal", id, k)
			}
		}
		for k := range kvs {
			if strings.HasPrefix(k, "min") {
				t.Fatalf("member %d has minority write %q that was never acknowledged", id, k)
			}
		}
	}
}

func TestIsolatedLeaderStepsDown(t *testing.T) {
	s := newScenario(t, 5, 3, nil)
	l := s.waitLeader(5*time.Second, 0)
	s.c.World().Network().Isolate(l)
	// CheckQuorum: a leader that hears from no quorum for an election
	// timeout steps down; allow two.
	s.w.RunFor(2 * time.Duration(s.c.opts.Node.ElectionTicks) * s.c.opts.Node.TickInterval)
	if st := s.c.Member(l).Node().Status(); st.IsLeader {
		t.Fatalf("isolated member %d still believes it leads (term %d)", l, st.Term)
	}
	nl := s.waitLeader(5*time.Second, l)
	s.c.World().Network().Heal()
	s.w.RunFor(3 * time.Second)
	if s.c.Leader() == 0 {
		t.Fatalf("no leader after heal (new leader was %d)", nl)
	}
}

func TestAllMembersRestartFromDisk(t *testing.T) {
	s := newScenario(t, 6, 3, func(o *ClusterOptions) { o.Node.SnapshotEntries, o.Node.SnapshotCatchUpEntries = 100, 20 })
	s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{})
	acked := map[string]string{}
	for i := range 300 {
		k, v := fmt.Sprintf("k%d", i%50), fmt.Sprintf("v%d", i)
		s.putAcked(cl, k, v)
		acked[k] = v
	}
	for _, id := range s.c.IDs() {
		s.c.Member(id).Crash()
	}
	for _, id := range s.c.IDs() {
		s.c.Member(id).Restart()
		if err := s.c.Member(id).Damaged(); err != nil {
			t.Fatalf("member %d did not restart: %v", id, err)
		}
	}
	s.waitLeader(5*time.Second, 0)
	s.converged(2 * time.Second)
	for _, id := range s.c.IDs() {
		kvs := s.readAll(id)
		for k, v := range acked {
			if kvs[k] != v {
				t.Fatalf("member %d: %q=%q after restart, want %q", id, k, kvs[k], v)
			}
		}
	}
}

func TestFarBehindFollowerCatchesUpBySnapshot(t *testing.T) {
	s := newScenario(t, 7, 3, func(o *ClusterOptions) { o.Node.SnapshotEntries, o.Node.SnapshotCatchUpEntries = 100, 10 })
	l := s.waitLeader(5*time.Second, 0)
	behind := s.c.IDs()[0]
	if behind == l {
		behind = s.c.IDs()[1]
	}
	s.c.Member(behind).Crash()
	cl := s.c.NewClient(ClientOptions{})
	cl.SetTarget(l)
	for i := range 500 {
		s.putAcked(cl, fmt.Sprintf("k%03d", i), "v")
	}
	s.c.Member(behind).Restart()
	s.converged(5 * time.Second)
	if kvs := s.readAll(behind); len(kvs) != 500 {
		t.Fatalf("member %d caught up to %d keys, want 500", behind, len(kvs))
	}
	if !traceHas(s.w, "MsgSnap") {
		t.Fatalf("member %d caught up without a snapshot being sent", behind)
	}
}

func TestTornTailRecovers(t *testing.T) {
	s := newScenario(t, 8, 3, nil)
	l := s.waitLeader(5*time.Second, 0)
	victim := s.c.IDs()[0]
	if victim == l {
		victim = s.c.IDs()[1]
	}
	s.c.Member(victim).Disk().SetTornWrites(true)
	cl := s.c.NewClient(ClientOptions{})
	cl.SetTarget(l)
	for i := range 50 {
		s.putAcked(cl, fmt.Sprintf("k%d", i), "v")
	}
	// Crash in the middle of a stream of writes, between write and fsync
	// where the queue puts it.
	cl.Do(putReq("last", "v"), nil)
	s.w.Step()
	s.c.Member(victim).Crash()
	s.c.Member(victim).Restart()
	if err := s.c.Member(victim).Damaged(); err != nil {
		t.Fatalf("a torn tail made member %d refuse to start: %v", victim, err)
	}
	s.converged(3 * time.Second)
}

func TestBitFlipInSyncedRecordIsDetected(t *testing.T) {
	s := newScenario(t, 9, 3, nil)
	l := s.waitLeader(5*time.Second, 0)
	victim := s.c.IDs()[0]
	if victim == l {
		victim = s.c.IDs()[1]
	}
	cl := s.c.NewClient(ClientOptions{})
	cl.SetTarget(l)
	for i := range 200 {
		s.putAcked(cl, fmt.Sprintf("k%d", i), "value")
	}
	s.w.RunFor(time.Second)
	d := s.c.Member(victim).Disk()
	names, err := d.List("member")
	if err != nil {
		t.Fatal(err)
	}
	var segment string
	for _, n := range names {
		if strings.HasSuffix(n, ".wal") {
			segment = "member/" + n
			break
		}
	}
	data, err := d.ReadFile(segment)
	if err != nil || len(data) < 1000 {
		t.Fatalf("segment %q: %d bytes, %v", segment, len(data), err)
	}
	s.c.Member(victim).Crash()
	if err := d.FlipBit(segment, int64(len(data)/2)); err != nil {
		t.Fatal(err)
	}
	s.c.Member(victim).Restart()
	if s.c.Member(victim).Damaged() == nil {
		t.Fatalf("member %d restarted on a WAL with a flipped bit in a synced record", victim)
	}
	if s.c.Member(victim).Node() != nil {
		t.Fatalf("damaged member %d is running", victim)
	}
	// The other two carry on.
	s.putAcked(cl, "after", "flip")
	s.converged(time.Second)
}

func traceHas(w *World, substr string) bool {
	for _, line := range w.TraceLines() {
		if strings.Contains(line, substr) {
			return true
		}
	}
	return false
}

// nodeConfigSmallSnapshots snapshots often so short runs exercise it.
func nodeConfigSmallSnapshots() node.Config {
	return node.Config{SnapshotEntries: 200, SnapshotCatchUpEntries: 50}
}

// TestGracefulStopRestartsFromItsSnapshot: a member stopped gracefully
// with more than SnapshotEntries applied since its newest snapshot keeps
// serving until it has saved one, and starts again from it, losing no
// acknowledged write.
func TestGracefulStopRestartsFromItsSnapshot(t *testing.T) {
	s := newScenario(t, 8, 3, func(o *ClusterOptions) {
		o.Node.SnapshotEntries, o.Node.SnapshotCatchUpEntries, o.Node.SnapshotSizeRatioMax = 50, 10, 1
	})
	l := s.waitLeader(5*time.Second, 0)
	cl := s.c.NewClient(ClientOptions{})
	cl.SetTarget(l)
	big := strings.Repeat("v", 2<<10)
	for i := range 60 {
		s.putAcked(cl, fmt.Sprintf("big%02d", i), big)
	}
	s.w.RunFor(time.Second)
	m := s.c.Member(l)
	first := m.Node().Status().SnapshotIndex
	if first == 0 {
		t.Fatal("no snapshot after 60 writes with SnapshotEntries 50")
	}
	// Small writes, a fraction of the ~120 KiB state: the pacing waits.
	for i := 0; m.Node().Status().AppliedIndex-first < 60; i++ {
		s.putAcked(cl, "small", fmt.Sprint(i))
	}
	if got := m.Node().Status().SnapshotIndex; got != first {
		t.Fatalf("setup: a snapshot at %d was taken after the first at %d", got, first)
	}
	applied := m.Node().Status().AppliedIndex
	m.Stop()
	if m.Node() == nil {
		t.Fatal("the member stopped at once, without the snapshot")
	}
	s.w.RunFor(time.Second)
	if m.Node() != nil {
		t.Fatal("the member has not stopped after a second")
	}
	if !traceHas(s.w, fmt.Sprintf("member.stop id=%d saved=", l)) || traceHas(s.w, fmt.Sprintf("member.stop id=%d saved=0", l)) {
		t.Fatal("the stop saved no snapshot")
	}
	m.Restart()
	if got := m.Node().Status().SnapshotIndex; got < applied {
		t.Fatalf("restarted from the snapshot at %d, want the one the stop saved at %d or later", got, applied)
	}
	s.converged(2 * time.Second)
	if kvs := s.readAll(l); len(kvs) != 61 || kvs["big59"] != big {
		t.Fatalf("member %d holds %d keys after the restart, want 61", l, len(kvs))
	}
}

// TestGracefulStopOfTheLeaderHandsOff: a leader stopped gracefully hands
// its leadership to another member before it closes, so the cluster is
// without a leader only while the transferee's election runs, far less
// than the election timeout a crashed leader leaves the others, and a
// client of another member writes on at once.
func TestGracefulStopOfTheLeaderHandsOff(t *testing.T) {
	s := newScenario(t, 9, 3, nil)
	l := s.waitLeader(5*time.Second, 0)
	m := s.c.Member(l)
	began := s.w.Now()
	m.Stop()
	for i := 0; m.Node() != nil; i++ {
		if i > 1000 {
			t.Fatal("the leader has not stopped after a second")
		}
		s.w.RunFor(time.Millisecond)
	}
	stopped := s.w.Now()
	if got := s.c.LeaderStops(); got != (LeaderStops{Stops: 1, HandedOff: 1}) {
		t.Fatalf("LeaderStops = %+v, want one stop, handed off", got)
	}
	next := s.c.Leader()
	if next == 0 || next == l {
		t.Fatalf("leader %d when the old leader %d closed, want another member", next, l)
	}
	election := time.Duration(s.c.opts.Node.ElectionTicks) * s.c.opts.Node.TickInterval
	changes, _ := s.c.LeaderChanges()
	var leaderless time.Duration
	var since time.Time
	for _, ch := range changes {
		switch {
		case ch.At.Before(began):
		case ch.Leader == 0 && since.IsZero():
			since = ch.At
		case ch.Leader != 0 && !since.IsZero():
			leaderless += ch.At.Sub(since)
			since = time.Time{}
		}
	}
	t.Logf("stop took %v, leaderless %v (election timeout %v)", stopped.Sub(began), leaderless, election)
	if p := s.c.LivenessProblems(); len(p) != 0 {
		t.Fatalf("liveness problems after a handoff: %v", p)
	}
	if !since.IsZero() || leaderless >= election/4 {
		t.Fatalf("the cluster was without a leader for %v (still: %v) after the stop began; want under a quarter of the election timeout %v",
			leaderless, !since.IsZero(), election)
	}
	cl := s.c.NewClient(ClientOptions{})
	cl.SetTarget(next)
	s.putAcked(cl, "after", "handoff")
	if d := s.w.Now().Sub(stopped); d >= election {
		t.Fatalf("the first write after the stop took %v, an election timeout or more", d)
	}
}

// TestCalmLeaderStopWithoutHandoffIsStuck: a leader stopped while every
// other member is up and no fault is active must hand off; one that closes
// without (here its links are cut behind the nemesis's back) is reported as
// a liveness problem once the handoff's bound has passed.
func TestCalmLeaderStopWithoutHandoffIsStuck(t *testing.T) {
	s := newScenario(t, 10, 3, nil)
	l := s.waitLeader(5*time.Second, 0)
	for _, id := range s.c.IDs() {
		if id != l {
			s.w.network.Block(l, id)
			s.w.network.Block(id, l)
		}
	}
	m := s.c.Member(l)
	m.Stop()
	election := time.Duration(s.c.opts.Node.ElectionTicks) * s.c.opts.Node.TickInterval
	s.w.RunFor(election)
	if m.Node() == nil {
		t.Fatal("the cut-off leader closed within one election timeout, before its handoff's bound")
	}
	s.w.RunFor(2 * election)
	if m.Node() != nil {
		t.Fatal("the cut-off leader has not closed after its handoff's bound")
	}
	p := s.c.LivenessProblems()
	if len(p) != 1 || !strings.Contains(p[0], fmt.Sprintf("liveness: member %d led", l)) {
		t.Fatalf("liveness problems %q; want one naming member %d", p, l)
	}
}

// TestLoneLeaderStopIsNotStuck: a lone member has nobody to hand its
// leadership to; its stop closes at once and is no liveness problem.
func TestLoneLeaderStopIsNotStuck(t *testing.T) {
	alone := newScenario(t, 10, 1, nil)
	only := alone.waitLeader(5*time.Second, 0)
	alone.c.Member(only).Stop()
	alone.w.RunFor(time.Second)
	if alone.c.Member(only).Node() != nil || len(alone.c.LivenessProblems()) != 0 {
		t.Fatalf("a lone leader's stop: still running %v, liveness problems %q; want closed, none",
			alone.c.Member(only).Node() != nil, alone.c.LivenessProblems())
	}
}
