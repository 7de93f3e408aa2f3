package backup

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"

	bolt "go.etcd.io/bbolt"
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// Snapshot is a store's replicated state as an etcd snapshot file holds it.
type Snapshot struct {
	// Revision is the store's revision: 1 for an empty store. etcd keeps
	// no revision of its own; it is the newest revision in Versions, or
	// the compaction revision when that is newer.
	Revision int64
	// CompactRevision is the compaction revision, 0 if never compacted.
	// Read from a file whose compaction was scheduled but not finished, it
	// is the scheduled one, and Versions still holds what that compaction
	// will drop (mvcc.BuildSnapshot drops it, as etcd does on start).
	CompactRevision int64
	// Versions is every kept version of every key, tombstones included;
	// Read returns them in (ModRevision, SubRevision) order.
	Versions []mvcc.KeyVersion
	// Leases in id order.
	Leases []Lease
	// Members in id order, and the ids removed from the cluster.
	Members          []Member
	RemovedMemberIDs []uint64
	// Alarms are the active alarms.
	Alarms []*pb.AlarmMember
	// ConsistentIndex is the raft index the state is as of, and Term its
	// term; ConfState the raft configuration then.
	ConsistentIndex, Term uint64
	ConfState             *raftpb.ConfState
	// StorageVersion is the backend schema version (read only: Write
	// always writes StorageVersion); ClusterVersion the cluster's, written
	// when set.
	StorageVersion, ClusterVersion string
}

// versionsPerTx bounds one bbolt transaction of key-bucket writes: its
// dirty pages stay in memory until commit.
const versionsPerTx = 10000

// Writer writes one snapshot file a part at a time: everything but the
// key history up front (NewWriter), the key versions in batches of any
// order (Add), then the file with its trailer (Finish). It works in a
// temporary bbolt file, which Close removes. It is not safe for concurrent
// use.
type Writer struct {
	path string
	db   *bolt.DB
	// maxRev is the newest revision added; revision and compactRev are
	// what the head promised, checked by Finish.
	maxRev, revision, compactRev int64
	err                          error
}

// NewWriter starts a snapshot of head (its Versions may be empty, to be
// added later) in a temporary file in dir ("" for the system's).
func NewWriter(dir string, head *Snapshot) (*Writer, error) {
	f, err := os.CreateTemp(dir, "kvd-snapshot-*.db")
	if err != nil {
		return nil, fmt.Errorf("backup: temporary database in %q: %w", dir, err)
	}
	path := f.Name()
	f.Close()
	// NoSync: the temporary file is thrown away on any failure; Finish's
	// reader makes the output durable if it needs to.
	db, err := bolt.Open(path, 0o600, &bolt.Options{NoSync: true, NoFreelistSync: true})
	if err != nil {
		os.Remove(path)
		return nil, fmt.Errorf("backup: open temporary database %s: %w", path, err)
	}
	w := &Writer{path: path, db: db, revision: max(head.Revision, 1), compactRev: head.CompactRevision}
	if err := db.Update(func(tx *bolt.Tx) error { return writeHead(tx, head) }); err != nil {
		w.Close()
		return nil, fmt.Errorf("backup: write metadata to %s: %w", path, err)
	}
	if err := w.Add(head.Versions); err != nil {
		w.Close()
		return nil, err
	}
	return w, nil
}

