package node

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
)

// Linearizable reads submitted between two Process calls share one
// ReadIndex round: a follower asks the leader once, the leader confirms
// its leadership with one heartbeat per follower, however many reads wait.
func TestReadsBetweenProcessCallsShareOneReadIndexRound(t *testing.T) {
	const reads = 100
	for _, onLeader := range []bool{false, true} {
		c := newTestCluster(t, 3, nil)
		l := c.waitLeader()
		at := l
		if !onLeader {
			at = c.ids[0]
			if at == l {
				at = c.ids[1]
			}
		}
		mustOK(t, c.do(l, put("a", "1")))
		var readIndexes, confirmations int
		c.duplicate = func(m *raftpb.Message) bool {
			switch {
			case m.GetType() == raftpb.MsgReadIndex:
				readIndexes++
			case m.GetType() == raftpb.MsgHeartbeat && m.GetFrom() == l && len(m.GetContext()) > 0:
				confirmations++
			}
			return false
		}
		var ids []uint64
		for range reads {
			ids = append(ids, c.nodes[at].Submit(get("a", false)))
		}
		c.settle()
		for _, id := range ids {
			r, ok := c.results[id]
			if !ok {
				t.Fatalf("onLeader=%v: read %x not served after one round", onLeader, id)
			}
			kvs := mustOK(t, r).Response.(*pb.RangeResponse).Kvs
			if len(kvs) != 1 || string(kvs[0].Value) != "1" {
				t.Fatalf("onLeader=%v: read %v", onLeader, kvs)
			}
		}
		wantReadIndexes := 1
		if onLeader {
			wantReadIndexes = 0 // the leader needs no one's permission to ask itself
		}
		if readIndexes != wantReadIndexes || confirmations != len(c.ids)-1 {
			t.Fatalf("onLeader=%v: %d reads took %d MsgReadIndex and %d confirming heartbeats, want %d and %d",
				onLeader, reads, readIndexes, confirmations, wantReadIndexes, len(c.ids)-1)
		}
	}
}

// With a round in flight, later reads wait and share the next round
// instead of each starting its own.
func TestReadsWhileARoundIsInFlightShareTheNext(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	mustOK(t, c.do(l, put("a", "1")))
	confirmations := 0
	c.duplicate = func(m *raftpb.Message) bool {
		if m.GetType() == raftpb.MsgHeartbeat && m.GetFrom() == l && len(m.GetContext()) > 0 {
			confirmations++
		}
		return false
	}
	var ids []uint64
	for range 10 {
		// One read per round of the cluster: without the bound, each
		// would start a round of its own.
		ids = append(ids, c.nodes[l].Submit(get("a", false)))
		c.step()
	}
	c.settle()
	for _, id := range ids {
		mustOK(t, c.results[id])
	}
	followers := len(c.ids) - 1
	if rounds := confirmations / followers; rounds >= 10 || rounds < 2 {
		t.Fatalf("10 reads a round apart took %d ReadIndex rounds; want them to share rounds (fewer than 10, at least 2)", rounds)
	}
}

// A round whose request or answer was lost does not hold later reads
// hostage: after half an election timeout its reads go into a new round
// and are served long before the request timeout.
func TestLostReadRoundIsRetried(t *testing.T) {
	c := newTestCluster(t, 3, nil)
	l := c.waitLeader()
	f := c.ids[0]
	if f == l {
		f = c.ids[1]
	}
	mustOK(t, c.do(l, put("a", "1")))
	dropped := 0
	c.drop = func(m *raftpb.Message) bool {
		if m.GetType() == raftpb.MsgReadIndex && dropped == 0 {
			dropped++
			return true
		}
		return false
	}
	id := c.nodes[f].Submit(get("a", false))
	c.settle()
	if _, ok := c.results[id]; ok || dropped != 1 {
		t.Fatalf("read served (%v) although its only request was dropped (%d)", ok, dropped)
	}
	for ticks := 1; ticks <= 10; ticks++ {
		c.tick(1)
		if r, ok := c.results[id]; ok {
			if kvs := mustOK(t, r).Response.(*pb.RangeResponse).Kvs; len(kvs) != 1 {
				t.Fatalf("retried read: %v", kvs)
			}
			return
		}
	}
	t.Fatal("read of a lost round not served within 10 ticks (the request timeout is 70)")
}
