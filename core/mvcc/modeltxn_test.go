package mvcc

import (
	"bytes"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

func (m *model) Txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	if err := m.checkTxn(r, m.txnOpsMax); err != nil {
		return nil, err
	}
	for _, ops := range [][]*pb.RequestOp{r.Success, r.Failure} {
		if _, _, err := modelDupCheck(ops); err != nil {
			return nil, err
		}
	}
	// Every compare, nested ones included, sees the state before the txn.
	var path []bool
	var eval func(t *pb.TxnRequest)
	eval = func(t *pb.TxnRequest) {
		ok := true
		for _, c := range t.Compare {
			ok = ok && m.compare(c)
		}
		path = append(path, ok)
		for _, op := range branch(t, ok) {
			if op.GetRequestTxn() != nil {
				eval(op.GetRequestTxn())
			}
		}
	}
	eval(r)
	flat := flatten(r, path)
	write := slices.ContainsFunc(append(slices.Clone(r.Success), r.Failure...), func(op *pb.RequestOp) bool {
		return op.GetRequestRange() == nil
	})
	if write {
		for _, op := range flat {
			if p := op.GetRequestPut(); p != nil {
				if (p.IgnoreValue || p.IgnoreLease) && m.at(string(p.Key), m.rev) == nil {
					return nil, rpctypes.ErrGRPCKeyNotFound
				}
				if p.Lease != 0 && !m.leases[p.Lease] {
					return nil, rpctypes.ErrGRPCLeaseNotFound
				}
			}
		}
	}
	for _, op := range flat {
		if q := op.GetRequestRange(); q != nil && q.Revision != 0 {
			first := int64(-1)
			if m.compactRev > 0 {
				first = m.compactRev
			}
			if q.Revision > m.rev {
				return nil, rpctypes.ErrGRPCFutureRev
			}
			if q.Revision < first {
				return nil, rpctypes.ErrGRPCCompacted
			}
		}
	}
	// the store's documented deviation: an ignore put of a key deleted
	// earlier in the same txn fails instead of crashing
	var gone []*pb.DeleteRangeRequest
	for _, op := range flat {
		if d := op.GetRequestDeleteRange(); d != nil {
			gone = append(gone, d)
		}
		if p := op.GetRequestPut(); p != nil && (p.IgnoreValue || p.IgnoreLease) {
			for _, d := range gone {
				if inRange(string(p.Key), string(d.Key), d.RangeEnd) {
					return nil, rpctypes.ErrGRPCKeyNotFound
				}
			}
		}
	}
	i := 0
	resp := m.runTxn(r, path, &i)
	resp.Header.Revision = m.commit()
	return resp, nil
}

func branch(t *pb.TxnRequest, ok bool) []*pb.RequestOp {
	if ok {
		return t.Success
	}
	return t.Failure
}

// flatten lists the non-txn ops in execution order along path.
func flatten(r *pb.TxnRequest, path []bool) []*pb.RequestOp {
	var out []*pb.RequestOp
	i := 0
	var walk func(t *pb.TxnRequest)
	walk = func(t *pb.TxnRequest) {
		ok := path[i]
		i++
		for _, op := range branch(t, ok) {
			if op.GetRequestTxn() != nil {
				walk(op.GetRequestTxn())
			} else {
				out = append(out, op)
			}
		}
	}
	walk(r)
	return out
}

func (m *model) runTxn(t *pb.TxnRequest, path []bool, i *int) *pb.TxnResponse {
	ok := path[*i]
	*i++
	resp := &pb.TxnResponse{Header: &pb.ResponseHeader{}, Succeeded: ok}
	for _, op := range branch(t, ok) {
		switch {
		case op.GetRequestRange() != nil:
			rr, err := m.rangeUnchecked(op.GetRequestRange())
			if err != nil {
				panic(err)
			}
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseRange{ResponseRange: rr}})
		case op.GetRequestPut() != nil:
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: m.putUnchecked(op.GetRequestPut())}})
		case op.GetRequestDeleteRange() != nil:
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: m.deleteUnchecked(op.GetRequestDeleteRange())}})
		case op.GetRequestTxn() != nil:
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponseTxn{ResponseTxn: m.runTxn(op.GetRequestTxn(), path, i)}})
		}
	}
	return resp
}

