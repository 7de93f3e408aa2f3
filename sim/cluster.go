package sim

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/raft/v3/raftpb"

	"github.com/kvdlabs/kvd/core/node"
)

// ClusterOptions configures a simulated cluster of core/node members.
type ClusterOptions struct {
	// Members is the cluster size; default 3. Member ids are 1..Members.
	Members int
	// Node is the template for every member's node.Config; ID, Peers, FS,
	// Dir and Clock are filled per member. Zero fields take node's defaults,
	// except SnapshotEntries (default here 1000, so runs exercise snapshots)
	// and SnapshotStepBytes (default here 4 KiB, so a snapshot spans many
	// rounds with requests, faults and crashes between them).
	Node node.Config
	// RestartDelay is how long a crashed member stays down before a
	// scheduled restart; default 1 s.
	RestartDelay time.Duration
	// PausedMessagesMax bounds what a paused member buffers; default 4096.
	PausedMessagesMax int
	// CorruptCheckInterval is how often the leader runs etcd's periodic
	// corruption check (node.JudgeHashes) over the running members, as a
	// kvd leader does with --corrupt-check-time; default 5 s, negative
	// off. A member it finds corrupt gets the CORRUPT alarm, which refuses
	// every write: a false finding fails the run's final writes.
	CorruptCheckInterval time.Duration
	// WatchFragmentBytes is the size at which a member splits the response
	// of a watcher that asked for fragments (etcd: --max-request-bytes plus
	// gRPC overhead); default 512, so the simulator's small events still
	// make catch-up responses of several fragments.
	WatchFragmentBytes int
	// WatchSendCost is the virtual time a member's sender of one watch
	// stream spends on one response; WatchHoldResponses responses waiting
	// for it hold the stream in the node (node.HoldWatchStream, as kvd's
	// gRPC layer does behind a slow reader), and the hold is released
	// once WatchReleaseResponses or fewer wait. Defaults 10 ms, 4 and 1:
	// slow enough that the simulator's bursts of responses (a round of
	// several revisions, a catch-up in fragments) hold streams for long
	// enough that later revisions merge into what they keep, so held
	// streams, their merged responses and their release meet faults and
	// the watch checker. Negative WatchSendCost: never held.
	WatchSendCost         time.Duration
	WatchHoldResponses    int
	WatchReleaseResponses int
	// UnsafeRangeStreamUnpinned reads every RangeStream chunk after the
	// first at the then current revision instead of the stream's own: a
	// known-unsafe variant the bank checker must catch (a total that
	// never existed at any one revision).
	UnsafeRangeStreamUnpinned bool
	// UnsafeAckBeforeFsync makes every member's disk acknowledge Sync
	// without making anything durable: a known-unsafe variant the checkers
	// must catch (acknowledged writes lost in a crash).
	UnsafeAckBeforeFsync bool
}

// EnsureDefaults fills zero fields with their documented defaults.
func (o *ClusterOptions) EnsureDefaults() {
	if o.Members == 0 {
		o.Members = 3
	}
	if o.Node.SnapshotEntries == 0 {
		o.Node.SnapshotEntries = 1000
		if o.Node.SnapshotCatchUpEntries == 0 {
			o.Node.SnapshotCatchUpEntries = 200
		}
	}
	if o.Node.SnapshotStepBytes == 0 {
		o.Node.SnapshotStepBytes = 4 << 10
	}
	if o.Node.WALPreallocateBytes == 0 {
		o.Node.WALPreallocateBytes = 16 << 10
	}
	if o.RestartDelay == 0 {
		o.RestartDelay = time.Second
	}
	if o.PausedMessagesMax == 0 {
		o.PausedMessagesMax = 4096
	}
	if o.WatchFragmentBytes == 0 {
		o.WatchFragmentBytes = 512
	}
	if o.WatchSendCost == 0 {
		o.WatchSendCost = 10 * time.Millisecond
	}
	if o.WatchHoldResponses == 0 {
		o.WatchHoldResponses = 4
	}
	if o.WatchReleaseResponses == 0 {
		o.WatchReleaseResponses = 1
	}
	if o.CorruptCheckInterval == 0 {
		o.CorruptCheckInterval = 5 * time.Second
	}
	o.Node.EnsureDefaults()
}

