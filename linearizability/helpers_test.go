package linearizability

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// epoch anchors hand-made histories; times are in milliseconds after it.
var epoch = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func ms(n int) time.Time { return epoch.Add(time.Duration(n) * time.Millisecond) }

func header(rev int64) *pb.ResponseHeader { return &pb.ResponseHeader{Revision: rev} }

func putOp(client, from, to int, key, value string, rev int64) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to),
		Request:  &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}},
		Response: &pb.PutResponse{Header: header(rev)}}
}

// putUnknown is a put that timed out.
func putUnknown(client, from, to int, key, value string) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to), Indeterminate: true,
		Request: &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}},
		Err:     rpctypes.ErrGRPCTimeout}
}

func putFailed(client, from, to int, key, value string) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to),
		Request: &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}},
		Err:     rpctypes.ErrGRPCNoLeader}
}

func delOp(client, from, to int, key string, deleted, rev int64) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to),
		Request:  &pb.InternalRaftRequest{DeleteRange: &pb.DeleteRangeRequest{Key: []byte(key)}},
		Response: &pb.DeleteRangeResponse{Header: header(rev), Deleted: deleted}}
}

func kv(key, value string, create, mod, version int64) *mvccpb.KeyValue {
	return &mvccpb.KeyValue{Key: []byte(key), Value: []byte(value), CreateRevision: create, ModRevision: mod, Version: version}
}

// getOp is a linearizable read of one key; kvs empty means absent.
func getOp(client, from, to int, key string, rev int64, kvs ...*mvccpb.KeyValue) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to),
		Request:  &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(key)}},
		Response: &pb.RangeResponse{Header: header(rev), Kvs: kvs, Count: int64(len(kvs))}}
}

func serializableGet(client, from, to int, key string, rev int64, kvs ...*mvccpb.KeyValue) KVOperation {
	op := getOp(client, from, to, key, rev, kvs...)
	op.Request.Range.Serializable = true
	return op
}

// casOp is a txn: if mod_revision(key) == mod then put key=value else get key.
func casOp(client, from, to int, key string, mod int64, value string, resp *pb.TxnResponse) KVOperation {
	return KVOperation{ClientID: client, Invoke: ms(from), Return: ms(to),
		Request: &pb.InternalRaftRequest{Txn: &pb.TxnRequest{
			Compare: []*pb.Compare{{Key: []byte(key), Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
				TargetUnion: &pb.Compare_ModRevision{ModRevision: mod}}},
			Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{RequestPut: &pb.PutRequest{Key: []byte(key), Value: []byte(value)}}}},
			Failure: []*pb.RequestOp{{Request: &pb.RequestOp_RequestRange{RequestRange: &pb.RangeRequest{Key: []byte(key)}}}},
		}},
		Response: resp}
}

func allRead(member uint64, rev int64, kvs ...*mvccpb.KeyValue) MemberRead {
	return MemberRead{Member: member, Request: &pb.RangeRequest{Key: []byte{0}, RangeEnd: []byte{0}},
		Response: &pb.RangeResponse{Header: header(rev), Kvs: kvs, Count: int64(len(kvs))}}
}
