package node

import (
	"errors"
	"testing"

	"github.com/kvdlabs/kvd/core/disk"
)

// Ids stay unique across restarts even when the member's clock goes back.
func TestRequestIDsUniqueAcrossRestartsWithClockBack(t *testing.T) {
	c := newTestCluster(t, 1, nil)
	c.waitLeader()
	seen := map[uint64]bool{}
	start := c.clock.T
	for life := range 4 {
		for range 100 {
			id := c.nodes[1].Submit(put("k", "v"))
			if seen[id] {
				t.Fatalf("life %d reused request id %x", life, id)
			}
			seen[id] = true
		}
		c.settle()
		c.stop(1)
		c.clock.T = start // a clock-jump fault: back to where the last life began
		c.start(1)
		c.waitLeader()
	}
}

func TestBootEpochFile(t *testing.T) {
	fsys := disk.OSFS{Root: t.TempDir()}
	if err := fsys.MkdirAll("m"); err != nil {
		t.Fatal(err)
	}
	for want := uint16(1); want <= 3; want++ {
		got, err := nextBootEpoch(fsys, "m")
		if err != nil || got != want {
			t.Fatalf("epoch %d, %v; want %d", got, err, want)
		}
	}
	f, err := fsys.Create("m/" + bootEpochFile)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte{0, 9, 1, 2, 3, 4})
	f.Close()
	if _, err := nextBootEpoch(fsys, "m"); !errors.Is(err, ErrBadBootEpoch) {
		t.Fatalf("a damaged epoch file gave %v", err)
	}
}
