package node

import (
	"bytes"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// bufferSink is a snapshotSink in memory.
type bufferSink struct {
	bytes.Buffer
	committed, aborted bool
}

func (b *bufferSink) Commit() error { b.committed = true; return nil }
func (b *bufferSink) Abort() error  { b.aborted = true; return nil }

// A snapshot job stepped a little at a time while the store keeps taking
// writes streams, byte for byte, the state encodeState builds at the job's
// start, and it decodes back to that state.
func TestSnapshotJobStreamsTheStateAtItsStart(t *testing.T) {
	kv := mvcc.New(mvcc.Options{})
	put := func(i int) {
		if _, err := kv.Put(&pb.PutRequest{Key: fmt.Appendf(nil, "key-%05d", i%700), Value: bytes.Repeat([]byte{'v'}, i%300)}); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 2000 {
		put(i)
	}
	st := state{lease: []byte("leases"), members: map[uint64][]byte{2: []byte("b"), 1: []byte("a")},
		attrs: map[uint64]*membershippb.Attributes{1: {Name: "a"}}, applied: []uint64{7, 9}, index: 42}
	whole := st
	whole.kv = kv
	want := encodeState(whole)
	j := &snapshotJob{index: 42, term: 3, confState: &raftpb.ConfState{Voters: []uint64{1, 2}}, st: st, enc: kv.NewSnapshotEncoder()}
	sink := &bufferSink{}
	var promised int64
	begin := func(md *raftpb.SnapshotMetadata, sizeBytes int64) (snapshotSink, error) {
		if md.GetIndex() != 42 || md.GetTerm() != 3 || len(md.GetConfState().GetVoters()) != 2 {
			t.Fatalf("snapshot metadata %v", md)
		}
		promised = sizeBytes
		return sink, nil
	}
	steps := 0
	for done := false; !done; steps++ {
		var err error
		if done, err = j.step(1000, begin); err != nil {
			t.Fatal(err)
		}
		put(2000 + steps) // the member serves writes between steps
	}
	if steps < 10 {
		t.Fatalf("a %d-byte state took %d steps of 1000 bytes", len(want), steps)
	}
	if int64(sink.Len()) != promised || !bytes.Equal(sink.Bytes(), want) {
		t.Fatalf("streamed %d bytes (promised %d), encodeState at the start gave %d; equal %v",
			sink.Len(), promised, len(want), bytes.Equal(sink.Bytes(), want))
	}
	back, err := decodeState(sink.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if string(back.lease) != "leases" || len(back.applied) != 2 || len(back.members) != 2 || back.index != 42 {
		t.Fatalf("decoded state differs: lease %q, applied %v, members %v", back.lease, back.applied, back.members)
	}
	if _, err := mvcc.Restore(back.mvcc, mvcc.Options{}); err != nil {
		t.Fatalf("restore the streamed mvcc part: %v", err)
	}
}
