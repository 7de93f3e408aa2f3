package node

import (
	"bytes"
	"fmt"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/membershippb"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// The streamed state frame is byte for byte the one encodeState builds,
// and decodes back to the same store.
func TestStreamedStateEqualsEncodedState(t *testing.T) {
	kv := mvcc.New(mvcc.Options{})
	for i := range 2000 {
		if _, err := kv.Put(&pb.PutRequest{Key: fmt.Appendf(nil, "key-%05d", i%700), Value: bytes.Repeat([]byte{'v'}, i%300)}); err != nil {
			t.Fatal(err)
		}
	}
	st := state{kv: kv, lease: []byte("leases"), members: map[uint64][]byte{2: []byte("b"), 1: []byte("a")},
		attrs: map[uint64]*membershippb.Attributes{1: {Name: "a"}}, applied: []uint64{7, 9}}
	whole := encodeState(st)
	frame := st.streamable()
	var w bytes.Buffer
	if err := frame.writeTo(&w); err != nil {
		t.Fatal(err)
	}
	if int64(w.Len()) != frame.sizeBytes() || !bytes.Equal(w.Bytes(), whole) {
		t.Fatalf("streamed %d bytes (promised %d), encoded %d; equal %v", w.Len(), frame.sizeBytes(), len(whole), bytes.Equal(w.Bytes(), whole))
	}
	back, err := decodeState(w.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(back.mvcc, kv.Snapshot()) || string(back.lease) != "leases" || len(back.applied) != 2 {
		t.Fatalf("decoded state differs: %d mvcc bytes, lease %q, applied %v", len(back.mvcc), back.lease, back.applied)
	}
}
