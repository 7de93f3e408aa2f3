package api

import (
	"fmt"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkPut measures acknowledged puts through clientv3 on loopback TCP
// against a one- and a three-member cluster on the real disk (every batch
// fsyncs). Concurrent clients show the member loop's batching.
func BenchmarkPut(b *testing.B) {
	for _, members := range []int{1, 3} {
		for _, clients := range []int{1, 16} {
			b.Run(fmt.Sprintf("members=%d/clients=%d", members, clients), func(b *testing.B) {
				c := newTestCluster(b, clusterOpts{size: members})
				clis := make([]*clientv3.Client, clients)
				for i := range clis {
					clis[i] = c.client()
				}
				value := string(make([]byte, 128))
				b.ResetTimer()
				var wg sync.WaitGroup
				per := (b.N + clients - 1) / clients
				for i, cli := range clis {
					wg.Go(func() {
						for j := range per {
							if _, err := cli.Put(ctx(b), fmt.Sprintf("k%d-%d", i, j%1000), value); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
			})
		}
	}
}
