package procs

import (
	"fmt"
	"net"
	"testing"
)

// Ports come from below the ephemeral range, distinct, and bindable at once.
func TestFreeLoopbackPortsAvoidTheEphemeralRange(t *testing.T) {
	ports, err := FreeLoopbackPorts(20)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range ports {
		if p < freePortMin || p >= freePortMax {
			t.Errorf("port %d outside %d..%d", p, freePortMin, freePortMax-1)
		}
		if seen[p] {
			t.Errorf("port %d twice", p)
		}
		seen[p] = true
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Errorf("port %d not bindable: %v", p, err)
			continue
		}
		ln.Close()
	}
}
