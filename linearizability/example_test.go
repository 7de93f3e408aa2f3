package linearizability_test

import (
	"fmt"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"

	"github.com/kvdlabs/kvd/linearizability"
)

// A client writes x=a and the write is acknowledged at revision 2; a second
// client, starting after the acknowledgement, reads x and still sees the
// empty store at revision 1: a stale read, which CheckKV reports. The
// same read returning x=a at revision 2 is fine.
func ExampleCheckKV() {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	put := linearizability.KVOperation{
		ClientID: 0, Invoke: at(0), Return: at(10),
		Request:  &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("x"), Value: []byte("a")}},
		Response: &pb.PutResponse{Header: &pb.ResponseHeader{Revision: 2}},
	}
	read := func(resp *pb.RangeResponse) linearizability.KVOperation {
		return linearizability.KVOperation{
			ClientID: 1, Invoke: at(20), Return: at(30),
			Request:  &pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("x")}},
			Response: resp,
		}
	}
	fresh := read(&pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 2}, Count: 1,
		Kvs: []*mvccpb.KeyValue{{Key: []byte("x"), Value: []byte("a"), CreateRevision: 2, ModRevision: 2, Version: 1}}})
	stale := read(&pb.RangeResponse{Header: &pb.ResponseHeader{Revision: 1}})

	opts := linearizability.KVCheckOptions{Timeout: time.Second}
	fmt.Println(linearizability.CheckKV([]linearizability.KVOperation{put, fresh}, opts).Outcome)
	v := linearizability.CheckKV([]linearizability.KVOperation{put, stale}, opts)
	fmt.Println(v.Outcome)
	fmt.Println(v.Detail)
	// Output:
	// ok
	// violation
	// not linearizable: client 1 range(x) → [] count 0 @rev 1 (at 20ms..30ms) fits no linearization of the 1 operations before it; the model would answer [[x="a"@c2/m2/v1] count 1 @rev 2]
}
