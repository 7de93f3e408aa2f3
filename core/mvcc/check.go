package mvcc

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// The checks below are etcd's v3rpc request checks (key.go), which run
// before a request reaches the applier.

func checkRangeRequest(r *pb.RangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if _, ok := pb.RangeRequest_SortOrder_name[int32(r.SortOrder)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	if _, ok := pb.RangeRequest_SortTarget_name[int32(r.SortTarget)]; !ok {
		return rpctypes.ErrGRPCInvalidSortOption
	}
	return nil
}

func checkPutRequest(r *pb.PutRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	if r.IgnoreValue && len(r.Value) != 0 {
		return rpctypes.ErrGRPCValueProvided
	}
	if r.IgnoreLease && r.Lease != 0 {
		return rpctypes.ErrGRPCLeaseProvided
	}
	return nil
}

func checkDeleteRequest(r *pb.DeleteRangeRequest) error {
	if len(r.Key) == 0 {
		return rpctypes.ErrGRPCEmptyKey
	}
	return nil
}

// checkTxnRequest bounds the ops as etcd does: the widest of compares,
// success and failure counts against the limit, and a nested txn gets what
// is left.
func checkTxnRequest(r *pb.TxnRequest, txnOpsMax int) error {
	opc := max(len(r.Compare), len(r.Success), len(r.Failure))
	if opc > txnOpsMax {
		return rpctypes.ErrGRPCTooManyOps
	}
	for _, c := range r.Compare {
		if c == nil || len(c.Key) == 0 {
			return rpctypes.ErrGRPCEmptyKey
		}
	}
	for _, ops := range [2][]*pb.RequestOp{r.Success, r.Failure} {
		for _, op := range ops {
			if err := checkRequestOp(op, txnOpsMax-opc); err != nil {
				return err
			}
		}
	}
	return nil
}

func checkRequestOp(op *pb.RequestOp, txnOpsMax int) error {
	if op == nil {
		return rpctypes.ErrGRPCKeyNotFound
	}
	switch o := op.Request.(type) {
	case *pb.RequestOp_RequestRange:
		if o.RequestRange == nil {
			return rpctypes.ErrGRPCKeyNotFound
		}
		return checkRangeRequest(o.RequestRange)
	case *pb.RequestOp_RequestPut:
		if o.RequestPut == nil {
			return rpctypes.ErrGRPCKeyNotFound
		}
		return checkPutRequest(o.RequestPut)
	case *pb.RequestOp_RequestDeleteRange:
		if o.RequestDeleteRange == nil {
			return rpctypes.ErrGRPCKeyNotFound
		}
		return checkDeleteRequest(o.RequestDeleteRange)
	case *pb.RequestOp_RequestTxn:
		if o.RequestTxn == nil {
			return rpctypes.ErrGRPCKeyNotFound
		}
		return checkTxnRequest(o.RequestTxn, txnOpsMax)
	default:
		// an empty op: etcd answers key not found
		return rpctypes.ErrGRPCKeyNotFound
	}
}
