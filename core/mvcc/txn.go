package mvcc

import (
	"cmp"
	"strings"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"

	"github.com/kvdlabs/kvd/core/bugs"
)

// Txn runs a transaction as etcd does: request checks (op count, empty keys,
// duplicate keys), then every compare of the chosen path against the state
// before the txn, then lease and key-existence checks of the chosen puts,
// then the ops in order. Nothing is written unless every check passes. All
// writes share one main revision; reads inside see the earlier writes.
//
// One deviation: etcd's duplicate-key check misses a from-key delete
// (range_end "\x00") followed by an ignore_value/ignore_lease put of a key it
// deleted, and etcd then panics while applying. Here that txn fails with
// rpctypes.ErrGRPCKeyNotFound before writing anything.
func (s *Store) Txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := checkTxnRequest(r, s.opts.TxnOpsMax); err != nil {
		return nil, err
	}
	if _, _, err := checkIntervals(r.Success); err != nil {
		return nil, err
	}
	if _, _, err := checkIntervals(r.Failure); err != nil {
		return nil, err
	}
	path := s.compareToPath(r, nil)
	isWrite := !isTxnReadonly(r)
	if isWrite {
		if err := s.walkPath(r, path, s.checkPut); err != nil {
			return nil, err
		}
	}
	if err := s.walkPath(r, path, s.checkRange); err != nil {
		return nil, err
	}
	if isWrite {
		var deleted []interval
		err := s.walkPath(r, path, func(op *pb.RequestOp) error {
			return checkPutAfterDelete(op, &deleted)
		})
		if err != nil {
			return nil, err
		}
		s.begin()
	}
	cursor := 0
	resp := s.executeTxn(r, path, &cursor)
	assert(cursor == len(path), "txn path not consumed")
	resp.Header.Revision = s.rev
	if isWrite {
		resp.Header.Revision = s.end()
	}
	return resp, nil
}

func isTxnReadonly(r *pb.TxnRequest) bool {
	for _, ops := range [2][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if op.GetRequestRange() == nil {
				return false
			}
		}
	}
	return true
}

// compareToPath evaluates the compares of r and of every nested txn on the
// chosen branches, in pre-order, before anything is written (etcd's
// compareToPath).
func (s *Store) compareToPath(r *pb.TxnRequest, path []bool) []bool {
	ok := s.applyCompares(r.Compare)
	path = append(path, ok)
	ops := r.Success
	if !ok {
		ops = r.Failure
	}
	for _, op := range ops {
		if t := op.GetRequestTxn(); t != nil {
			path = s.compareToPath(t, path)
		}
	}
	return path
}

func (s *Store) applyCompares(cs []*pb.Compare) bool {
	for _, c := range cs {
		if !s.applyCompare(c) {
			return false
		}
	}
	return true
}

// applyCompare holds when every key in the compare's range satisfies it. An
// empty range compares against a zero kv, except that a value compare then
// fails: there is no value to compare.
func (s *Store) applyCompare(c *pb.Compare) bool {
	found := false
	holds := true
	s.visit(c.Key, c.RangeEnd, func(rec *record) bool {
		v := rec.live(s.hist, s.rev)
		if v == nil {
			return true
		}
		found = true
		holds = compareVersion(c, v)
		return holds
	})
	if !found {
		noValue := c.Target == pb.Compare_VALUE
		if bugs.On(bugs.MVCCCompareMissingKey) {
			noValue = false // planted bug (kvdbugs builds only): a missing key's value compares as ""
		}
		if noValue {
			return false
		}
		return compareVersion(c, nil)
	}
	return holds
}

