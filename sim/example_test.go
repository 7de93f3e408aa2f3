package sim_test

import (
	"fmt"
	"time"

	"github.com/kvdlabs/kvd/sim"
)

// A World is a seeded run: schedule events, send messages, crash disks,
// and compare the trace hash of two runs of one seed to prove determinism.
func Example() {
	run := func(seed uint64) *sim.World {
		w := sim.New(seed, sim.Options{})
		net := w.Network()
		net.SetDefaultLink(sim.LinkOptions{LatencyBase: 2 * time.Millisecond, LatencyJitter: time.Millisecond})

		// Endpoint 2 answers every ping; endpoint 1 counts the answers.
		pongs := 0
		net.Register(1, func(from uint64, msg any) { pongs++ })
		net.Register(2, func(from uint64, msg any) { net.Send(2, from, "pong", 4) })

		// A ping every 10ms; from 30ms to 60ms the two are partitioned.
		// The ping due at 60ms is lost too: it was scheduled before the
		// heal, and events due at one instant run in schedule order.
		for i := range 10 {
			w.After(time.Duration(i)*10*time.Millisecond, func() { net.Send(1, 2, "ping", 4) })
		}
		w.After(30*time.Millisecond, func() { net.Partition([]uint64{1}, []uint64{2}) })
		w.After(60*time.Millisecond, net.Heal)

		// A member's disk: only synced data in a synced directory survives.
		d := w.NewDisk("member-1")
		f, _ := d.Create("wal")
		_, _ = f.Write([]byte("durable"))
		_ = f.Sync()
		_ = d.SyncDir("")
		_, _ = f.Write([]byte(" and lost"))
		w.After(50*time.Millisecond, d.Crash)

		w.RunFor(time.Second)
		content, _ := d.ReadFile("wal")
		fmt.Printf("seed %d: %d pongs, wal %q, now %s\n", seed, pongs, content, w.Now().Format(time.TimeOnly+".000"))
		return w
	}
	a, b := run(7), run(7)
	fmt.Println("same seed, same trace:", a.TraceHash() == b.TraceHash())
	// Output:
	// seed 7: 6 pongs, wal "durable", now 00:00:01.000
	// seed 7: 6 pongs, wal "durable", now 00:00:01.000
	// same seed, same trace: true
}
