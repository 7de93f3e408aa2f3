// Package procs holds what the commands and their tests need to run server
// processes on loopback: free ports to give them, and a buffer their output
// can be written to while someone reads it.
package procs

import (
	"bytes"
	"fmt"
	"net"
	"sync"
)

// FreeLoopbackPorts reserves n ports on 127.0.0.1 by listening and closing
// at once; the kernel does not hand a just-closed ephemeral port out again
// soon, so a child started right after can bind them.
func FreeLoopbackPorts(n int) ([]int, error) {
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
			return nil, fmt.Errorf("reserve a loopback port: %w", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// Output is a bytes.Buffer a child process writes while others read it.
type Output struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (o *Output) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Write(p)
}

// Len is how many bytes were written so far.
func (o *Output) Len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.Len()
}

// String is everything written so far.
func (o *Output) String() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.b.String()
}
