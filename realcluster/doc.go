// Package realcluster runs a cluster of real etcd-compatible member
// processes (kvd, or etcd itself) on 127.0.0.1 for kvsim real, and carries
// out a nemesis schedule on it: kills, restarts and pauses by signal, and
// network faults through a TCP proxy placed in front of every member's peer
// port and client port, the way etcd's robustness tests put a proxy
// between members.
//
// # Links
//
// Every member advertises its proxy's address, never its own, so every
// byte between two members and between the harness and a member crosses a
// proxy. A fault is a rule on a directed link (from member, to member; the
// harness is Harness, id 0) held in one Network. The binaries are not
// modified and all dial from 127.0.0.1 with ephemeral ports, so a proxy
// learns which member dialed it from the kernel: the accepted connection's
// peer port names a socket in /proc/net/tcp, and the member whose process
// holds that socket among its open files is the dialer. A dialer that is
// no member process is the harness.
//
// TCP does not lose bytes, so the proxy cannot drop one message the way
// the simulator does: a dropped chunk on a link would corrupt the stream.
// Packet loss is carried out as connection resets instead (each chunk
// resets its connection with the fault's probability), which is what a
// real lossy network looks like to etcd's HTTP and gRPC streams once TCP
// gives up. A blocked link discards its bytes; a connection whose stream
// lost bytes is reset once its link heals, since it cannot be trusted.
//
// # Processes
//
// Members are started in a process group of their own (a Ctrl-C at the
// terminal reaches the harness only, which then stops them in order), and
// are always signalled by the PID the harness started, never by name.
// Linux only: the dialer lookup reads /proc.
package realcluster
