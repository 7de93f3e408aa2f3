package api_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/transport"
)

// A one-member kvd on loopback, driven by the official etcd client.
func Example() {
	dir, _ := os.MkdirTemp("", "kvd-example")
	defer os.RemoveAll(dir)
	peerLn, _ := net.Listen("tcp", "127.0.0.1:0")
	clientLn, _ := net.Listen("tcp", "127.0.0.1:0")
	self := api.MemberInfo{
		Name:       "default",
		PeerURLs:   []string{"http://" + peerLn.Addr().String()},
		ClientURLs: []string{"http://" + clientLn.Addr().String()},
	}
	id := api.MemberID(self.PeerURLs, "example")
	clusterID := api.ClusterID([]uint64{id})

	tr, _ := transport.New(transport.Options{ID: id, ClusterID: clusterID})
	defer tr.Close()
	srv, err := api.New(api.Config{
		Node: node.Config{
			ID: id, ClusterID: clusterID, Peers: []uint64{id},
			FS: disk.OSFS{}, Dir: filepath.Join(dir, "member"),
			TickInterval: 10 * time.Millisecond,
		},
		Transport: tr,
		Self:      self,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, stop := context.WithCancel(context.Background())
	go tr.Serve(peerLn)
	go srv.Run(ctx)
	go srv.ServeClient(ctx, clientLn, time.Second)
	defer func() { stop(); <-srv.Done() }()

	cli, _ := clientv3.New(clientv3.Config{Endpoints: self.ClientURLs, DialTimeout: 5 * time.Second})
	defer cli.Close()
	rctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cli.Put(rctx, "/config/database/host", "db.example.com")
	resp, err := cli.Get(rctx, "/config/database/", clientv3.WithPrefix())
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, kv := range resp.Kvs {
		fmt.Printf("%s = %s (revision %d)\n", kv.Key, kv.Value, kv.ModRevision)
	}
	// Output: /config/database/host = db.example.com (revision 2)
}
