package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/backup"
	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/internal/procs"
)

// etcd's own etcd and etcdutl, built beside kvd on first use: only the
// snapshot interop tests need them.
var (
	etcdBuild               sync.Once
	etcdBin, etcdutlBin     string
	etcdBuildErr            error
	snapshotLoadWritesMax   = 3000
	snapshotLoadDurationMax = 3 * time.Second
)

func etcdTools(t *testing.T) {
	t.Helper()
	etcdBuild.Do(func() {
		_, file, _, _ := runtime.Caller(0)
		var bins []string
		bins, etcdBuildErr = procs.Build(filepath.Join(filepath.Dir(file), "..", ".."), filepath.Dir(kvdBin), "etcd", "etcdutl")
		if etcdBuildErr == nil {
			etcdBin, etcdutlBin = bins[0], bins[1]
		}
	})
	if etcdBuildErr != nil {
		t.Fatal(etcdBuildErr)
	}
}

// run runs a tool to completion and returns its combined output; a
// non-zero exit fails the test.
func runTool(t *testing.T, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = t.TempDir()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

// snapshotSave is the real `etcdctl snapshot save` from one endpoint.
func snapshotSave(t *testing.T, endpoint, path string) {
	t.Helper()
	runTool(t, etcdctlBin, "--endpoints", endpoint, "--command-timeout", "20s", "snapshot", "save", path)
}

// member describes one process to start on loopback.
type member struct {
	name            string
	clientURL, peer string
	dataDir         string
	initial, token  string
	extra           []string
}

// loopbackMembers lays out size members named prefix0.. on fresh ports,
// their data dirs under dir.
func loopbackMembers(t *testing.T, dir, prefix, token string, size int) []member {
	ports := freePorts(t, 2*size)
	var initial []string
	ms := make([]member, size)
	for i := range ms {
		ms[i] = member{
			name:      fmt.Sprintf("%s%d", prefix, i),
			clientURL: fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]),
			peer:      fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]),
			token:     token,
		}
		ms[i].dataDir = filepath.Join(dir, ms[i].name+".etcd")
		initial = append(initial, ms[i].name+"="+ms[i].peer)
	}
	for i := range ms {
		ms[i].initial = strings.Join(initial, ",")
	}
	return ms
}

// restoreFlags are etcdutl's flags of `snapshot restore` for m, which
// kvd's restore takes too.
func (m member) restoreFlags() []string {
	return []string{"--name", m.name, "--initial-cluster", m.initial, "--initial-cluster-token", m.token,
		"--initial-advertise-peer-urls", m.peer, "--data-dir", m.dataDir}
}

// startMembers starts bin (kvd or etcd: the same flags) for each member
// and stops them when the test ends.
func startMembers(t *testing.T, bin string, ms []member) *procCluster {
	c := &procCluster{t: t}
	for _, m := range ms {
		p := &proc{name: m.name, clientURL: m.clientURL, args: append([]string{
			"--name", m.name, "--data-dir", m.dataDir,
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peer, "--initial-advertise-peer-urls", m.peer,
			"--initial-cluster", m.initial, "--initial-cluster-token", m.token,
			"--initial-cluster-state", "new", "--heartbeat-interval", "10", "--election-timeout", "100",
			"--log-level", "warn",
		}, m.extra...)}
		p.log = &procs.Output{}
		p.cmd = exec.Command(bin, p.args...)
		p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
		if err := p.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		p.exited = make(chan struct{})
		go func() { p.cmd.Wait(); close(p.exited) }()
		c.procs = append(c.procs, p)
	}
	t.Cleanup(c.stopAll)
	return c
}

// keysAt reads every key at rev (0: now), linearizably.
func keysAt(t *testing.T, cli *clientv3.Client, rev int64) (*clientv3.GetResponse, []*mvccpb.KeyValue) {
	t.Helper()
	opts := []clientv3.OpOption{clientv3.WithPrefix()}
	if rev > 0 {
		opts = append(opts, clientv3.WithRev(rev))
	}
	resp, err := cli.Get(ctxT(t, 10*time.Second), "", opts...)
	if err != nil {
		t.Fatalf("get every key at %d: %v", rev, err)
	}
	return resp, resp.Kvs
}