// Validate reports every problem at once.
func (o *ClusterOptions) Validate() error {
	var errs []error
	if o.Members < 1 || o.Members > clientIDBase-1 {
		errs = append(errs, fmt.Errorf("sim: Members %d out of [1, %d]", o.Members, clientIDBase-1))
	}
	if o.RestartDelay < 0 {
		errs = append(errs, fmt.Errorf("sim: RestartDelay %v is negative", o.RestartDelay))
	}
	if o.PausedMessagesMax <= 0 {
		errs = append(errs, fmt.Errorf("sim: PausedMessagesMax %d must be positive", o.PausedMessagesMax))
	}
	if o.WatchReleaseResponses < 0 || o.WatchHoldResponses <= o.WatchReleaseResponses {
		errs = append(errs, fmt.Errorf("sim: WatchReleaseResponses %d must be at least 0 and below WatchHoldResponses %d",
			o.WatchReleaseResponses, o.WatchHoldResponses))
	}
	// A member that refuses its configuration never starts: the run would
	// end in a liveness failure with nothing wrong but the options.
	n := o.Node
	n.EnsureDefaults()
	if err := n.ValidateProtocol(); err != nil {
		errs = append(errs, fmt.Errorf("sim: member options: %w", err))
	}
	return errors.Join(errs...)
}

// clientIDBase is where client endpoint ids start, so they never collide
// with member ids on the network.
const clientIDBase = 1 << 20

// Cluster is a set of members driven by a World: each member's node runs in
// the World's single event loop, its messages cross the simulated network,
// its WAL lives on a simulated disk.
type Cluster struct {
	w    *World
	opts ClusterOptions
	// ids are the current members, in order of joining; initialIDs the
	// bootstrap ones (1..Members).
	ids, initialIDs []uint64
	members         map[uint64]*Member
	clients         []*Client
	// observers are told of every completed client call (checkers).
	observers []func(Call)
	// callsInFlight counts the clients' calls sent and not completed.
	callsInFlight int
	faults        faultState
	config        configCheck
	// leadership follows the leader, for comparisons of variants.
	leadership  leadership
	leaderStops LeaderStops
	// livenessProblems are the simulator's own liveness findings.
	livenessProblems []string
	// restores counts backups restored (backup.go), naming their disks.
	restores int
}

// NewCluster creates the members and starts them. The caller must have
// installed a seeded crypto/rand (InstallCryptoRand): raft draws its
// election jitter there.
func NewCluster(w *World, opts ClusterOptions) *Cluster {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(err)
	}
	c := &Cluster{w: w, opts: opts, members: map[uint64]*Member{}}
	c.faults.rand = w.Rand("nemesis/executor")
	c.faults.flipped = map[*activeFault][]flip{}
	c.faults.images = map[*Member]diskImage{}
	for i := 1; i <= opts.Members; i++ {
		c.ids = append(c.ids, uint64(i))
	}
	w.network.opts.Describe = describeMessage
	c.initialIDs = slices.Clone(c.ids)
	for _, id := range c.ids {
		c.members[id] = c.newMember(id)
	}
	for _, id := range c.ids {
		c.members[id].start()
	}
	if opts.CorruptCheckInterval > 0 {
		c.w.After(opts.CorruptCheckInterval, c.checkCorruption)
	}
	return c
}

// newMember makes member id with an empty disk; it is not started.
func (c *Cluster) newMember(id uint64) *Member {
	m := &Member{c: c, id: id, disk: c.w.NewDisk(fmt.Sprintf("member-%d", id)), clock: memberClock{w: c.w, driftPPM: 0}}
	if c.opts.UnsafeAckBeforeFsync {
		m.fs = lyingFS{m.disk}
	} else {
		m.fs = m.disk
	}
	return m
}

// World returns the world the cluster runs in.
func (c *Cluster) World() *World { return c.w }

// Options are the cluster's options, defaults filled in.
func (c *Cluster) Options() ClusterOptions { return c.opts }

// IDs returns the member ids in order.
func (c *Cluster) IDs() []uint64 { return slices.Clone(c.ids) }

// Member returns member id.
func (c *Cluster) Member(id uint64) *Member { return c.members[id] }

// Observe registers fn to be told of every completed client call.
func (c *Cluster) Observe(fn func(Call)) { c.observers = append(c.observers, fn) }

// Leader returns the id of a live member that believes it leads with the
// highest term, or 0.
func (c *Cluster) Leader() uint64 {
	lead, _, _ := c.leaderTerm()
	return lead
}

// leaderTerm is Leader, its term, and how many live members believe they
// lead (more than one: a deposed leader has not noticed yet).
func (c *Cluster) leaderTerm() (lead, term uint64, leaders int) {
	for _, id := range c.ids {
		m := c.members[id]
		if m.node == nil || m.paused {
			continue
		}
		if leads, t := m.node.Leading(); leads {
			leaders++
			if t >= term {
				lead, term = id, t
			}
		}
	}
	return lead, term, leaders
}

