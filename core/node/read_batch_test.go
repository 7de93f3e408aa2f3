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
