package backup

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	bolt "go.etcd.io/bbolt"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// ErrCorrupt is wrapped by every error for a file that is not an intact
// etcd snapshot: truncated, damaged, or holding what the schema forbids.
var ErrCorrupt = errors.New("backup: not an intact etcd snapshot")

// trailerBytes is the SHA-256 at the end of the file.
const trailerBytes = sha256.Size

// dbPageMultipleBytes is what a database's size is a multiple of: etcd's
// tools tell a file with a trailer by its size modulo 512 being 32.
const dbPageMultipleBytes = 512

// Read reads and checks the snapshot file at path: its SHA-256 trailer,
// bbolt's own consistency check, and every bucket etcd's schema defines.
// Any failure is an error wrapping ErrCorrupt (or the I/O error) that
// names the file and what failed; nothing is returned from a file that
// fails. It works on a copy of the database in the system's temporary
// directory.
func Read(path string) (*Snapshot, error) {
	var s *Snapshot
	err := withDatabase(path, func(tx *bolt.Tx) error {
		var err error
		s, err = decode(tx)
		return err
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// withDatabase verifies path's trailer while copying its database to a
// temporary file, opens the copy read-only, runs bbolt's check and then f.
func withDatabase(path string, f func(tx *bolt.Tx) error) (err error) {
	src, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	size := st.Size()
	if size < trailerBytes || size%dbPageMultipleBytes != trailerBytes {
		return fmt.Errorf("%w: %s: %d bytes is not a database of whole pages and a %d-byte sha256 trailer (truncated?)",
			ErrCorrupt, path, size, trailerBytes)
	}
	tmp, err := os.CreateTemp("", "kvd-restore-*.db")
	if err != nil {
		return fmt.Errorf("backup: temporary copy of %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(src, size-trailerBytes)); err != nil {
		return fmt.Errorf("backup: copy %s to %s: %w", path, tmp.Name(), err)
	}
	want := make([]byte, trailerBytes)
	if _, err := io.ReadFull(src, want); err != nil {
		return fmt.Errorf("backup: read the sha256 trailer of %s: %w", path, err)
	}
	if got := h.Sum(nil); !bytes.Equal(got, want) {
		return fmt.Errorf("%w: %s: sha256 of the database is %x, the trailer says %x (damaged or truncated)", ErrCorrupt, path, got, want)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("backup: temporary copy of %s: %w", path, err)
	}
	dbSizeBytes := size - trailerBytes
	db, err := bolt.Open(tmp.Name(), 0o400, &bolt.Options{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("%w: %s: open database: %w", ErrCorrupt, path, err)
	}
	defer db.Close()
	return db.View(func(tx *bolt.Tx) error {
		// bbolt trusts its meta page's page count; pages past the end of
		// the file would fault when touched rather than fail.
		if tx.Size() > dbSizeBytes {
			return fmt.Errorf("%w: %s: database claims %d bytes, has %d", ErrCorrupt, path, tx.Size(), dbSizeBytes)
		}
		var problems []string
		for err := range tx.Check() {
			problems = append(problems, err.Error())
		}
		if len(problems) > 0 {
			return fmt.Errorf("%w: %s: bbolt check found %d problems: %s", ErrCorrupt, path, len(problems), strings.Join(problems, "; "))
		}
		if err := f(tx); err != nil {
			return fmt.Errorf("%w: %s: %w", ErrCorrupt, path, err)
		}
		return nil
	})
}

// decode reads every bucket of a checked database.
func decode(tx *bolt.Tx) (*Snapshot, error) {
	s := &Snapshot{}
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return nil, errors.New("no meta bucket")
	}
	var finished, scheduled int64
	for _, f := range []struct {
		key []byte
		set func(v []byte) error
	}{
		{metaConsistentIndex, func(v []byte) (err error) { s.ConsistentIndex, err = u64("consistent_index", v); return err }},
		{metaTerm, func(v []byte) (err error) { s.Term, err = u64("term", v); return err }},
		{metaConfState, func(v []byte) error {
			s.ConfState = &raftpb.ConfState{}
			if err := json.Unmarshal(v, s.ConfState); err != nil {
				return fmt.Errorf("meta confState %q: %w", v, err)
			}
			return nil
		}},
		{metaFinishedCompactRev, func(v []byte) error { return compactRev("finishedCompactRev", v, &finished) }},
		{metaScheduledCompactRev, func(v []byte) error { return compactRev("scheduledCompactRev", v, &scheduled) }},
		{metaStorageVersion, func(v []byte) error { s.StorageVersion = string(v); return nil }},
	} {
		if v := meta.Get(f.key); v != nil {
			if err := f.set(v); err != nil {
				return nil, err
			}
		}
	}
	if b := tx.Bucket(bucketCluster); b != nil {
		s.ClusterVersion = string(b.Get(clusterVersionKey))
	}
	var marker int64
	if b := tx.Bucket(bucketKey); b != nil {
		err := b.ForEach(func(k, v []byte) error {
			kv, err := decodeVersion(k, v)
			if errors.Is(err, errRevisionMarker) {
				marker = max(marker, kv.ModRevision)
				return nil
			}
			if err != nil {
				return fmt.Errorf("key bucket: %w", err)
			}
			s.Versions = append(s.Versions, kv)
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	// The bucket is in revision order already: its keys are big-endian.
	if !slices.IsSortedFunc(s.Versions, func(a, b mvcc.KeyVersion) int {
		return cmp.Or(cmp.Compare(a.ModRevision, b.ModRevision), cmp.Compare(a.SubRevision, b.SubRevision))
	}) {
		return nil, errors.New("key bucket: revisions out of order")
	}
	s.Revision, s.CompactRevision = 1, finished
	if n := len(s.Versions); n > 0 {
		s.Revision = s.Versions[n-1].ModRevision
	}
	// etcd's own reading: the revision is at least the compaction's, and a
	// compaction scheduled but unfinished is carried out on start.
	s.Revision = max(s.Revision, marker, finished, scheduled)
	if scheduled > finished {
		s.CompactRevision = scheduled
	}
	if err := forEach(tx, bucketLease, func(k, v []byte) error {
		l, err := decodeLease(k, v)
		s.Leases = append(s.Leases, l)
		return err
	}); err != nil {
		return nil, err
	}
	if err := forEach(tx, bucketMembers, func(k, v []byte) error {
		m, err := decodeMember(k, v)
		s.Members = append(s.Members, m)
		return err
	}); err != nil {
		return nil, err
	}
	slices.SortFunc(s.Members, func(a, b Member) int { return cmp.Compare(a.ID, b.ID) })
	if err := forEach(tx, bucketMembersRemoved, func(k, v []byte) error {
		var id uint64
		if _, err := fmt.Sscanf(string(k), "%x", &id); err != nil {
			return fmt.Errorf("removed member %q: %w", k, err)
		}
		s.RemovedMemberIDs = append(s.RemovedMemberIDs, id)
		return nil
	}); err != nil {
		return nil, err
	}
	slices.Sort(s.RemovedMemberIDs)
	if err := forEach(tx, bucketAlarm, func(k, v []byte) error {
		a, err := decodeAlarm(k)
		s.Alarms = append(s.Alarms, a)
		return err
	}); err != nil {
		return nil, err
	}
	return s, nil
}

// forEach visits a bucket's entries, naming the bucket in an error; a
// missing bucket has none.
func forEach(tx *bolt.Tx, name []byte, f func(k, v []byte) error) error {
	b := tx.Bucket(name)
	if b == nil {
		return nil
	}
	if err := b.ForEach(f); err != nil {
		return fmt.Errorf("%s bucket: %w", name, err)
	}
	return nil
}

// compactRev parses a compaction revision meta value (revision bytes).
func compactRev(name string, v []byte, into *int64) error {
	main, _, _, err := parseRevision(v)
	if err != nil {
		return fmt.Errorf("meta %s: %w", name, err)
	}
	*into = main
	return nil
}