// compareVersion is etcd's compareKV; v nil is the zero kv.
func compareVersion(c *pb.Compare, v *version) bool {
	var zero version
	if v == nil {
		v = &zero
	}
	var result int
	switch c.Target {
	case pb.Compare_VALUE:
		var want []byte
		if tv, _ := c.TargetUnion.(*pb.Compare_Value); tv != nil {
			want = tv.Value
		}
		result = strings.Compare(v.value(), string(want))
	case pb.Compare_CREATE:
		result = cmp.Compare(v.createRev, c.GetCreateRevision())
	case pb.Compare_MOD:
		result = cmp.Compare(v.modRev, c.GetModRevision())
	case pb.Compare_VERSION:
		result = cmp.Compare(v.ver, c.GetVersion())
	case pb.Compare_LEASE:
		result = cmp.Compare(v.lease, c.GetLease())
	}
	switch c.Result {
	case pb.Compare_EQUAL:
		return result == 0
	case pb.Compare_NOT_EQUAL:
		return result != 0
	case pb.Compare_GREATER:
		return result > 0
	case pb.Compare_LESS:
		if bugs.On(bugs.MVCCCompareModRevision) && c.Target == pb.Compare_MOD {
			return result <= 0 // planted bug (kvdbugs builds only): mod_revision LESS holds when equal
		}
		return result < 0
	}
	return true
}

// walkPath calls f for every non-txn op on the chosen path, in execution
// order, and stops at the first error (etcd's checkRequests).
func (s *Store) walkPath(r *pb.TxnRequest, path []bool, f func(op *pb.RequestOp) error) error {
	cursor := 0
	var walk func(r *pb.TxnRequest) error
	walk = func(r *pb.TxnRequest) error {
		ops := r.Success
		if !path[cursor] {
			ops = r.Failure
		}
		cursor++
		for _, op := range ops {
			if t := op.GetRequestTxn(); t != nil {
				if err := walk(t); err != nil {
					return err
				}
				continue
			}
			if err := f(op); err != nil {
				return err
			}
		}
		return nil
	}
	return walk(r)
}

// checkPut is etcd's checkRequestPut: the key must exist for
// ignore_value/ignore_lease, and the lease must exist.
func (s *Store) checkPut(op *pb.RequestOp) error {
	p := op.GetRequestPut()
	if p == nil {
		return nil
	}
	if (p.IgnoreValue || p.IgnoreLease) && s.liveAt(p.Key, s.rev) == nil {
		return rpctypes.ErrGRPCKeyNotFound
	}
	if p.Lease != 0 && !s.leaseExists(p.Lease) {
		return rpctypes.ErrGRPCLeaseNotFound
	}
	return nil
}

// checkRange is etcd's checkRequestRange against the state before the txn.
func (s *Store) checkRange(op *pb.RequestOp) error {
	r := op.GetRequestRange()
	if r == nil {
		return nil
	}
	switch {
	case r.Revision == 0:
		return nil
	case r.Revision > s.rev:
		return rpctypes.ErrGRPCFutureRev
	case r.Revision < s.firstRev():
		return rpctypes.ErrGRPCCompacted
	}
	return nil
}

// checkPutAfterDelete rejects an ignore_value/ignore_lease put of a key that
// an earlier delete of the same txn removes; see Txn.
func checkPutAfterDelete(op *pb.RequestOp, deleted *[]interval) error {
	if d := op.GetRequestDeleteRange(); d != nil {
		end := string(d.RangeEnd)
		switch {
		case len(d.RangeEnd) == 0:
			end = string(d.Key) + "\x00"
		case end == "\x00":
			end = "" // every key from d.Key on
		}
		*deleted = append(*deleted, interval{begin: string(d.Key), end: end})
		return nil
	}
	p := op.GetRequestPut()
	if p == nil || !(p.IgnoreValue || p.IgnoreLease) {
		return nil
	}
	for _, iv := range *deleted {
		if iv.containsKey(string(p.Key)) {
			return rpctypes.ErrGRPCKeyNotFound
		}
	}
	return nil
}