func (m *model) compare(c *pb.Compare) bool {
	var vs []*mver
	for _, k := range m.keys() {
		if v := m.at(k, m.rev); v != nil && inRange(k, string(c.Key), c.RangeEnd) {
			vs = append(vs, v)
		}
	}
	if len(vs) == 0 {
		if c.Target == pb.Compare_VALUE {
			return false
		}
		vs = []*mver{{}}
	}
	for _, v := range vs {
		var got, want int64
		var cmp int
		switch c.Target {
		case pb.Compare_VALUE:
			cmp = bytes.Compare([]byte(v.value), c.GetValue())
		case pb.Compare_VERSION:
			got, want = v.ver, c.GetVersion()
		case pb.Compare_CREATE:
			got, want = v.create, c.GetCreateRevision()
		case pb.Compare_MOD:
			got, want = v.mod, c.GetModRevision()
		case pb.Compare_LEASE:
			got, want = v.lease, c.GetLease()
		}
		if c.Target != pb.Compare_VALUE {
			cmp = map[bool]int{true: -1, false: 0}[got < want] + map[bool]int{true: 1, false: 0}[got > want]
		}
		ok := map[pb.Compare_CompareResult]bool{
			pb.Compare_EQUAL: cmp == 0, pb.Compare_NOT_EQUAL: cmp != 0,
			pb.Compare_GREATER: cmp > 0, pb.Compare_LESS: cmp < 0,
		}[c.Result]
		if !ok {
			return false
		}
	}
	return true
}

func (m *model) checkTxn(r *pb.TxnRequest, opsMax int) error {
	n := max(len(r.Compare), len(r.Success), len(r.Failure))
	if n > opsMax {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if len(c.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, op := range append(slices.Clone(r.Success), r.Failure...) {
		var err error
		switch {
		case op.GetRequestRange() != nil:
			q := op.GetRequestRange()
			_, err = m.Range(&pb.RangeRequest{Key: q.Key, SortOrder: q.SortOrder, SortTarget: q.SortTarget})
		case op.GetRequestPut() != nil:
			p := op.GetRequestPut()
			switch {
			case len(p.Key) == 0:
				err = rpctypes.ErrGRPCEmptyKey
			case p.IgnoreValue && len(p.Value) != 0:
				err = rpctypes.ErrGRPCValueProvided
			case p.IgnoreLease && p.Lease != 0:
				err = rpctypes.ErrGRPCLeaseProvided
			}
		case op.GetRequestDeleteRange() != nil:
			if len(op.GetRequestDeleteRange().Key) == 0 {
				err = rpctypes.ErrGRPCEmptyKey
			}
		case op.GetRequestTxn() != nil:
			err = m.checkTxn(op.GetRequestTxn(), opsMax-n)
		default:
			err = rpctypes.ErrGRPCKeyNotFound
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// modelDupCheck follows etcd's checkIntervals rules: puts collide with puts
// and with deletes of the same level or of earlier nested txns, except that
// then/else branches of one nested txn may put the same key; a delete
// [key, end) covers k when key <= k < end literally, so a from-key delete
// ("\x00") covers nothing, and a nested from-key delete is not inherited.
func modelDupCheck(ops []*pb.RequestOp) ([]string, [][2]string, error) {
	var dels [][2]string
	for _, op := range ops {
		if d := op.GetRequestDeleteRange(); d != nil {
			end := string(d.RangeEnd)
			if end == "" {
				end = string(d.Key) + "\x00"
			}
			dels = append(dels, [2]string{string(d.Key), end})
		}
	}
	covered := func(k string) bool {
		for _, d := range dels {
			if d[0] <= k && k < d[1] {
				return true
			}
		}
		return false
	}
	var puts []string
	for _, op := range ops {
		t := op.GetRequestTxn()
		if t == nil {
			continue
		}
		thenPuts, thenDels, err := modelDupCheck(t.Success)
		if err != nil {
			return nil, nil, err
		}
		elsePuts, elseDels, err := modelDupCheck(t.Failure)
		if err != nil {
			return nil, nil, err
		}
		for _, k := range thenPuts {
			if slices.Contains(puts, k) || covered(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts = append(puts, k)
		}
		for _, k := range elsePuts {
			if (slices.Contains(puts, k) && !slices.Contains(thenPuts, k)) || covered(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			if !slices.Contains(puts, k) {
				puts = append(puts, k)
			}
		}
		for _, d := range append(thenDels, elseDels...) {
			if d[1] != "\x00" {
				dels = append(dels, d)
			}
		}
	}
	for _, op := range ops {
		if p := op.GetRequestPut(); p != nil {
			k := string(p.Key)
			if slices.Contains(puts, k) || covered(k) {
				return nil, nil, rpctypes.ErrGRPCDuplicateKey
			}
			puts = append(puts, k)
		}
	}
	return puts, dels, nil
}
