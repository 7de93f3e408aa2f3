package node_test

import (
	"fmt"
	"os"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/core/clock"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
)

// A single-member cluster driven by hand: tick until it leads, submit a
// put, process, and read the result. kvd and the simulator run this same
// loop, with a network and a clock of their own.
func Example() {
	dir, _ := os.MkdirTemp("", "node-example")
	defer os.RemoveAll(dir)
	clk := &clock.Manual{T: time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)}
	n, err := node.Open(node.Config{ID: 1, Peers: []uint64{1}, FS: disk.OSFS{Root: dir}, Dir: "member"})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer n.Close()

	for !n.Status().IsLeader {
		clk.Advance(100 * time.Millisecond)
		n.Tick()
		if _, err := n.Process(); err != nil {
			fmt.Println(err)
			return
		}
	}
	id := n.Submit(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte("/config/db"), Value: []byte("db.example.com")}})
	out, _ := n.Process()
	for _, r := range out.Results {
		if r.ID == id {
			fmt.Println("put at revision", r.Response.(*pb.PutResponse).Header.Revision)
		}
	}
	resp, _ := n.LocalRange(&pb.RangeRequest{Key: []byte("/config/db")})
	fmt.Printf("%s = %s\n", resp.Kvs[0].Key, resp.Kvs[0].Value)
	// Output:
	// put at revision 2
	// /config/db = db.example.com
}
