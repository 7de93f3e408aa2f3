package node

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/mvcc"
)

// Config configures one member. Zero fields take the defaults documented on
// each; EnsureDefaults fills them and Validate reports every problem at once.
type Config struct {
	// ID is this member's raft id; required, non-zero.
	ID uint64
	// ClusterID goes into every response header.
	ClusterID uint64
	// Peers are the voting members of a new cluster (this member included).
	// Used only when Dir holds no WAL yet; a restart recovers membership from disk.
	Peers []uint64
	// PeerContexts optionally carries opaque per-member data (kvd: name and
	// URLs) into the bootstrap configuration changes, keyed by member id.
	PeerContexts map[uint64][]byte
	// Join starts a member added to a running cluster (etcd's
	// --initial-cluster-state existing): with no WAL yet it bootstraps
	// nothing, and the leader sends it the configuration and the log.
	Join bool
	// Name and ClientURLs are this member's attributes: once a leader is
	// known the member proposes them (etcd's ClusterMemberAttrSet) until
	// the replicated membership shows them. A member that has published
	// counts as started for the strict reconfiguration checks.
	Name       string
	ClientURLs []string

	// FS and Dir locate the durable state; both required.
	FS  disk.FS
	Dir string
	// Logger receives structured logs; default discards.
	Logger *slog.Logger

	// TickInterval is how much time one Tick stands for; default 100 ms
	// (etcd's --heartbeat-interval). Leases are judged in seconds, raft in ticks.
	TickInterval time.Duration
	// ElectionTicks is raft's election timeout in ticks; default 10.
	ElectionTicks int
	// HeartbeatTicks is raft's heartbeat interval in ticks; default 1.
	HeartbeatTicks int

	// SnapshotEntries: take a state snapshot after this many applied entries
	// since the last one; default 10000 (etcd's --snapshot-count).
	SnapshotEntries uint64
	// SnapshotCatchUpEntries: entries kept in the raft log behind a snapshot so
	// slightly lagging followers catch up without a snapshot; default 5000.
	SnapshotCatchUpEntries uint64
	// SnapshotSizeRatioMax paces snapshots of a large state: one is not
	// taken before the entries applied since the last carried at least
	// 1/SnapshotSizeRatioMax of that snapshot's size, so snapshots write
	// at most this many times the bytes the log does; default 4.
	SnapshotSizeRatioMax int
	// WALPreallocateBytes is how much disk space the WAL reserves ahead of
	// its writes (wal.Options.PreallocateBytes): 0 takes the WAL's default,
	// a whole 64 MiB segment at its start as etcd does; negative turns it
	// off. The simulator reserves 16 KiB at a time, so that its disks stay
	// small and a seed's writes pass the end of a reservation.
	WALPreallocateBytes int64
	// WatchCatchUpEventsMax is how many history events one lagging
	// watcher reads per Process (watch.Options.CatchUpEventsMax); default
	// watch.DefaultCatchUpEventsMax. Small values keep watchers unsynced
	// across many rounds, which the simulator draws to reach the paths
	// that serve them.
	WatchCatchUpEventsMax int
	// SnapshotStepBytes is how much of a state snapshot one Process encodes
	// and writes at least: a snapshot of a large store is streamed into the
	// WAL over many rounds instead of stalling one. A round that applied
	// many entries writes more, in proportion (see snapshot.go); default
	// 64 KiB.
	SnapshotStepBytes int

	// RequestBytesMax bounds one client request; default 1.5 MiB (etcd's
	// --max-request-bytes). Larger requests fail with etcd's request-too-large.
	RequestBytesMax int
	// TxnOpsMax bounds the operations of one Txn branch; default 128.
	TxnOpsMax int
	// HistoryChunkBytes is the store's history arena chunk size
	// (mvcc.Options.HistoryChunkBytes); default 1 MiB. The simulator draws
	// small chunks so that its compactions free them.
	HistoryChunkBytes int
	// HistorySpillDir is where the store's history spills
	// (mvcc.Options.HistorySpillDir): kvd's data dir. Empty, as in the
	// simulator, keeps history in memory.
	HistorySpillDir string
	// PendingRequestsMax bounds requests waiting for apply or a read index;
	// default 16384. Beyond it Submit fails with etcd's too-many-requests.
	PendingRequestsMax int
	// RequestTimeoutTicks: a request still waiting after this many ticks
	// completes with etcd's timeout error (indeterminate for writes);
	// default 5 s worth of ticks plus two election timeouts, as etcd.
	RequestTimeoutTicks int
	// LeaseRevokesPerTickMax bounds the revokes the leader proposes per tick; default 16.
	LeaseRevokesPerTickMax int
	// MessageBytesMax bounds one raft append message; default 1 MiB.
	MessageBytesMax uint64
	// InflightMessagesMax bounds in-flight appends per follower; default 256.
	InflightMessagesMax int

	// BeforePersist, if set, receives output that may leave before the
	// round's fsync, called synchronously from Process:
	//   - a steady leader's messages (appends, heartbeats, read-index
	//     answers), so replication overlaps the leader's own fsync (raft
	//     thesis §10.2.1), and a follower's heartbeat answers and read-index
	//     requests, which promise nothing about its log — never for a Ready
	//     that changes term or vote or carries a snapshot, which must be
	//     durable before anyone hears of it;
	//   - the results and watch events of entries committed by then: they are
	//     durable on a quorum already, so they are applied and answered
	//     while this member persists the entries that arrived with them.
	// etcd does both. Nil: everything comes out of Process after the fsync.
	BeforePersist func(Output)
	// SendAfterPersist ignores BeforePersist: every message and result
	// leaves after the round's fsync (option send-before-persist=false),
	// to compare a member without that overlap against one with it.
	SendAfterPersist bool

	// PreVoteOff turns raft's PreVote off (etcd's --pre-vote=false): a
	// member cut off for a while then campaigns with a raised term on its
	// return and deposes a healthy leader. Default: PreVote on.
	PreVoteOff bool
	// CheckQuorumOff turns raft's CheckQuorum off: a leader that hears
	// from no quorum for an election timeout keeps leading, and followers
	// grant votes however recently they heard from a leader. Default: on.
	CheckQuorumOff bool
	// ReadIndexLeaseBased answers ReadIndex from the leader's lease
	// (raft.ReadOnlyLeaseBased: no heartbeat round with a quorum) instead
	// of raft.ReadOnlySafe, the default: one round trip less per read, but
	// linearizable only while the members' clocks run at one rate. Needs
	// CheckQuorum.
	ReadIndexLeaseBased bool
	// StopHandoffOff has a leader's graceful stop (PrepareStop) keep its
	// leadership to the end instead of handing it off first: the others
	// then wait an election timeout for a new leader (option
	// stop-handoff=false, to compare). Default: it hands off, as etcd's.
	StopHandoffOff bool

	// AuthTokenTTL is how long a simple token lives unused (etcd's
	// --auth-token-ttl); default 300 s.
	AuthTokenTTL time.Duration

	// AutoCompaction makes the leader compact on its own, as etcd's
	// --auto-compaction-mode and --auto-compaction-retention; the zero
	// value is off (compactor.go).
	AutoCompaction AutoCompaction

	// Unsafe switches on known-unsafe protocol variants so the simulator,
	// and kvd built with the kvdunsafe tag, can prove the harness catches
	// them; UnsafeVariants names them. Never set in production.
	Unsafe Unsafe
}