// writeHead creates etcd's buckets and fills all but the key bucket.
func writeHead(tx *bolt.Tx, s *Snapshot) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucket(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	put := func(b *bolt.Bucket, k, v []byte) error {
		if err := b.Put(k, v); err != nil {
			return fmt.Errorf("put %s/%q: %w", b, k, err)
		}
		return nil
	}
	if s.ConsistentIndex > 0 {
		// etcd never stores index 0: it means "not loaded yet".
		if err := put(meta, metaConsistentIndex, binary.BigEndian.AppendUint64(nil, s.ConsistentIndex)); err != nil {
			return err
		}
	}
	if s.Term > 0 {
		if err := put(meta, metaTerm, binary.BigEndian.AppendUint64(nil, s.Term)); err != nil {
			return err
		}
	}
	if s.ConfState != nil {
		cs, err := json.Marshal(s.ConfState)
		if err != nil {
			return fmt.Errorf("marshal conf state %v: %w", s.ConfState, err)
		}
		if err := put(meta, metaConfState, cs); err != nil {
			return err
		}
	}
	if s.CompactRevision > 0 {
		rev := appendRevision(nil, s.CompactRevision, 0, false)
		if err := put(meta, metaScheduledCompactRev, rev); err != nil {
			return err
		}
		if err := put(meta, metaFinishedCompactRev, rev); err != nil {
			return err
		}
	}
	if err := put(meta, metaStorageVersion, []byte(StorageVersion)); err != nil {
		return err
	}
	if s.ClusterVersion != "" {
		if err := put(tx.Bucket(bucketCluster), clusterVersionKey, []byte(s.ClusterVersion)); err != nil {
			return err
		}
	}
	for _, l := range s.Leases {
		k, v := encodeLease(l)
		if err := put(tx.Bucket(bucketLease), k, v); err != nil {
			return err
		}
	}
	for _, m := range s.Members {
		k, v, err := encodeMember(m)
		if err != nil {
			return err
		}
		if err := put(tx.Bucket(bucketMembers), k, v); err != nil {
			return err
		}
	}
	for _, id := range s.RemovedMemberIDs {
		if err := put(tx.Bucket(bucketMembersRemoved), fmt.Appendf(nil, "%x", id), []byte("removed")); err != nil {
			return err
		}
	}
	for _, a := range s.Alarms {
		k, err := proto.MarshalOptions{Deterministic: true}.Marshal(a)
		if err != nil {
			return fmt.Errorf("marshal alarm %v: %w", a, err)
		}
		if err := put(tx.Bucket(bucketAlarm), k, nil); err != nil {
			return err
		}
	}
	// Auth off, as a fresh etcd has it; kvd has no users or roles yet.
	return put(tx.Bucket(bucketAuth), authEnabledKey, []byte{0})
}

// Add writes versions into the key bucket.
func (w *Writer) Add(versions []mvcc.KeyVersion) error {
	if w.err != nil {
		return w.err
	}
	for chunk := range slices.Chunk(versions, versionsPerTx) {
		err := w.db.Update(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketKey)
			for _, v := range chunk {
				if v.ModRevision > w.revision {
					return fmt.Errorf("key %q at revision %d, above the snapshot's revision %d", v.Key, v.ModRevision, w.revision)
				}
				k, val, err := encodeVersion(v)
				if err != nil {
					return err
				}
				if err := b.Put(k, val); err != nil {
					return fmt.Errorf("put key %q at revision %d: %w", v.Key, v.ModRevision, err)
				}
				w.maxRev = max(w.maxRev, v.ModRevision)
			}
			return nil
		})
		if err != nil {
			w.err = fmt.Errorf("backup: write key versions to %s: %w", w.path, err)
			return w.err
		}
	}
	return nil
}

// Finish writes the database and its SHA-256 trailer to out and returns
// the database's size (the trailer not counted). The revision the head
// named must be the newest of the versions added, or the compaction
// revision: it is all etcd has to find it by.
func (w *Writer) Finish(out io.Writer) (dbSizeBytes int64, err error) {
	if w.err != nil {
		return 0, w.err
	}
	if w.revision > 1 && w.revision != max(w.maxRev, w.compactRev) {
		return 0, fmt.Errorf("backup: snapshot at revision %d holds versions up to revision %d and compaction revision %d: etcd would read revision %d",
			w.revision, w.maxRev, w.compactRev, max(w.maxRev, w.compactRev, 1))
	}
	h := sha256.New()
	err = w.db.View(func(tx *bolt.Tx) error {
		var werr error
		dbSizeBytes, werr = tx.WriteTo(io.MultiWriter(out, h))
		return werr
	})
	if err != nil {
		return 0, fmt.Errorf("backup: copy database %s out: %w", w.path, err)
	}
	if _, err := out.Write(h.Sum(nil)); err != nil {
		return 0, fmt.Errorf("backup: write sha256 trailer: %w", err)
	}
	return dbSizeBytes, nil
}

// Close removes the temporary database.
func (w *Writer) Close() error {
	err := w.db.Close()
	return errors.Join(err, os.Remove(w.path))
}

// Write writes s as a snapshot file at path, durably: under a temporary
// name in the same directory, synced, then renamed into place, so a crash
// or a failure never leaves a partial file under path.
func Write(path string, s *Snapshot) (err error) {
	dir := filepath.Dir(path)
	w, err := NewWriter(dir, s)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, w.Close()) }()
	part := path + ".part"
	f, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("backup: create %s: %w", part, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(part)
		}
	}()
	bw := bufio.NewWriterSize(f, 1<<20)
	if _, err := w.Finish(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("backup: write %s: %w", part, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("backup: sync %s: %w", part, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("backup: close %s: %w", part, err)
	}
	if err := os.Rename(part, path); err != nil {
		return fmt.Errorf("backup: rename %s to %s: %w", part, path, err)
	}
	return nil
}
