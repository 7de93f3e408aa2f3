package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// removedVer marks a record that compaction took out of the tree, so a later
// log entry for it is skipped rather than deleting a successor by key.
const removedVer = -1

// Compact discards history: each key keeps its latest version at or below
// rev (none if that is a tombstone below rev; a tombstone at rev stays, as
// in etcd) and everything newer. Reads below rev
// then fail with ErrGRPCCompacted. Compacting at the current revision is
// allowed, as in etcd.
func (s *Store) Compact(rev int64) (*pb.CompactionResponse, error) {
	if rev <= s.compactRev {
		return nil, rpctypes.ErrGRPCCompacted
	}
	if rev > s.rev {
		return nil, rpctypes.ErrGRPCFutureRev
	}
	// Only a key written in (compactRev, rev] can hold something to drop:
	// older versions were settled by the previous compaction.
	end := s.log.search(rev + 1)
	for i := range end {
		rec := s.log.at(i).rec
		if rec.latest.ver == removedVer {
			continue
		}
		if rec.compact(s.hist, rev) {
			s.remove(rec)
			rec.latest.ver = removedVer
			rec.older = nil
		}
	}
	// The log keeps rev's own changes: a watcher may start at the
	// compaction revision, as in etcd (Events).
	s.log.trimThrough(rev - 1)
	s.hist.release(rev)
	s.hist.dropTouched()
	s.compactRev = rev
	return &pb.CompactionResponse{Header: &pb.ResponseHeader{Revision: s.rev}}, nil
}