// Unsafe lists deliberately broken protocol variants.
type Unsafe struct {
	// StaleReads serves linearizable reads locally, without ReadIndex.
	StaleReads bool
	// FollowerLeaseExpiry lets every member revoke leases on its own clock.
	FollowerLeaseExpiry bool
	// WatchSkip drops a watch event at a compaction boundary.
	WatchSkip bool
	// FollowerIgnoresAlarms makes followers apply the writes an active
	// alarm refuses, so members diverge while the leader refuses them.
	FollowerIgnoresAlarms bool
	// ConfChangeBeforeCommit makes the member that proposes a membership
	// change switch its raft configuration at once, before the change
	// commits: for a while it counts a quorum, and replicates, in a
	// configuration the others do not hold.
	ConfChangeBeforeCommit bool
	// AuthWritesUnchecked applies writes (put, delete, txn) without
	// checking the caller's permissions while auth is on.
	AuthWritesUnchecked bool
}

// EnsureDefaults fills every zero field with its documented default.
func (c *Config) EnsureDefaults() {
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.TickInterval == 0 {
		c.TickInterval = 100 * time.Millisecond
	}
	if c.ElectionTicks == 0 {
		c.ElectionTicks = 10
	}
	if c.HeartbeatTicks == 0 {
		c.HeartbeatTicks = 1
	}
	if c.SnapshotEntries == 0 {
		c.SnapshotEntries = 10000
	}
	if c.SnapshotCatchUpEntries == 0 {
		c.SnapshotCatchUpEntries = 5000
		if c.SnapshotCatchUpEntries > c.SnapshotEntries {
			// Snapshots more often than the usual catch-up: keep a fifth
			// of the entries between two, as the simulator's 1000/200.
			c.SnapshotCatchUpEntries = max(1, c.SnapshotEntries/5)
		}
	}
	if c.SnapshotSizeRatioMax == 0 {
		c.SnapshotSizeRatioMax = 4
	}
	if c.SnapshotStepBytes == 0 {
		c.SnapshotStepBytes = 64 << 10
	}
	if c.RequestBytesMax == 0 {
		c.RequestBytesMax = 1536 * 1024
	}
	if c.TxnOpsMax == 0 {
		c.TxnOpsMax = 128
	}
	if c.HistoryChunkBytes == 0 {
		c.HistoryChunkBytes = mvcc.HistoryChunkBytesDefault
	}
	if c.PendingRequestsMax == 0 {
		c.PendingRequestsMax = 16384
	}
	if c.RequestTimeoutTicks == 0 && c.TickInterval > 0 {
		c.RequestTimeoutTicks = int(5*time.Second/c.TickInterval) + 2*c.ElectionTicks
	}
	if c.LeaseRevokesPerTickMax == 0 {
		c.LeaseRevokesPerTickMax = 16
	}
	if c.MessageBytesMax == 0 {
		c.MessageBytesMax = 1 << 20
	}
	if c.InflightMessagesMax == 0 {
		c.InflightMessagesMax = 256
	}
	if c.AuthTokenTTL == 0 {
		c.AuthTokenTTL = 300 * time.Second
	}
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.ID == 0 {
		add("node: ID must be non-zero")
	}
	if c.FS == nil {
		add("node: FS is required")
	}
	if c.Dir == "" {
		add("node: Dir is required")
	}
	if c.TickInterval <= 0 {
		add("node: TickInterval %v must be positive", c.TickInterval)
	}
	errs = append(errs, c.ValidateProtocol())
	if c.SnapshotSizeRatioMax <= 0 {
		add("node: SnapshotSizeRatioMax %d must be positive", c.SnapshotSizeRatioMax)
	}
	if c.SnapshotStepBytes <= 0 {
		add("node: SnapshotStepBytes %d must be positive", c.SnapshotStepBytes)
	}
	if c.RequestBytesMax <= 0 {
		add("node: RequestBytesMax %d must be positive", c.RequestBytesMax)
	}
	if c.TxnOpsMax <= 0 {
		add("node: TxnOpsMax %d must be positive", c.TxnOpsMax)
	}
	if err := (&mvcc.Options{TxnOpsMax: mvcc.TxnOpsMaxDefault, HistoryChunkBytes: c.HistoryChunkBytes}).Validate(); err != nil {
		add("node: %v", err) // the store's own rule for its chunk size
	}
	if c.PendingRequestsMax <= 0 {
		add("node: PendingRequestsMax %d must be positive", c.PendingRequestsMax)
	}
	if err := c.AutoCompaction.validate(); err != nil {
		errs = append(errs, err)
	}
	if c.RequestTimeoutTicks <= c.ElectionTicks {
		add("node: RequestTimeoutTicks %d must exceed ElectionTicks %d", c.RequestTimeoutTicks, c.ElectionTicks)
	}
	if c.LeaseRevokesPerTickMax <= 0 {
		add("node: LeaseRevokesPerTickMax %d must be positive", c.LeaseRevokesPerTickMax)
	}
	if c.AuthTokenTTL < c.TickInterval {
		add("node: AuthTokenTTL %v must be at least one tick (%v)", c.AuthTokenTTL, c.TickInterval)
	}
	if c.InflightMessagesMax <= 0 {
		add("node: InflightMessagesMax %d must be positive", c.InflightMessagesMax)
	}
	if c.Join && len(c.Peers) > 0 {
		add("node: Join starts with no configuration, yet Peers names %d members", len(c.Peers))
	}
	for _, p := range c.Peers {
		if p == 0 {
			add("node: peer id 0 in Peers")
		}
	}
	return errors.Join(errs...)
}

