package api

import (
	"fmt"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// BenchmarkPut measures acknowledged puts through clientv3 on loopback TCP
// against a one- and a three-member cluster on the real disk (every batch
// fsyncs). Concurrent clients show the member loop's batching; "metered"
// wires the peer metrics as kvd does (byte counters, probes every 20 ms),
// to compare with the plain three-member case in the same run.
func BenchmarkPut(b *testing.B) {
	for _, o := range []clusterOpts{{size: 1}, {size: 3}, {size: 3, metered: true}} {
		for _, clients := range []int{1, 16} {
			name := fmt.Sprintf("members=%d/clients=%d", o.size, clients)
			if o.metered {
				name = fmt.Sprintf("members=%d/metered/clients=%d", o.size, clients)
			}
			b.Run(name, func(b *testing.B) {
				c := newTestCluster(b, o)
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
