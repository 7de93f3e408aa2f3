package node

import (
	"errors"
	"testing"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/watch"
)

// readBackup reads a whole backup in small steps, as the member loop does.
func readBackup(t *testing.T, b *Backup) []mvcc.KeyVersion {
	var all []mvcc.KeyVersion
	for range 1 << 16 {
		var done bool
		var err error
		if all, done, err = b.Next(all, 16); err != nil {
			t.Fatal(err)
		}
		if done {
			return all
		}
	}
	t.Fatal("backup never finished")
	return nil
}

// A backup taken from a running cluster, restored into a new cluster of
// three, is the same store with the same leases; the new cluster serves.
func TestBackupRestoresIntoANewCluster(t *testing.T) {
	src := newTestCluster(t, 1, nil)
	l := src.waitLeader()
	mustOK(t, src.do(l, &pb.InternalRaftRequest{LeaseGrant: &pb.LeaseGrantRequest{ID: 77, TTL: 30}}))
	for _, kv := range [][2]string{{"a", "1"}, {"b", "1"}, {"a", "2"}, {"c", "1"}} {
		mustOK(t, src.do(l, put(kv[0], kv[1])))
	}
	mustOK(t, src.do(l, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("leased"), Value: []byte("x"), Lease: 77}}))
	mustOK(t, src.do(l, &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte("b")}}))
	mustOK(t, src.do(l, &pb.InternalRaftRequest{Compaction: &pb.CompactionRequest{Revision: 5}}))
	n := src.nodes[l]
	b := n.BeginBackup()
	// Writes after the backup began are not in it.
	mustOK(t, src.do(l, put("later", "1")))
	versions := readBackup(t, b)
	if b.Revision != 7 || b.CompactRevision != 5 || b.Index == 0 || b.Term == 0 || len(b.Members) != 1 || len(b.Leases) != 1 || b.Leases[0].TTLSeconds != 30 {
		t.Fatalf("backup %+v", b)
	}
	wantHash, err := mvcc.Restore(mustBuild(t, b.Revision, b.CompactRevision, versions), mvcc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	h, _, _, _ := wantHash.HashKV(0)

	dst := &testCluster{t: t, nodes: map[uint64]*Node{}, fs: map[uint64]disk.FS{}, clock: src.clock,
		results: map[uint64]Result{}, watch: map[uint64][]watch.Delivery{}, cut: map[uint64]map[uint64]bool{}, early: map[uint64][]Output{}, ids: []uint64{1, 2, 3}}
	r := Restored{Revision: b.Revision, CompactRevision: b.CompactRevision, Versions: versions, Leases: b.Leases, Alarms: b.Alarms}
	for _, id := range dst.ids {
		dst.fs[id] = disk.OSFS{Root: t.TempDir()}
		cfg := dst.config(id)
		cfg.PeerContexts = map[uint64][]byte{1: []byte("m1"), 2: []byte("m2"), 3: []byte("m3")}
		if err := CreateRestored(cfg, r); err != nil {
			t.Fatal(err)
		}
		if err := CreateRestored(cfg, r); !errors.Is(err, ErrRestore) {
			t.Fatalf("restoring over a WAL: %v", err)
		}
		dst.start(id)
	}
	nl := dst.waitLeader()
	for _, id := range dst.ids {
		st := dst.nodes[id].Status()
		got, _ := dst.nodes[id].HashKV(0)
		if st.Revision != 7 || st.CompactRev != 5 || st.Leases != 1 || got.Hash != h || len(dst.nodes[id].Members()) != 3 {
			t.Fatalf("member %d: %+v hash %x, want revision 7 compacted at 5, one lease, hash %x", id, st, got.Hash, h)
		}
	}
	res := mustOK(t, dst.do(nl, get("leased", false)))
	if kvs := res.Response.(*pb.RangeResponse).Kvs; len(kvs) != 1 || kvs[0].Lease != 77 || kvs[0].ModRevision != 6 {
		t.Fatalf("leased key after restore: %v", kvs)
	}
	// Revoking the restored lease deletes the key attached to it.
	mustOK(t, dst.do(nl, &pb.InternalRaftRequest{LeaseRevoke: &pb.LeaseRevokeRequest{ID: 77}}))
	mustOK(t, dst.do(nl, put("new", "1")))
	dst.converged()
	if rev := dst.nodes[nl].Status().Revision; rev != 9 {
		t.Fatalf("revision after a revoke and a put: %d, want 9", rev)
	}
}

func mustBuild(t *testing.T, rev, compactRev int64, vs []mvcc.KeyVersion) []byte {
	b, err := mvcc.BuildSnapshot(rev, compactRev, vs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// A state that breaks an invariant is refused, and nothing is written.
func TestCreateRestoredRefusesBadState(t *testing.T) {
	fs := disk.OSFS{Root: t.TempDir()}
	cfg := Config{ID: 1, ClusterID: 2, Peers: []uint64{1}, FS: fs, Dir: "member"}
	cases := map[string]Restored{
		"unknown lease": {Revision: 2, Versions: []mvcc.KeyVersion{{Key: "k", ModRevision: 2, CreateRevision: 2, Version: 1, Lease: 5}}},
		"history gap":   {Revision: 3, Versions: []mvcc.KeyVersion{{Key: "k", ModRevision: 3, CreateRevision: 3, Version: 1}}},
		"bad alarm":     {Revision: 1, Alarms: []*pb.AlarmMember{{MemberID: 1, Alarm: 99}}},
	}
	for name, r := range cases {
		if err := CreateRestored(cfg, r); !errors.Is(err, ErrRestore) {
			t.Errorf("%s: %v, want ErrRestore", name, err)
		}
	}
	notPeer := cfg
	notPeer.ID = 9
	if err := CreateRestored(notPeer, Restored{Revision: 1}); !errors.Is(err, ErrRestore) {
		t.Errorf("a member outside the peers: %v", err)
	}
	if names, _ := fs.List("member"); len(names) != 0 {
		t.Fatalf("refused restores left %v", names)
	}
}
