package node

import (
	"fmt"
	"testing"
	"time"
)

// TestAutoCompactionByRevisions: every CheckInterval the leader compacts at
// the current revision minus Revisions, and every member applies it.
func TestAutoCompactionByRevisions(t *testing.T) {
	var proposed []int64
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.AutoCompaction = AutoCompaction{Revisions: 10, CheckInterval: time.Second, OnPropose: func(rev int64) { proposed = append(proposed, rev) }}
	})
	l := c.waitLeader()
	for i := range 40 {
		mustOK(t, c.do(l, put(fmt.Sprintf("k%d", i%5), "v")))
	}
	rev := c.nodes[l].Status().Revision
	c.tick(12) // past one CheckInterval of 10 ticks
	for _, id := range c.ids {
		if got := c.nodes[id].Status().CompactRev; got != rev-10 {
			t.Fatalf("member %d compacted at %d, want %d (revision %d less 10); proposed %v", id, got, rev-10, rev, proposed)
		}
	}
	if len(proposed) == 0 || proposed[len(proposed)-1] != rev-10 {
		t.Fatalf("OnPropose heard %v, want a last %d", proposed, rev-10)
	}
	// Nothing new: nothing proposed again.
	n := len(proposed)
	c.tick(25)
	if len(proposed) != n {
		t.Fatalf("proposed %v again with no new revisions", proposed[n:])
	}
}

// TestAutoCompactionPeriodic: the leader keeps the revisions of the last
// Period, compacting at the revision sampled a Period ago.
func TestAutoCompactionPeriodic(t *testing.T) {
	c := newTestCluster(t, 3, func(cfg *Config) {
		cfg.AutoCompaction = AutoCompaction{Period: 2 * time.Second} // samples every 2 ticks
	})
	l := c.waitLeader()
	for i := range 60 { // about a revision a tick
		mustOK(t, c.do(l, put(fmt.Sprintf("k%d", i%5), "v")))
		c.tick(1)
	}
	got := c.nodes[l].Status().CompactRev
	if got == 0 {
		t.Fatalf("no compaction after 60 ticks of a 20-tick period")
	}
	// The compaction revision is one the store had a Period (20 ticks)
	// before a compaction, and compactions come every period: it keeps
	// between one and about two periods of revisions.
	newest := c.nodes[l].Status().Revision
	if got > newest-15 || got < newest-45 {
		t.Fatalf("compacted at %d with the store at %d: want about 20 to 40 revisions kept", got, newest)
	}
	for _, id := range c.ids {
		if c.nodes[id].Status().CompactRev != got {
			t.Fatalf("member %d compacted at %d, leader at %d", id, c.nodes[id].Status().CompactRev, got)
		}
	}
}