// sameKeys fails unless a and b hold the same keys with the same values,
// revisions, versions and leases.
func sameKeys(t *testing.T, what string, a, b []*mvccpb.KeyValue) {
	t.Helper()
	if len(a) != len(b) {
		t.Fatalf("%s: %d keys against %d", what, len(a), len(b))
	}
	for i := range a {
		x, y := a[i], b[i]
		if string(x.Key) != string(y.Key) || string(x.Value) != string(y.Value) || x.CreateRevision != y.CreateRevision ||
			x.ModRevision != y.ModRevision || x.Version != y.Version || x.Lease != y.Lease {
			t.Fatalf("%s: key %d differs:\n%v\n%v", what, i, x, y)
		}
	}
}

// hashKV is a member's HashKV at rev (0: now).
func hashKV(t *testing.T, cli *clientv3.Client, endpoint string, rev int64) *clientv3.HashKVResponse {
	t.Helper()
	h, err := cli.HashKV(ctxT(t, 10*time.Second), endpoint, rev)
	if err != nil {
		t.Fatalf("HashKV of %s at %d: %v", endpoint, rev, err)
	}
	return h
}

// statusOf is `BIN snapshot status -w json` (kvd or etcdutl).
func statusOf(t *testing.T, bin, path string) backup.Status {
	t.Helper()
	var st backup.Status
	out := runTool(t, bin, "snapshot", "status", path, "-w", "json")
	if i := strings.LastIndex(out, "{"); i < 0 || json.Unmarshal([]byte(out[i:]), &st) != nil {
		t.Fatalf("%s snapshot status -w json: %q", filepath.Base(bin), out)
	}
	return st
}

