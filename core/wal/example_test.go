package wal_test

import (
	"fmt"
	"os"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/wal"
)

// A member creates its WAL once, saves what each raft Ready asks it to, and
// on restart gets back exactly what was durable.
func Example() {
	root, err := os.MkdirTemp("", "wal-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)
	fs := disk.OSFS{Root: root}

	w, err := wal.Create(fs, "member", []byte("cluster=1 member=1"), wal.Options{})
	if err != nil {
		panic(err)
	}
	ents := []*raftpb.Entry{
		{Index: proto.Uint64(1), Term: proto.Uint64(1), Data: []byte("put a=1")},
		{Index: proto.Uint64(2), Term: proto.Uint64(1), Data: []byte("put b=2")},
	}
	hs := &raftpb.HardState{Term: proto.Uint64(1), Vote: proto.Uint64(1), Commit: proto.Uint64(2)}
	// Entries and hard state become durable together, with one fsync.
	if err := w.Save(hs, ents); err != nil {
		panic(err) // a real member stops acknowledging and reopens
	}
	if err := w.Close(); err != nil {
		panic(err)
	}

	// After a restart.
	w, rec, err := wal.Open(fs, "member", wal.Options{})
	if err != nil {
		panic(err) // wraps wal.ErrCorrupt if durable state is damaged
	}
	defer w.Close()
	fmt.Printf("metadata %q, term %d, commit %d\n", rec.Metadata, rec.HardState.GetTerm(), rec.HardState.GetCommit())
	for _, e := range rec.Entries {
		fmt.Printf("entry %d: %s\n", e.GetIndex(), e.GetData())
	}
	// Output:
	// metadata "cluster=1 member=1", term 1, commit 2
	// entry 1: put a=1
	// entry 2: put b=2
}