// ValidateProtocol reports every problem among the protocol options
// (those Options names) once defaults are filled; Validate includes it.
func (c *Config) ValidateProtocol() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.HeartbeatTicks <= 0 {
		add("node: HeartbeatTicks %d must be positive", c.HeartbeatTicks)
	}
	if c.ElectionTicks <= c.HeartbeatTicks {
		add("node: ElectionTicks %d must exceed HeartbeatTicks %d", c.ElectionTicks, c.HeartbeatTicks)
	}
	if c.SnapshotCatchUpEntries > c.SnapshotEntries {
		add("node: SnapshotCatchUpEntries %d must not exceed SnapshotEntries %d", c.SnapshotCatchUpEntries, c.SnapshotEntries)
	}
	if c.ReadIndexLeaseBased && c.CheckQuorumOff {
		add("node: ReadIndexLeaseBased needs CheckQuorum: a leader that does not step down when cut off would answer reads from a lease it lost")
	}
	return errors.Join(errs...)
}

// leaseTTLMinSeconds is etcd's minimum lease TTL: 1.5 election timeouts,
// rounded up to whole seconds, so a lease survives a leader election.
func (c *Config) leaseTTLMinSeconds() int64 {
	d := time.Duration(c.ElectionTicks) * c.TickInterval * 3 / 2
	return int64((d + time.Second - 1) / time.Second)
}

func (c *Config) electionTimeout() time.Duration {
	return time.Duration(c.ElectionTicks) * c.TickInterval
}
