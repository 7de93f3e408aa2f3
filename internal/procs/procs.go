// Package procs holds what the commands and their tests need to run server
// processes on loopback: the binaries, free ports to give them, and a
// buffer their output can be written to while someone reads it.
package procs

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
)

// FreeLoopbackPorts finds n ports on 127.0.0.1 that are free now, for
// children to listen on. They are drawn below the kernel's ephemeral range
// (freePortMin..freePortMax): a port the kernel handed out for ":0" is one
// it may hand again as the source port of any outgoing connection, and a
// parity run lost a member to "address already in use" when a peer's dial
// took the port between the check and the child's bind. Other tests
// drawing at random from the same range are the only race left.
func FreeLoopbackPorts(n int) ([]int, error) {
	var ports []int
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for attempt := 0; len(ports) < n; attempt++ {
		if attempt == freePortAttemptsMax {
			return nil, fmt.Errorf("reserve %d loopback ports in %d..%d: %d free after %d attempts", n, freePortMin, freePortMax-1, len(ports), attempt)
		}
		port := freePortMin + rand.IntN(freePortMax-freePortMin)
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue // taken: draw another
		}
		lns = append(lns, ln)
		ports = append(ports, port)
	}
	return ports, nil
}

// The range FreeLoopbackPorts draws from: under Linux's default ephemeral
// range (32768-60999) and above the well-known and registered ports most
// local services sit on.
const (
	freePortMin         = 20000
	freePortMax         = 32768
	freePortAttemptsMax = 10000
)

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

// Build builds the named programs into dir, side by side, and returns
// their paths in the same order: "kvd" from this tree (root is the
// repository); "kvd-unsafe", kvd from this tree built with the kvdunsafe
// tag, which adds --unsafe to switch on the planted bugs kvsim must
// catch; and etcd's own "etcd", "etcdctl" and "etcdutl" v3.7.3 from the Go
// module proxy with tools/build.sh, as make etcd does. A failure names the
// command and carries its output.
func Build(root, dir string, programs ...string) ([]string, error) {
	paths := make([]string, len(programs))
	errs := make([]error, len(programs))
	var wg sync.WaitGroup
	for i, name := range programs {
		paths[i] = filepath.Join(dir, name)
		var cmd *exec.Cmd
		switch name {
		case "kvd":
			cmd = exec.Command("go", "build", "-o", paths[i], "./cmd/kvd")
			cmd.Dir = root
		case "kvd-unsafe":
			cmd = exec.Command("go", "build", "-tags", "kvdunsafe", "-o", paths[i], "./cmd/kvd")
			cmd.Dir = root
		case "etcd", "etcdctl", "etcdutl":
			cmd = exec.Command(filepath.Join(root, "tools", "build.sh"), name, paths[i])
		default:
			return nil, fmt.Errorf("procs: no way to build %q (kvd, kvd-unsafe, etcd, etcdctl, etcdutl)", name)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if out, err := cmd.CombinedOutput(); err != nil {
				errs[i] = fmt.Errorf("build %s (%s): %w\n%s", name, strings.Join(cmd.Args, " "), err, out)
			}
		}()
	}
	wg.Wait()
	return paths, errors.Join(errs...)
}

// BuildInTemp is Build into a new temporary directory; cleanup removes it.
// A test's TestMain builds its binaries with it once for the package.
func BuildInTemp(root string, programs ...string) (paths []string, cleanup func(), err error) {
	dir, err := os.MkdirTemp("", "kvd-test-bin")
	if err != nil {
		return nil, nil, fmt.Errorf("procs: directory for binaries: %w", err)
	}
	cleanup = func() { os.RemoveAll(dir) }
	if paths, err = Build(root, dir, programs...); err != nil {
		cleanup()
		return nil, nil, err
	}
	return paths, cleanup, nil
}
