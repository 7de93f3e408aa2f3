package transport_test

import (
	"fmt"
	"net"

	"go.etcd.io/raft/v3/raftpb"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/core/transport"
)

// Two members exchange a raft message over loopback TCP. In kvd the member
// loop does the Send and drains Received and Reports.
func Example() {
	one, _ := transport.New(transport.Options{ID: 1, ClusterID: 7})
	two, _ := transport.New(transport.Options{ID: 2, ClusterID: 7})
	defer one.Close()
	defer two.Close()

	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	go two.Serve(ln)
	one.SetPeer(2, "http://"+ln.Addr().String())

	one.Send([]*raftpb.Message{{Type: raftpb.MsgHeartbeat.Enum(), From: proto.Uint64(1), To: proto.Uint64(2), Term: proto.Uint64(3)}})
	m := <-two.Received()
	fmt.Println(m.GetType(), "from", m.GetFrom(), "term", m.GetTerm())
	// Output: MsgHeartbeat from 1 term 3
}
