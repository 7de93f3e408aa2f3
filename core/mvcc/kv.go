package mvcc

import (
	"bytes"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/core/bugs"
)

// Range reads keys as etcd's KV.Range does. The header revision is the
// current revision, whatever revision was read.
func (s *Store) Range(req *pb.RangeRequest) (*pb.RangeResponse, error) {
	if err := checkRangeRequest(req); err != nil {
		return nil, err
	}
	return s.executeRange(req)
}

// Put writes one key as etcd's KV.Put does, in a write txn of its own.
func (s *Store) Put(req *pb.PutRequest) (*pb.PutResponse, error) {
	if err := checkPutRequest(req); err != nil {
		return nil, err
	}
	// etcd checks the lease before the key (txn.Put), the reverse of a Txn.
	if req.Lease != 0 && !s.leaseExists(req.Lease) {
		return nil, rpctypes.ErrGRPCLeaseNotFound
	}
	if (req.IgnoreValue || req.IgnoreLease) && s.liveAt(req.Key, s.rev) == nil {
		return nil, rpctypes.ErrGRPCKeyNotFound
	}
	s.begin()
	resp := s.executePut(req)
	resp.Header.Revision = s.end()
	return resp, nil
}

// DeleteRange deletes keys as etcd's KV.DeleteRange does. Deleting nothing
// does not bump the revision.
func (s *Store) DeleteRange(req *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	if err := checkDeleteRequest(req); err != nil {
		return nil, err
	}
	s.begin()
	resp := s.executeDelete(req)
	resp.Header.Revision = s.end()
	return resp, nil
}

// DeleteKeys deletes the listed keys that exist in one write txn: one main
// revision, sub-revisions in key order. It is the lease revoke path and, like
// every delete, calls Lessor.Detach for keys that carried a lease. It returns
// the revision after it.
func (s *Store) DeleteKeys(keys [][]byte) int64 {
	sorted := slices.Clone(keys)
	slices.SortFunc(sorted, bytes.Compare)
	sorted = slices.CompactFunc(sorted, bytes.Equal)
	s.begin()
	for _, key := range sorted {
		if len(key) == 0 {
			continue
		}
		if rec := s.lookup(key); rec != nil && !rec.latest.isTombstone() {
			s.del(rec)
		}
	}
	return s.end()
}

func (s *Store) leaseExists(id int64) bool {
	return s.opts.Lessor != nil && s.opts.Lessor.LeaseExists(id)
}

// liveAt returns the live version of key at rev, or nil.
func (s *Store) liveAt(key []byte, rev int64) *version {
	rec := s.lookup(key)
	if rec == nil {
		return nil
	}
	return rec.live(s.hist, rev)
}

func (s *Store) executeRange(r *pb.RangeRequest) (*pb.RangeResponse, error) {
	curRev := s.readRev()
	rev := r.Revision
	if rev > curRev {
		return nil, rpctypes.ErrGRPCFutureRev
	}
	if rev <= 0 {
		rev = curRev
	}
	if rev < s.compactRev {
		return nil, rpctypes.ErrGRPCCompacted
	}
	resp := &pb.RangeResponse{Header: &pb.ResponseHeader{Revision: curRev}}
	limit := rangeLimit(r)
	found := s.rangeScratch[:0]
	count := 0
	s.visit(r.Key, r.RangeEnd, func(rec *record) bool {
		v := rec.live(s.hist, rev)
		if v == nil {
			return true
		}
		count++
		if !r.CountOnly && (limit <= 0 || int64(len(found)) < limit) {
			found = append(found, v)
		}
		return true
	})
	resp.Count = int64(count)
	found = filterVersions(found, r)
	sortVersions(found, r)
	keep := r.Limit
	if bugs.On(bugs.MVCCRangeLimitOffByOne) {
		keep = r.Limit + 1 // planted bug (kvdbugs builds only): keeps one key more than the limit
	}
	if r.Limit > 0 && int64(len(found)) > keep {
		found = found[:keep]
		resp.More = true
		if bugs.On(bugs.MVCCRangeCountLimited) {
			resp.Count = int64(len(found)) // planted bug (kvdbugs builds only): count of the keys returned, not in the range
		}
	}
	if len(found) > 0 {
		resp.Kvs = keyValues(found, r.KeysOnly)
	}
	s.keepRangeScratch(found)
	return resp, nil
}

// rangeScratchMax bounds the versions the range scratch keeps between
// calls: one large range does not pin its size.
const rangeScratchMax = 1024

// keepRangeScratch keeps found's array for the next range, pointing at
// nothing, so that a range of many keys does not regrow it every call.
func (s *Store) keepRangeScratch(found []*version) {
	if cap(found) > rangeScratchMax {
		s.rangeScratch = nil
		return
	}
	clear(found[:cap(found)])
	s.rangeScratch = found[:0]
}

// executePut writes inside the open txn; the request has passed every check.
func (s *Store) executePut(r *pb.PutRequest) *pb.PutResponse {
	resp := &pb.PutResponse{Header: &pb.ResponseHeader{}}
	value, lease := r.Value, r.Lease
	if r.IgnoreValue || r.IgnoreLease || r.PrevKv {
		prev := s.liveAt(r.Key, s.readRev())
		if r.IgnoreValue || r.IgnoreLease {
			assert(prev != nil, "ignore_value/ignore_lease put of a missing key passed the checks")
		}
		if r.IgnoreValue {
			value = []byte(prev.value())
		}
		if r.IgnoreLease {
			lease = prev.lease
		}
		if r.PrevKv && prev != nil {
			resp.PrevKv = prev.keyValue(false)
		}
	}
	s.put(r.Key, value, lease)
	resp.Header.Revision = s.rev + 1
	return resp
}

func (s *Store) executeDelete(r *pb.DeleteRangeRequest) *pb.DeleteRangeResponse {
	resp := &pb.DeleteRangeResponse{Header: &pb.ResponseHeader{}}
	rev := s.readRev()
	var recs []*record
	s.visit(r.Key, r.RangeEnd, func(rec *record) bool {
		if rec.live(s.hist, rev) != nil {
			recs = append(recs, rec)
		}
		return true
	})
	if bugs.On(bugs.MVCCDeleteRangeInclusive) && len(r.RangeEnd) > 0 && !(len(r.RangeEnd) == 1 && r.RangeEnd[0] == 0) {
		// planted bug (kvdbugs builds only): deletes [key, range_end] instead of [key, range_end)
		if rec := s.lookup(r.RangeEnd); rec != nil && rec.live(s.hist, rev) != nil {
			recs = append(recs, rec)
		}
	}
	if r.PrevKv {
		prev := make([]*version, len(recs))
		for i, rec := range recs {
			prev[i] = rec.live(s.hist, rev)
		}
		resp.PrevKvs = keyValues(prev, false)
	}
	for _, rec := range recs {
		s.del(rec)
	}
	resp.Deleted = int64(len(recs))
	resp.Header.Revision = s.rev
	if len(recs) > 0 || s.tx.changes > 0 {
		resp.Header.Revision = s.rev + 1
	}
	return resp
}
