package wal

import (
	"testing"
	"unsafe"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"
	"pgregory.net/rapid"
)

// unmarshalSnapshot must read what proto.Marshal writes exactly as
// proto.Unmarshal does, fail where it fails, and alias the data.
func TestUnmarshalSnapshotAgreesWithProto(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		want := &raftpb.Snapshot{
			Data: rapid.SliceOfN(rapid.Byte(), 0, 300).Draw(t, "data"),
			Metadata: &raftpb.SnapshotMetadata{
				Index: proto.Uint64(rapid.Uint64().Draw(t, "index")),
				Term:  proto.Uint64(rapid.Uint64().Draw(t, "term")),
				ConfState: &raftpb.ConfState{
					Voters:   rapid.SliceOfN(rapid.Uint64(), 0, 5).Draw(t, "voters"),
					Learners: rapid.SliceOfN(rapid.Uint64(), 0, 3).Draw(t, "learners"),
				},
			},
		}
		if rapid.Bool().Draw(t, "noMetadata") {
			want.Metadata = nil
		}
		payload, err := proto.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		// A cut anywhere, or a flipped byte, must fail or decode as proto does.
		switch rapid.IntRange(0, 2).Draw(t, "damage") {
		case 1:
			payload = payload[:rapid.IntRange(0, len(payload)).Draw(t, "cut")]
		case 2:
			if len(payload) > 0 {
				payload[rapid.IntRange(0, len(payload)-1).Draw(t, "at")] ^= rapid.Byte().Draw(t, "flip") | 1
			}
		}
		ref := &raftpb.Snapshot{}
		refErr := proto.Unmarshal(payload, ref)
		got, err := unmarshalSnapshot(payload)
		if (err != nil) != (refErr != nil) {
			t.Fatalf("error %v, proto.Unmarshal's %v", err, refErr)
		}
		if err != nil {
			return
		}
		ref.ProtoReflect().SetUnknown(nil) // unknown fields are skipped, not kept
		if !proto.Equal(got, ref) {
			t.Fatalf("decoded %v, proto.Unmarshal %v", got, ref)
		}
		if n := len(got.Data); n > 0 {
			start, end := uintptr(unsafe.Pointer(unsafe.SliceData(payload))), uintptr(unsafe.Pointer(unsafe.SliceData(payload)))+uintptr(len(payload))
			if p := uintptr(unsafe.Pointer(unsafe.SliceData(got.Data))); p < start || p >= end || cap(got.Data) != n {
				t.Fatalf("data of %d bytes is a copy, or can grow into the payload", n)
			}
		}
	})
}
