package node

import (
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
)

func TestLeadingRequestID(t *testing.T) {
	for _, tt := range []struct {
		name string
		data []byte
		id   uint64
		ok   bool
	}{
		{"marshalled", mustMarshal(t, &pb.InternalRaftRequest{ID: 300, Put: &pb.PutRequest{Key: []byte("k")}}), 300, true},
		{"no id: another field first", mustMarshal(t, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("k")}}), 0, false},
		{"empty", nil, 0, false},
		{"truncated varint", []byte{0x08, 0x80}, 0, false},
	} {
		id, ok := leadingRequestID(tt.data)
		if id != tt.id || ok != tt.ok {
			t.Errorf("%s: got %d %v, want %d %v", tt.name, id, ok, tt.id, tt.ok)
		}
	}
}

// A member applying the entry it proposed uses its own request; an entry
// with the same id but other bytes is decoded, never confused with it.
func TestDecodeRequestReusesOnlyTheExactProposal(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	l := c.waitLeader()
	n := c.nodes[l]
	req := put("k", "mine")
	id := n.Submit(req)
	p := n.proposals[id]
	if p == nil {
		t.Fatalf("request %d is not waiting as a proposal", id)
	}
	if got := n.decodeRequest(&raftpb.Entry{Data: p.data}); got != req {
		t.Errorf("own entry decoded to %v, want the submitted request itself", got)
	}
	other := mustMarshal(t, &pb.InternalRaftRequest{ID: id, Put: &pb.PutRequest{Key: []byte("k"), Value: []byte("theirs")}})
	got := n.decodeRequest(&raftpb.Entry{Data: other})
	if got == req || string(got.GetPut().GetValue()) != "theirs" || got.ID != id {
		t.Errorf("entry with the same id and other bytes gave %v, want its own decoded request", got)
	}
	c.settle()
	mustOK(t, c.results[id])
}

func mustMarshal(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
