package realcluster

import (
	"fmt"
	"net"
)

// freeLoopbackPorts reserves n ports on 127.0.0.1 by listening on all of
// them at once and closing them; the kernel does not hand a just-closed
// port out again soon, so the members and proxies started right after can
// bind them. (cmd/internal/procs has the same helper, which a package
// outside cmd may not import.)
func freeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("realcluster: reserve a loopback port (%d of %d): %w", len(ports)+1, n, err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}
