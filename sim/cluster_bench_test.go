package sim

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

// BenchmarkSimulatedClientOps measures client operations completed per
// wall-clock second on a fault-free 3-member cluster driven by closed-loop
// clients (each issues its next put when the last completes).
func BenchmarkSimulatedClientOps(b *testing.B) {
	for _, clients := range []int{1, 16, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			restore := InstallCryptoRand(1)
			defer restore()
			w := New(1, Options{})
			c := NewCluster(w, ClusterOptions{Members: 3})
			s := &scenario{w: w, c: c}
			s.t = &testing.T{}
			for c.Leader() == 0 {
				w.RunFor(10 * time.Millisecond)
			}
			done := 0
			for i := range clients {
				cl := c.NewClient(ClientOptions{})
				key := fmt.Sprintf("k%d", i)
				var next func(Call)
				next = func(Call) {
					done++
					if done < b.N {
						cl.Do(putReq(key, "value"), next)
					}
				}
				cl.Do(putReq(key, "value"), next)
			}
			b.ResetTimer()
			start := time.Now()
			for done < b.N && w.Step() {
			}
			elapsed := time.Since(start)
			b.ReportMetric(float64(done)/elapsed.Seconds(), "ops/s")
			b.ReportMetric(0, "ns/op")
		})
	}
}

// BenchmarkIdleTimeCompression measures how much faster than real time an
// idle 5-member cluster (heartbeats only) runs.
func BenchmarkIdleTimeCompression(b *testing.B) {
	restore := InstallCryptoRand(1)
	defer restore()
	w := New(1, Options{})
	NewCluster(w, ClusterOptions{Members: 5})
	w.RunFor(5 * time.Second) // elect a leader first
	b.ResetTimer()
	start, cpuStart := time.Now(), processCPUTime()
	virtualStart := w.Elapsed()
	for range b.N {
		w.RunFor(time.Second)
	}
	wall, cpu := time.Since(start), processCPUTime()-cpuStart
	virtual := float64(w.Elapsed() - virtualStart)
	b.ReportMetric(virtual/float64(wall), "x-realtime")
	// Against the CPU time the process used: the figure for one core that
	// a machine shared with other work does not distort.
	b.ReportMetric(virtual/float64(cpu), "x-cputime")
}

// processCPUTime is the user+system CPU time the process has used.
func processCPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
