package mvcc_test

import (
	"fmt"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/mvcc"
)

// A store starts at revision 1; each write gets the next revision, and old
// revisions stay readable until compacted.
func Example_store() {
	s := mvcc.New(mvcc.Options{})

	put, _ := s.Put(&pb.PutRequest{Key: []byte("greeting"), Value: []byte("hello")})
	fmt.Println("put at revision", put.Header.Revision)
	s.Put(&pb.PutRequest{Key: []byte("greeting"), Value: []byte("bonjour")})

	now, _ := s.Range(&pb.RangeRequest{Key: []byte("greeting")})
	kv := now.Kvs[0]
	fmt.Printf("%s=%s version %d created %d modified %d\n", kv.Key, kv.Value, kv.Version, kv.CreateRevision, kv.ModRevision)

	then, _ := s.Range(&pb.RangeRequest{Key: []byte("greeting"), Revision: 2})
	fmt.Printf("at revision 2: %s\n", then.Kvs[0].Value)

	// Compare-and-swap: succeed only if nobody wrote since revision 3.
	txn, _ := s.Txn(&pb.TxnRequest{
		Compare: []*pb.Compare{{
			Key: []byte("greeting"), Target: pb.Compare_MOD, Result: pb.Compare_EQUAL,
			TargetUnion: &pb.Compare_ModRevision{ModRevision: 3},
		}},
		Success: []*pb.RequestOp{{Request: &pb.RequestOp_RequestPut{
			RequestPut: &pb.PutRequest{Key: []byte("greeting"), Value: []byte("hola")}}}},
	})
	fmt.Println("cas succeeded:", txn.Succeeded, "revision", txn.Header.Revision)

	s.Compact(4)
	_, err := s.Range(&pb.RangeRequest{Key: []byte("greeting"), Revision: 2})
	fmt.Println("after compaction:", err)
	// Output:
	// put at revision 2
	// greeting=bonjour version 2 created 2 modified 3
	// at revision 2: hello
	// cas succeeded: true revision 4
	// after compaction: rpc error: code = OutOfRange desc = etcdserver: mvcc: required revision has been compacted
}