// (a) The real etcdctl saves a snapshot from kvd while writes go on; three
// new kvd members restored from it, each with its own --name, serve the
// very state the source had at the snapshot's revision.
func TestSnapshotUnderLoadRestoresNewKvdCluster(t *testing.T) {
	src := startProcCluster(t, 3)
	cli := src.client()
	src.leader(cli, nil)
	lease, err := cli.Grant(ctxT(t, 5*time.Second), 300)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 100 {
		opts := []clientv3.OpOption{}
		if i%10 == 0 {
			opts = append(opts, clientv3.WithLease(lease.ID))
		}
		if _, err := cli.Put(ctxT(t, 5*time.Second), fmt.Sprintf("pre/%03d", i), fmt.Sprint(i), opts...); err != nil {
			t.Fatal(err)
		}
	}
	cli.Delete(ctxT(t, 5*time.Second), "pre/05", clientv3.WithPrefix())
	if _, err := cli.Compact(ctxT(t, 5*time.Second), 50); err != nil {
		t.Fatal(err)
	}

	// A bounded write load runs while the snapshot is taken.
	stop := make(chan struct{})
	loadDone := make(chan int)
	go func() {
		n := 0
		deadline := time.Now().Add(snapshotLoadDurationMax)
		for ; n < snapshotLoadWritesMax && time.Now().Before(deadline); n++ {
			select {
			case <-stop:
				loadDone <- n
				return
			default:
			}
			cx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			cli.Put(cx, fmt.Sprintf("load/%d", n%200), fmt.Sprint(n))
			cancel()
		}
		loadDone <- n
	}()
	time.Sleep(200 * time.Millisecond)
	path := filepath.Join(t.TempDir(), "kvd.db")
	snapshotSave(t, src.procs[1].clientURL, path)
	close(stop)
	writes := <-loadDone
	st := statusOf(t, kvdBin, path)
	t.Logf("snapshot at revision %d with %d keys, %d bytes; %d writes ran meanwhile", st.Revision, st.TotalKey, st.TotalSize, writes)
	if st.Revision <= 103 {
		t.Fatalf("snapshot at revision %d holds none of the load", st.Revision)
	}

	ms := loopbackMembers(t, t.TempDir(), "r", "restored-"+t.Name(), 3)
	for _, m := range ms {
		runTool(t, kvdBin, append([]string{"snapshot", "restore", path}, m.restoreFlags()...)...)
	}
	dst := startMembers(t, kvdBin, ms)
	dcli := dst.client()
	dst.leader(dcli, nil)

	// The source as of the snapshot's revision is what the new cluster is.
	_, want := keysAt(t, cli, st.Revision)
	wantHash := hashKV(t, cli, src.procs[1].clientURL, st.Revision)
	resp, got := keysAt(t, dcli, 0)
	if resp.Header.Revision != st.Revision {
		t.Fatalf("restored cluster at revision %d, snapshot at %d", resp.Header.Revision, st.Revision)
	}
	sameKeys(t, "restored cluster against the source at the snapshot's revision", want, got)
	for _, p := range dst.procs {
		if h := hashKV(t, dcli, p.clientURL, 0); h.Hash != wantHash.Hash || h.CompactRevision != 50 {
			t.Fatalf("%s: HashKV %d compacted at %d, source at %d: %d", p.name, h.Hash, h.CompactRevision, st.Revision, wantHash.Hash)
		}
	}
	members, err := dcli.MemberList(ctxT(t, 5*time.Second))
	if err != nil || len(members.Members) != 3 {
		t.Fatalf("restored members: %v, %v", members, err)
	}
	srcMembers, _ := cli.MemberList(ctxT(t, 5*time.Second))
	if members.Header.ClusterId == srcMembers.Header.ClusterId {
		t.Fatalf("restored cluster kept the source's cluster id %x", members.Header.ClusterId)
	}
	ttl, err := dcli.TimeToLive(ctxT(t, 5*time.Second), lease.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.GrantedTTL != 300 || len(ttl.Keys) != 9 {
		t.Fatalf("restored lease: %+v, %v (want TTL 300 with the 9 live keys written with it)", ttl, err)
	}
	if _, err := dcli.Put(ctxT(t, 5*time.Second), "after-restore", "1"); err != nil {
		t.Fatalf("write to the restored cluster: %v", err)
	}
}

// (b) and (c) A snapshot of etcd v3.7.3 restored into kvd serves the same
// keys, revisions, history and leases; a snapshot of that kvd, checked by
// etcdutl and restored with it, starts etcd on the same state again.
func TestSnapshotMigratesEtcdToKvdAndBack(t *testing.T) {
	etcdTools(t)
	dir := t.TempDir()
	etcdMs := loopbackMembers(t, dir, "etcd", "etcd-"+t.Name(), 1)
	etcd := startMembers(t, etcdBin, etcdMs)
	ecli := etcd.client()
	etcd.leader(ecli, nil)
	cx := ctxT(t, 20*time.Second)
	lease, err := ecli.Grant(cx, 120)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 30 {
		ecli.Put(cx, fmt.Sprintf("k%02d", i%10), fmt.Sprintf("v%d", i))
	}
	ecli.Put(cx, "leased/a", "1", clientv3.WithLease(lease.ID))
	ecli.Put(cx, "leased/b", "1", clientv3.WithLease(lease.ID))
	ecli.Txn(cx).Then(clientv3.OpPut("t1", "x"), clientv3.OpDelete("k03"), clientv3.OpPut("t2", "y")).Commit()
	if _, err := ecli.Compact(cx, 15); err != nil {
		t.Fatal(err)
	}
	ecli.Delete(cx, "k04")
	etcdSnap := filepath.Join(dir, "etcd.db")
	snapshotSave(t, etcdMs[0].clientURL, etcdSnap)
	eResp, eKeys := keysAt(t, ecli, 0)
	_, eOld := keysAt(t, ecli, 20)
	eHash := hashKV(t, ecli, etcdMs[0].clientURL, 0)
	if st := statusOf(t, kvdBin, etcdSnap); st != statusOf(t, etcdutlBin, etcdSnap) {
		t.Fatalf("kvd and etcdutl disagree on the status of etcd's snapshot: %+v", st)
	}

	// (b) etcd → kvd.
	kvdMs := loopbackMembers(t, dir, "kvd", "kvd-"+t.Name(), 1)
	runTool(t, kvdBin, append([]string{"snapshot", "restore", etcdSnap}, kvdMs[0].restoreFlags()...)...)
	kvd := startMembers(t, kvdBin, kvdMs)
	kcli := kvd.client()
	kvd.leader(kcli, nil)
	kResp, kKeys := keysAt(t, kcli, 0)
	if kResp.Header.Revision != eResp.Header.Revision {
		t.Fatalf("kvd restored at revision %d, etcd was at %d", kResp.Header.Revision, eResp.Header.Revision)
	}
	sameKeys(t, "kvd restored from etcd", eKeys, kKeys)
	_, kOld := keysAt(t, kcli, 20)
	sameKeys(t, "history at revision 20", eOld, kOld)
	if _, err := kcli.Get(ctxT(t, 5*time.Second), "k01", clientv3.WithRev(14)); err == nil {
		t.Fatal("kvd restored from etcd serves a revision below etcd's compaction")
	}
	if h := hashKV(t, kcli, kvdMs[0].clientURL, 0); h.Hash != eHash.Hash || h.CompactRevision != eHash.CompactRevision {
		t.Fatalf("kvd HashKV %d compacted at %d, etcd %d at %d", h.Hash, h.CompactRevision, eHash.Hash, eHash.CompactRevision)
	}
	ttl, err := kcli.TimeToLive(ctxT(t, 5*time.Second), lease.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.GrantedTTL != 120 || len(ttl.Keys) != 2 {
		t.Fatalf("lease on kvd: %+v, %v", ttl, err)
	}

	// (c) kvd → etcd, with one more write on kvd first.
	if _, err := kcli.Put(ctxT(t, 5*time.Second), "from-kvd", "1"); err != nil {
		t.Fatal(err)
	}
	kvdSnap := filepath.Join(dir, "kvd.db")
	snapshotSave(t, kvdMs[0].clientURL, kvdSnap)
	kResp, kKeys = keysAt(t, kcli, 0)
	kHash := hashKV(t, kcli, kvdMs[0].clientURL, 0)
	kSt, eSt := statusOf(t, kvdBin, kvdSnap), statusOf(t, etcdutlBin, kvdSnap)
	if kSt != eSt || eSt.Revision != kResp.Header.Revision || eSt.TotalKey != len(kKeys) || eSt.Version != "3.7.0" {
		t.Fatalf("status of kvd's snapshot: etcdutl %+v, kvd %+v; kvd at %d with %d keys", eSt, kSt, kResp.Header.Revision, len(kKeys))
	}
	backMs := loopbackMembers(t, dir, "back", "back-"+t.Name(), 1)
	runTool(t, etcdutlBin, append([]string{"snapshot", "restore", kvdSnap}, backMs[0].restoreFlags()...)...)
	back := startMembers(t, etcdBin, backMs)
	bcli := back.client()
	back.leader(bcli, nil)
	bResp, bKeys := keysAt(t, bcli, 0)
	if bResp.Header.Revision != kResp.Header.Revision {
		t.Fatalf("etcd restored at revision %d, kvd was at %d", bResp.Header.Revision, kResp.Header.Revision)
	}
	sameKeys(t, "etcd restored from kvd", kKeys, bKeys)
	_, bOld := keysAt(t, bcli, 20)
	sameKeys(t, "etcd's history at revision 20 after the round trip", eOld, bOld)
	if h := hashKV(t, bcli, backMs[0].clientURL, 0); h.Hash != kHash.Hash || h.CompactRevision != kHash.CompactRevision {
		t.Fatalf("etcd HashKV %d compacted at %d, kvd %d at %d", h.Hash, h.CompactRevision, kHash.Hash, kHash.CompactRevision)
	}
	ttl, err = bcli.TimeToLive(ctxT(t, 5*time.Second), lease.ID, clientv3.WithAttachedKeys())
	if err != nil || ttl.GrantedTTL != 120 || len(ttl.Keys) != 2 {
		t.Fatalf("lease on etcd after the round trip: %+v, %v", ttl, err)
	}
}

// (d) A truncated or bit-flipped snapshot is refused by kvd snapshot
// restore with an error naming the file and the failed check, and no data
// dir is left behind.
func TestSnapshotRestoreRefusesDamagedFile(t *testing.T) {
	dir := t.TempDir()
	s := mvcc.New(mvcc.Options{})
	for i := range 50 {
		s.Put(&pb.PutRequest{Key: fmt.Appendf(nil, "k%d", i), Value: []byte(strings.Repeat("v", 100))})
	}
	history, _, err := s.NewHistoryReader().Next(nil, 1<<30)
	if err != nil {
		t.Fatal(err)
	}
	good := filepath.Join(dir, "good.db")
	if err := backup.Write(good, &backup.Snapshot{Revision: s.Rev(), Versions: history}); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	flipped := append([]byte(nil), b...)
	flipped[len(flipped)/3] ^= 0x04
	for name, data := range map[string][]byte{"truncated": b[:len(b)-4096], "bit-flipped": flipped} {
		path := filepath.Join(dir, name+".db")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		ms := loopbackMembers(t, dir, name, "tok", 1)
		cmd := exec.Command(kvdBin, append([]string{"snapshot", "restore", path}, ms[0].restoreFlags()...)...)
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), path) || !strings.Contains(string(out), "sha256") {
			t.Errorf("%s snapshot: restore %v, said %q; want a failure naming %s and the sha256 check", name, err, out, path)
		}
		if _, err := os.Stat(ms[0].dataDir); !os.IsNotExist(err) {
			t.Errorf("%s snapshot: data dir %s left behind (%v)", name, ms[0].dataDir, err)
		}
		if leftovers, _ := filepath.Glob(ms[0].dataDir + "*"); len(leftovers) > 0 {
			t.Errorf("%s snapshot: left %v", name, leftovers)
		}
	}
	ms := loopbackMembers(t, dir, "good", "tok", 1)
	runTool(t, kvdBin, append([]string{"snapshot", "restore", good}, ms[0].restoreFlags()...)...)
	if _, err := os.Stat(filepath.Join(ms[0].dataDir, "member")); err != nil {
		t.Fatalf("the intact snapshot did not restore: %v", err)
	}
	// A second restore into the same data dir is refused, as etcdutl does.
	cmd := exec.Command(kvdBin, append([]string{"snapshot", "restore", good}, ms[0].restoreFlags()...)...)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "not empty") {
		t.Fatalf("restore over a data dir: %v, %q", err, out)
	}
}

