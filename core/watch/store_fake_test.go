package watch

import (
	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
)

// fakeKV is a stand-in for *mvcc.Store until it lands.
type fakeKV struct{ fakeHistory }

func newStoreUnderTest(onCommit func(int64, []*mvccpb.Event)) kvStore {
	return &fakeKV{fakeHistory{m: newModel(), onCommit: onCommit}}
}

func (f *fakeKV) Put(r *pb.PutRequest) (*pb.PutResponse, error) {
	f.write(op{put: true, key: r.Key, value: r.Value})
	return &pb.PutResponse{}, nil
}

func (f *fakeKV) DeleteRange(r *pb.DeleteRangeRequest) (*pb.DeleteRangeResponse, error) {
	f.write(op{key: r.Key, end: r.RangeEnd})
	return &pb.DeleteRangeResponse{}, nil
}

func (f *fakeKV) Txn(r *pb.TxnRequest) (*pb.TxnResponse, error) {
	var ops []op
	for _, o := range r.Success {
		if p := o.GetRequestPut(); p != nil {
			ops = append(ops, op{put: true, key: p.Key, value: p.Value})
		} else {
			d := o.GetRequestDeleteRange()
			ops = append(ops, op{key: d.Key, end: d.RangeEnd})
		}
	}
	f.write(ops...)
	return &pb.TxnResponse{}, nil
}

func (f *fakeKV) Compact(rev int64) (*pb.CompactionResponse, error) {
	f.compact(rev)
	return &pb.CompactionResponse{}, nil
}
