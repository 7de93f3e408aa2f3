package linearizability

import (
	"errors"
	"fmt"
	"slices"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"google.golang.org/protobuf/proto"
)

// opKind names the KV request shapes the model understands.
type opKind uint8

const (
	opRange opKind = iota + 1
	opPut
	opDelete
	opTxn
)

// kvOp is a request decoded once, up front, into what the model needs:
// porcupine calls Step many times per operation, so Step never touches
// protobufs.
type kvOp struct {
	kind     opKind
	key, end string

	limit        int64
	countOnly    bool
	keysOnly     bool
	serializable bool

	value  string
	lease  int64
	prevKV bool

	compares []kvCompare
	then     []kvOp
	orElse   []kvOp
}

type kvCompare struct {
	key, end string
	target   pb.Compare_CompareTarget
	result   pb.Compare_CompareResult
	value    string
	number   int64
}

// kvResult is a response decoded into the model's terms. rev is the header
// revision; it is compared only for top-level responses, because etcd does
// not promise a header on the responses nested in a txn.
type kvResult struct {
	kind      opKind
	rev       int64
	kvs       []kvRecord
	count     int64
	more      bool
	prev      []kvRecord
	deleted   int64
	succeeded bool
	sub       []kvResult
}

// txnOpsMax bounds the operations in one txn branch, as etcd's
// --max-txn-ops (default 128) does.
const txnOpsMax = 128

// errUnsupported marks request shapes the model does not judge.
var errUnsupported = errors.New("unsupported by the KV model")

// decodeRequest turns a request into a kvOp, rejecting what the model
// cannot judge rather than judging it wrongly.
func decodeRequest(r *pb.InternalRaftRequest) (kvOp, error) {
	switch {
	case r == nil:
		return kvOp{}, fmt.Errorf("nil request: %w", errUnsupported)
	case r.Range != nil:
		return decodeRange(r.Range)
	case r.Put != nil:
		return decodePut(r.Put)
	case r.DeleteRange != nil:
		return decodeDelete(r.DeleteRange), nil
	case r.Txn != nil:
		return decodeTxn(r.Txn)
	default:
		return kvOp{}, fmt.Errorf("request %v: %w", r, errUnsupported)
	}
}

func decodeRange(r *pb.RangeRequest) (kvOp, error) {
	switch {
	case r.Revision != 0:
		return kvOp{}, fmt.Errorf("range %q at revision %d: reads of the past: %w", r.Key, r.Revision, errUnsupported)
	case r.SortOrder != pb.RangeRequest_NONE && !(r.SortOrder == pb.RangeRequest_ASCEND && r.SortTarget == pb.RangeRequest_KEY):
		return kvOp{}, fmt.Errorf("range %q sorted %v by %v: %w", r.Key, r.SortOrder, r.SortTarget, errUnsupported)
	case r.MinModRevision != 0 || r.MaxModRevision != 0 || r.MinCreateRevision != 0 || r.MaxCreateRevision != 0:
		return kvOp{}, fmt.Errorf("range %q with revision filters: %w", r.Key, errUnsupported)
	case r.Limit < 0:
		return kvOp{}, fmt.Errorf("range %q with limit %d: %w", r.Key, r.Limit, errUnsupported)
	}
	return kvOp{kind: opRange, key: string(r.Key), end: string(r.RangeEnd), limit: r.Limit,
		countOnly: r.CountOnly, keysOnly: r.KeysOnly, serializable: r.Serializable}, nil
}

func decodePut(r *pb.PutRequest) (kvOp, error) {
	if r.IgnoreValue || r.IgnoreLease {
		return kvOp{}, fmt.Errorf("put %q with ignore_value/ignore_lease: %w", r.Key, errUnsupported)
	}
	return kvOp{kind: opPut, key: string(r.Key), value: string(r.Value), lease: r.Lease, prevKV: r.PrevKv}, nil
}

func decodeDelete(r *pb.DeleteRangeRequest) kvOp {
	return kvOp{kind: opDelete, key: string(r.Key), end: string(r.RangeEnd), prevKV: r.PrevKv}
}