// kvd snapshot status prints what etcdutl snapshot status prints, in its
// three formats; bad usage exits 2 and a damaged file 1.
func TestSnapshotStatusFormats(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.db")
	s := mvcc.New(mvcc.Options{})
	s.Put(&pb.PutRequest{Key: []byte("a"), Value: []byte("1")})
	history, _, _ := s.NewHistoryReader().Next(nil, 1<<20)
	if err := backup.Write(path, &backup.Snapshot{Revision: s.Rev(), Versions: history}); err != nil {
		t.Fatal(err)
	}
	st, err := backup.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"simple": fmt.Sprintf("%x, 2, 1, %s, 3.7.0\n", st.Hash, siBytes(st.TotalSize)),
		"json":   fmt.Sprintf(`{"hash":%d,"revision":2,"totalKey":1,"totalSize":%d,"version":"3.7.0"}`+"\n", st.Hash, st.TotalSize),
	}
	for format, w := range want {
		var out, errOut strings.Builder
		if code := runSnapshot([]string{"status", path, "-w", format}, &out, &errOut); code != 0 || out.String() != w {
			t.Errorf("-w %s: exit %d, printed %q (stderr %q), want %q", format, code, out.String(), errOut.String(), w)
		}
	}
	var out, errOut strings.Builder
	if code := runSnapshot([]string{"status", "-w", "table", path}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "| TOTAL KEYS |") {
		t.Errorf("-w table: exit %d, %q", code, out.String())
	}
	if code := runSnapshot([]string{"status"}, &out, &errOut); code != 2 {
		t.Errorf("status without a file: exit %d", code)
	}
	if code := runSnapshot([]string{"restore", path, "--wal-dir", "x"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "--wal-dir") {
		t.Errorf("restore with an unsupported flag: exit %d, %q", code, errOut.String())
	}
	os.WriteFile(path, []byte("junk"), 0o600)
	if code := runSnapshot([]string{"status", path}, &out, &errOut); code != 1 {
		t.Errorf("status of a damaged file: exit %d", code)
	}
	for n, w := range map[int64]string{0: "0 B", 9: "9 B", 20480: "20 kB", 4096: "4.1 kB", 1 << 30: "1.1 GB"} {
		if got := siBytes(n); got != w {
			t.Errorf("siBytes(%d) = %q, want %q", n, got, w)
		}
	}
}