// executeTxn runs the chosen branch of r; every check has passed. Nested
// txn responses carry an empty header, as in etcd.
func (s *Store) executeTxn(r *pb.TxnRequest, path []bool, cursor *int) *pb.TxnResponse {
	ok := path[*cursor]
	*cursor++
	ops := r.Success
	if !ok {
		ops = r.Failure
	}
	resp := &pb.TxnResponse{
		Header:    &pb.ResponseHeader{},
		Succeeded: ok,
		Responses: make([]*pb.ResponseOp, len(ops)),
	}
	for i, op := range ops {
		var out pb.ResponseOp
		switch o := op.Request.(type) {
		case *pb.RequestOp_RequestRange:
			rr, err := s.executeRange(o.RequestRange)
			if err != nil {
				panic("mvcc: txn range failed after its checks passed: " + err.Error())
			}
			out.Response = &pb.ResponseOp_ResponseRange{ResponseRange: rr}
		case *pb.RequestOp_RequestPut:
			out.Response = &pb.ResponseOp_ResponsePut{ResponsePut: s.executePut(o.RequestPut)}
		case *pb.RequestOp_RequestDeleteRange:
			out.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: s.executeDelete(o.RequestDeleteRange)}
		case *pb.RequestOp_RequestTxn:
			out.Response = &pb.ResponseOp_ResponseTxn{ResponseTxn: s.executeTxn(o.RequestTxn, path, cursor)}
		default:
			panic("mvcc: empty txn op passed the checks")
		}
		resp.Responses[i] = &out
	}
	return resp
}

// interval is a key interval [begin, end) in etcd's "affine" order where the
// empty string is +infinity.
type interval struct{ begin, end string }

func affineCompare(a, b string) int {
	switch {
	case a == "" && b == "":
		return 0
	case a == "":
		return 1
	case b == "":
		return -1
	}
	return strings.Compare(a, b)
}

func (iv interval) containsKey(k string) bool {
	return affineCompare(iv.begin, k) <= 0 && affineCompare(k, iv.end) < 0
}

// putSet is a set of put keys that remembers insertion order, so that no
// map iteration order reaches any decision.
type putSet struct {
	set   map[string]struct{}
	order []string
}

func (p *putSet) has(k string) bool { _, ok := p.set[k]; return ok }

func (p *putSet) add(k string) {
	if p.set == nil {
		p.set = make(map[string]struct{})
	}
	if !p.has(k) {
		p.set[k] = struct{}{}
		p.order = append(p.order, k)
	}
}

// checkIntervals is etcd's duplicate-key check (v3rpc checkIntervals): no key
// may be put twice or put and deleted on one path through the txn. Like
// etcd, it compares deletes as literal intervals [key, range_end), so a
// from-key delete (range_end "\x00") never conflicts, and a nested txn's
// deletes only count against puts that come after it.
func checkIntervals(ops []*pb.RequestOp) (*putSet, []interval, error) {
	var dels []interval
	for _, op := range ops {
		d := op.GetRequestDeleteRange()
		if d == nil {
			continue
		}
		if len(d.RangeEnd) != 0 {
			dels = append(dels, interval{string(d.Key), string(d.RangeEnd)})
		} else {
			dels = append(dels, interval{string(d.Key), string(d.Key) + "\x00"})
		}
	}
	intersects := func(k string) bool {
		for _, iv := range dels {
			if iv.containsKey(k) {
				return true
			}
		}
		return false
	}
	puts := &putSet{}
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		putsThen, delsThen, err := checkIntervals(t.Success)
		if err != nil {
			return nil, nil, err
		}
		putsElse, delsElse, err := checkIntervals(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range putsThen.order {
			if puts.has(k) || intersects(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts.add(k)
		}
		for _, k := range putsElse.order {
			// then and else exclude each other: the same key in both is fine
			if puts.has(k) && !putsThen.has(k) || intersects(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts.add(k)
		}
		// etcd unions the children's deletes that overlap ["\x00", +inf):
		// every interval except those ending at "\x00".
		for _, iv := range append(delsThen, delsElse...) {
			if affineCompare("\x00", iv.end) < 0 {
				dels = append(dels, iv)
			}
		}
	}
	for _, op := range ops {
		p := op.GetRequestPut()
		if p == nil {
			continue
		}
		k := string(p.Key)
		if puts.has(k) || intersects(k) {
			return nil, nil, rpctypes.ErrGRPCDuplicateKey
		}
		puts.add(k)
	}
	return puts, dels, nil
}