func decodeTxn(r *pb.TxnRequest) (kvOp, error) {
	if len(r.Success) > txnOpsMax || len(r.Failure) > txnOpsMax {
		return kvOp{}, fmt.Errorf("txn with %d/%d ops, more than txnOpsMax %d: %w", len(r.Success), len(r.Failure), txnOpsMax, errUnsupported)
	}
	op := kvOp{kind: opTxn}
	for _, c := range r.Compare {
		kc := kvCompare{key: string(c.Key), end: string(c.RangeEnd), target: c.Target, result: c.Result}
		switch c.Target {
		case pb.Compare_VERSION:
			kc.number = c.GetVersion()
		case pb.Compare_CREATE:
			kc.number = c.GetCreateRevision()
		case pb.Compare_MOD:
			kc.number = c.GetModRevision()
		case pb.Compare_LEASE:
			kc.number = c.GetLease()
		case pb.Compare_VALUE:
			kc.value = string(c.GetValue())
		default:
			return kvOp{}, fmt.Errorf("txn compare target %v: %w", c.Target, errUnsupported)
		}
		op.compares = append(op.compares, kc)
	}
	var err error
	if op.then, err = decodeTxnOps(r.Success); err != nil {
		return kvOp{}, err
	}
	if op.orElse, err = decodeTxnOps(r.Failure); err != nil {
		return kvOp{}, err
	}
	return op, nil
}

func decodeTxnOps(ops []*pb.RequestOp) ([]kvOp, error) {
	out := make([]kvOp, 0, len(ops))
	for _, o := range ops {
		var (
			op  kvOp
			err error
		)
		switch {
		case o.GetRequestRange() != nil:
			op, err = decodeRange(o.GetRequestRange())
		case o.GetRequestPut() != nil:
			op, err = decodePut(o.GetRequestPut())
		case o.GetRequestDeleteRange() != nil:
			op = decodeDelete(o.GetRequestDeleteRange())
		default:
			err = fmt.Errorf("txn op %v (nested txn?): %w", o, errUnsupported)
		}
		if err != nil {
			return nil, err
		}
		out = append(out, op)
	}
	return out, nil
}

// writes reports whether op can change the store.
func (op *kvOp) writes() bool {
	switch op.kind {
	case opPut, opDelete:
		return true
	case opTxn:
		return slices.ContainsFunc(op.then, func(o kvOp) bool { return o.writes() }) ||
			slices.ContainsFunc(op.orElse, func(o kvOp) bool { return o.writes() })
	}
	return false
}

// decodeResponse turns a response to op into a kvResult.
func decodeResponse(op *kvOp, m proto.Message) (kvResult, error) {
	switch op.kind {
	case opRange:
		r, ok := m.(*pb.RangeResponse)
		if !ok || r == nil {
			return kvResult{}, fmt.Errorf("range answered with %T", m)
		}
		return kvResult{kind: opRange, rev: r.GetHeader().GetRevision(), kvs: decodeKVs(r.Kvs), count: r.Count, more: r.More}, nil
	case opPut:
		r, ok := m.(*pb.PutResponse)
		if !ok || r == nil {
			return kvResult{}, fmt.Errorf("put answered with %T", m)
		}
		res := kvResult{kind: opPut, rev: r.GetHeader().GetRevision()}
		if r.PrevKv != nil {
			res.prev = decodeKVs([]*mvccpb.KeyValue{r.PrevKv})
		}
		return res, nil
	case opDelete:
		r, ok := m.(*pb.DeleteRangeResponse)
		if !ok || r == nil {
			return kvResult{}, fmt.Errorf("delete answered with %T", m)
		}
		return kvResult{kind: opDelete, rev: r.GetHeader().GetRevision(), deleted: r.Deleted, prev: decodeKVs(r.PrevKvs)}, nil
	case opTxn:
		r, ok := m.(*pb.TxnResponse)
		if !ok || r == nil {
			return kvResult{}, fmt.Errorf("txn answered with %T", m)
		}
		res := kvResult{kind: opTxn, rev: r.GetHeader().GetRevision(), succeeded: r.Succeeded}
		branch := op.orElse
		if r.Succeeded {
			branch = op.then
		}
		if len(branch) != len(r.Responses) {
			return kvResult{}, fmt.Errorf("txn branch of %d ops answered with %d responses", len(branch), len(r.Responses))
		}
		for i, ro := range r.Responses {
			var inner proto.Message
			switch {
			case ro.GetResponseRange() != nil:
				inner = ro.GetResponseRange()
			case ro.GetResponsePut() != nil:
				inner = ro.GetResponsePut()
			case ro.GetResponseDeleteRange() != nil:
				inner = ro.GetResponseDeleteRange()
			default:
				return kvResult{}, fmt.Errorf("txn response %d: %v", i, ro)
			}
			sub, err := decodeResponse(&branch[i], inner)
			if err != nil {
				return kvResult{}, fmt.Errorf("txn response %d: %w", i, err)
			}
			sub.rev = 0
			res.sub = append(res.sub, sub)
		}
		return res, nil
	}
	panic(fmt.Sprintf("linearizability: op kind %d", op.kind))
}

