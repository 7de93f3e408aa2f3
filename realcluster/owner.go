package realcluster

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// procNetTables are the kernel's TCP socket tables: a member may dial
// from an IPv4 socket or a dual-stack IPv6 one.
var procNetTables = []string{"/proc/net/tcp", "/proc/net/tcp6"}

// ProcOwner returns an Owner for ProxyOptions that names the member whose
// process holds the dialing end of a connection: pids returns the
// processes of the members now, PID to member id. The dialer's socket is
// the row of /proc/net/tcp whose local port is the connection's remote
// port and whose remote port is the proxy's; its inode is then found among
// each member process's open files as socket:[inode]. A socket no member
// holds (the harness's own clients, anything else) is the Harness's.
func ProcOwner(pids func() map[int]uint64) func(remote, local *net.TCPAddr) uint64 {
	return func(remote, local *net.TCPAddr) uint64 {
		inode, err := socketInode(remote.Port, local.Port)
		if err != nil || inode == "" {
			return Harness
		}
		want := "socket:[" + inode + "]"
		for pid, id := range pids() {
			if processHolds(pid, want) {
				return id
			}
		}
		return Harness
	}
}

// socketInode returns the inode of the TCP socket bound to local port
// localPort and connected to remote port remotePort, "" if there is none.
// Only loopback connections reach a proxy, so ports identify the socket.
func socketInode(localPort, remotePort int) (string, error) {
	local := fmt.Sprintf(":%04X", localPort)
	remote := fmt.Sprintf(":%04X", remotePort)
	for _, table := range procNetTables {
		f, err := os.Open(table)
		if err != nil {
			continue // no IPv6 in this kernel, say
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || !strings.HasSuffix(fields[1], local) || !strings.HasSuffix(fields[2], remote) {
				continue
			}
			f.Close()
			return fields[9], nil
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return "", fmt.Errorf("realcluster: reading %s: %w", table, err)
		}
	}
	return "", nil
}

// processHolds reports whether process pid has an open file whose link
// reads want (socket:[inode]).
func processHolds(pid int, want string) bool {
	dir := filepath.Join("/proc", strconv.Itoa(pid), "fd")
	entries, err := os.ReadDir(dir)
	if err != nil {
		return false // exited meanwhile
	}
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(dir, e.Name())); err == nil && target == want {
			return true
		}
	}
	return false
}