// Up returns the ids of members that are running (not crashed, not paused).
func (c *Cluster) Up() []uint64 {
	var ids []uint64
	for _, id := range c.ids {
		if m := c.members[id]; m.node != nil && !m.paused {
			ids = append(ids, id)
		}
	}
	return ids
}

// peerMsg is a raft message on the simulated wire. The message itself
// travels, not a byte copy: raft never mutates a message it sent or
// stepped, nor the entries in it (its own test harnesses share them the
// same way), and the simulator's speed is worth the saved marshalling.
// sizeBytes is still the marshalled size, for bandwidth and the trace.
type peerMsg struct {
	msg  *raftpb.Message
	desc string
}

func describeMessage(msg any) string {
	switch m := msg.(type) {
	case *peerMsg:
		return m.desc
	case *clientRequest:
		return m.desc()
	case *clientResponse:
		return m.desc()
	case *watchDelivery:
		return m.desc()
	default:
		return fmt.Sprintf("%T", msg)
	}
}

func describeRaft(m *raftpb.Message) string {
	b := make([]byte, 0, 96)
	b = append(b, m.GetType().String()...)
	b = appendField(b, " term=", m.GetTerm())
	b = appendField(b, " index=", m.GetIndex())
	b = appendField(b, " logterm=", m.GetLogTerm())
	b = appendField(b, " commit=", m.GetCommit())
	b = appendField(b, " entries=", uint64(len(m.GetEntries())))
	b = append(b, " reject="...)
	b = strconv.AppendBool(b, m.GetReject())
	return string(b)
}

func appendField(b []byte, name string, v uint64) []byte {
	return strconv.AppendUint(append(b, name...), v, 10)
}

// describeRequest names a request's operation for the trace.
func describeRequest(r *pb.InternalRaftRequest) string {
	switch {
	case r == nil:
		return "none"
	case r.Range != nil:
		return fmt.Sprintf("range key=%q end=%q serializable=%v", r.Range.Key, r.Range.RangeEnd, r.Range.Serializable)
	case r.Put != nil:
		return fmt.Sprintf("put key=%q value=%q lease=%d", r.Put.Key, r.Put.Value, r.Put.Lease)
	case r.DeleteRange != nil:
		return fmt.Sprintf("delete key=%q end=%q", r.DeleteRange.Key, r.DeleteRange.RangeEnd)
	case r.Txn != nil:
		return fmt.Sprintf("txn compares=%d success=%d failure=%d", len(r.Txn.Compare), len(r.Txn.Success), len(r.Txn.Failure))
	case r.Compaction != nil:
		return fmt.Sprintf("compact rev=%d", r.Compaction.Revision)
	case r.LeaseGrant != nil:
		return fmt.Sprintf("lease-grant id=%d ttl=%d", r.LeaseGrant.ID, r.LeaseGrant.TTL)
	case r.LeaseRevoke != nil:
		return fmt.Sprintf("lease-revoke id=%d", r.LeaseRevoke.ID)
	case r.Authenticate != nil:
		return fmt.Sprintf("authenticate user=%q", r.Authenticate.Name)
	case r.AuthRoleGrantPermission != nil:
		p := r.AuthRoleGrantPermission.GetPerm()
		return fmt.Sprintf("auth-grant-permission role=%q type=%s key=%q end=%q", r.AuthRoleGrantPermission.Name, p.GetPermType(), p.GetKey(), p.GetRangeEnd())
	case r.AuthRoleRevokePermission != nil:
		return fmt.Sprintf("auth-revoke-permission role=%q key=%q end=%q", r.AuthRoleRevokePermission.Role, r.AuthRoleRevokePermission.Key, r.AuthRoleRevokePermission.RangeEnd)
	case r.AuthUserGrantRole != nil:
		return fmt.Sprintf("auth-grant-role user=%q role=%q", r.AuthUserGrantRole.User, r.AuthUserGrantRole.Role)
	case r.AuthUserRevokeRole != nil:
		return fmt.Sprintf("auth-revoke-role user=%q role=%q", r.AuthUserRevokeRole.Name, r.AuthUserRevokeRole.Role)
	case r.AuthUserAdd != nil:
		return fmt.Sprintf("auth-user-add user=%q", r.AuthUserAdd.Name)
	case r.AuthRoleAdd != nil:
		return fmt.Sprintf("auth-role-add role=%q", r.AuthRoleAdd.Name)
	case r.AuthEnable != nil:
		return "auth-enable"
	default:
		return "other"
	}
}

// discardLogger keeps raft's own logging out of simulations by default.
var discardLogger = slog.New(slog.DiscardHandler)