func decodeKVs(kvs []*mvccpb.KeyValue) []kvRecord {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]kvRecord, len(kvs))
	for i, kv := range kvs {
		out[i] = kvRecord{key: string(kv.Key), value: string(kv.Value), createRev: kv.CreateRevision,
			modRev: kv.ModRevision, version: kv.Version, lease: kv.Lease}
	}
	return out
}

func (r *kvResult) equal(o *kvResult) bool {
	if r.kind != o.kind || r.rev != o.rev || r.count != o.count || r.more != o.more ||
		r.deleted != o.deleted || r.succeeded != o.succeeded ||
		!slices.Equal(r.kvs, o.kvs) || !slices.Equal(r.prev, o.prev) || len(r.sub) != len(o.sub) {
		return false
	}
	for i := range r.sub {
		if !r.sub[i].equal(&o.sub[i]) {
			return false
		}
	}
	return true
}

// ackedResponse rebuilds the response of an all-puts write that applied at
// rev, as etcd would have sent it.
func ackedResponse(h *KVOperation, op *kvOp, rev int64) (KVOperation, bool) {
	out := *h
	out.Err, out.Indeterminate = nil, false
	hdr := &pb.ResponseHeader{Revision: rev}
	switch op.kind {
	case opPut:
		out.Response = &pb.PutResponse{Header: hdr}
	case opTxn:
		resp := &pb.TxnResponse{Header: hdr, Succeeded: true}
		for range op.then {
			resp.Responses = append(resp.Responses, &pb.ResponseOp{Response: &pb.ResponseOp_ResponsePut{ResponsePut: &pb.PutResponse{}}})
		}
		out.Response = resp
	default:
		return KVOperation{}, false
	}
	return out, true
}

// encodeResult turns a model result back into the response etcd sends for
// op: the inverse of decodeResponse.
func encodeResult(op *kvOp, r *kvResult) proto.Message {
	hdr := &pb.ResponseHeader{Revision: r.rev}
	switch op.kind {
	case opRange:
		return &pb.RangeResponse{Header: hdr, Kvs: encodeKVs(r.kvs), Count: r.count, More: r.more}
	case opPut:
		resp := &pb.PutResponse{Header: hdr}
		if len(r.prev) > 0 {
			resp.PrevKv = encodeKVs(r.prev)[0]
		}
		return resp
	case opDelete:
		return &pb.DeleteRangeResponse{Header: hdr, Deleted: r.deleted, PrevKvs: encodeKVs(r.prev)}
	case opTxn:
		resp := &pb.TxnResponse{Header: hdr, Succeeded: r.succeeded}
		branch := op.orElse
		if r.succeeded {
			branch = op.then
		}
		if len(branch) != len(r.sub) {
			panic(fmt.Sprintf("linearizability: txn branch of %d ops with %d results", len(branch), len(r.sub)))
		}
		for i := range r.sub {
			ro := &pb.ResponseOp{}
			switch inner := encodeResult(&branch[i], &r.sub[i]).(type) {
			case *pb.RangeResponse:
				inner.Header = nil
				ro.Response = &pb.ResponseOp_ResponseRange{ResponseRange: inner}
			case *pb.PutResponse:
				inner.Header = nil
				ro.Response = &pb.ResponseOp_ResponsePut{ResponsePut: inner}
			case *pb.DeleteRangeResponse:
				inner.Header = nil
				ro.Response = &pb.ResponseOp_ResponseDeleteRange{ResponseDeleteRange: inner}
			}
			resp.Responses = append(resp.Responses, ro)
		}
		return resp
	}
	panic(fmt.Sprintf("linearizability: op kind %d", op.kind))
}

func encodeKVs(kvs []kvRecord) []*mvccpb.KeyValue {
	if len(kvs) == 0 {
		return nil
	}
	out := make([]*mvccpb.KeyValue, len(kvs))
	for i, kv := range kvs {
		out[i] = &mvccpb.KeyValue{Key: []byte(kv.key), Value: []byte(kv.value), CreateRevision: kv.createRev,
			ModRevision: kv.modRev, Version: kv.version, Lease: kv.lease}
	}
	return out
}
