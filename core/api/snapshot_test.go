package api

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/backup"
	"github.com/kvdlabs/kvd/core/mvcc"
)

// Maintenance.Snapshot streams etcd's format as etcd does: 32 KiB chunks
// with the bytes still to come, then the sha256 of the database; the file
// holds the member's keys, history, compaction, leases and members.
func TestSnapshotStreamsEtcdFormat(t *testing.T) {
	c := newTestCluster(t, clusterOpts{size: 3})
	cli := c.client()
	lease, err := cli.Grant(ctx(t), 60)
	if err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("v", 10<<10)
	for i := range 20 {
		if _, err := cli.Put(ctx(t), fmt.Sprintf("k%02d", i), big); err != nil {
			t.Fatal(err)
		}
	}
	cli.Put(ctx(t), "leased", "x", clientv3.WithLease(lease.ID))
	cli.Delete(ctx(t), "k00")
	if _, err := cli.Compact(ctx(t), 5); err != nil {
		t.Fatal(err)
	}
	cli.Put(ctx(t), "k01", "again")

	stream, err := pb.NewMaintenanceClient(cli.ActiveConnection()).Snapshot(ctx(t), &pb.SnapshotRequest{})
	if err != nil {
		t.Fatal(err)
	}
	var db, sum []byte
	for {
		resp, err := stream.Recv()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if resp.Version != backup.StorageVersion {
			t.Fatalf("version %q", resp.Version)
		}
		if sum != nil {
			t.Fatal("a message after the checksum")
		}
		if resp.RemainingBytes == 0 && len(resp.Blob) == sha256.Size && len(db) > 0 && len(db)%4096 == 0 {
			sum = resp.Blob
			continue
		}
		if len(resp.Blob) > 32<<10 {
			t.Fatalf("chunk of %d bytes", len(resp.Blob))
		}
		db = append(db, resp.Blob...)
		if resp.RemainingBytes == 0 && len(db)%4096 != 0 {
			t.Fatalf("database of %d bytes ends with remaining 0", len(db))
		}
	}
	if got := sha256.Sum256(db); !bytes.Equal(got[:], sum) {
		t.Fatalf("trailer %x, sha256 of the database %x", sum, got)
	}
	path := filepath.Join(t.TempDir(), "snap.db")
	if err := os.WriteFile(path, append(db, sum...), 0o600); err != nil {
		t.Fatal(err)
	}
	snap, err := backup.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	// The stream may come from a member a write or two behind the one
	// asked here: compare at the snapshot's own revision.
	h, err := cli.HashKV(ctx(t), c.members[0].clientURL, snap.Revision)
	if err != nil {
		t.Fatal(err)
	}
	b, err := mvcc.BuildSnapshot(snap.Revision, snap.CompactRevision, snap.Versions)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := mvcc.Restore(b, mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	hash, _, _, _ := kv.HashKV(0)
	if snap.Revision < 23 || snap.CompactRevision != 5 || hash != h.Hash {
		t.Fatalf("snapshot at %d compacted at %d hash %x; member at %d hash %x", snap.Revision, snap.CompactRevision, hash, h.HashRevision, h.Hash)
	}
	if len(snap.Leases) != 1 || snap.Leases[0].ID != int64(lease.ID) || snap.Leases[0].TTLSeconds != 60 {
		t.Fatalf("leases %v", snap.Leases)
	}
	if len(snap.Members) != 3 || snap.Members[0].Name == "" || len(snap.Members[0].PeerURLs) == 0 || snap.ConsistentIndex == 0 || snap.Term == 0 || len(snap.ConfState.Voters) != 3 {
		t.Fatalf("members %v index %d term %d conf %v", snap.Members, snap.ConsistentIndex, snap.Term, snap.ConfState)
	}
}
