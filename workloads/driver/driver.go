// Package driver is the seam between the workloads and a cluster: the
// small interface a workload drives any etcd-compatible cluster through,
// simulated or real, and the Call it gets back.
//
// A workload is callbacks on one event loop. It opens sessions, issues
// requests whose completions come back as callbacks, and schedules its
// next step after a delay. The simulator runs those callbacks from its
// event queue in virtual time (package sim); the real-process driver runs
// them on one goroutine in wall-clock time, with each etcd call made in a
// goroutine of its own and its completion posted back to that loop
// (package realdriver). Either way callbacks never run concurrently, so
// workload code needs no locks and does not change between the two.
package driver

import (
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/protobuf/proto"
)

// Cluster is a running cluster as a workload sees it. Every method is
// called from the cluster's event loop, and every callback it takes runs
// there.
type Cluster interface {
	// Now is the loop's current time: virtual in simulation, the wall
	// clock on real processes.
	Now() time.Time
	// Epoch is when the run began; FaultWindows count from it.
	Epoch() time.Time
	// After runs fn on the loop once d has passed.
	After(d time.Duration, fn func())
	// NewSession opens a client session, pointed at a member chosen
	// round-robin over the sessions opened so far.
	NewSession(opts SessionOptions) Session
	// IDs are the members' ids, in order.
	IDs() []uint64
	// Up are the members running now, in IDs order.
	Up() []uint64
	// Revision is the revision member id has applied; false when it
	// cannot say (down, unreachable).
	Revision(id uint64) (int64, bool)
	// LocalRange answers req from member id's own store, without raft (a
	// serializable read pinned to it).
	LocalRange(id uint64, req *pb.RangeRequest) (*pb.RangeResponse, error)
	// HashKV is member id's KV hash at revision rev (0: its newest).
	HashKV(id uint64, rev int64) (*pb.HashKVResponse, error)
	// ProgressNotify has every live member send the progress
	// notifications of its watchers that asked for them, as a server's
	// own ticker does (a real member runs that ticker itself).
	ProgressNotify()
	// FaultWindows are the faults applied so far: kind, targets and when,
	// measured from Epoch.
	FaultWindows() []FaultWindow
	// CallsInFlight is how many calls issued through the cluster's
	// sessions await their completion; a call whose callback is running
	// has completed. Pacers read it to keep some call in flight.
	CallsInFlight() int
}

// Session is one client session: it talks to one member at a time and
// moves to the next when a call times out or the member cannot serve.
type Session interface {
	// ID names the session in Calls; unique in its cluster.
	ID() uint64
	// Do issues one etcd request (the InternalRaftRequest field that is
	// set says which); done gets the completed call.
	Do(req *pb.InternalRaftRequest, done func(Call))
	// KeepAlive renews a lease once through the session's member.
	KeepAlive(lease int64, done func(Call))
	// TimeToLive asks a lease's remaining TTL.
	TimeToLive(lease int64, done func(Call))
	// Watch creates a watcher on the session's watch stream to its
	// current member; done gets the call whose Response is the created
	// *pb.WatchResponse. Its responses arrive through OnWatch.
	Watch(req *pb.WatchCreateRequest, done func(Call))
	// OnWatch sets the receiver of the session's watch responses: per
	// member in order, each once, fragments joined, as clientv3 hands
	// them over.
	OnWatch(fn func(member uint64, resp *pb.WatchResponse))
	// CancelWatch asks the session's current watch stream to member to
	// cancel its watcher watchID (etcd's WatchCancelRequest). Nothing
	// answers the call itself: as in etcd, the acknowledgement is the
	// member's Canceled response naming watchID, which arrives through
	// OnWatch, and a member that knows no such watcher on that stream
	// sends nothing. A stream since abandoned (ReopenWatchStream) is not
	// asked.
	CancelWatch(member uint64, watchID int64)
	// ReopenWatchStream abandons the session's watch streams: their
	// responses are ignored from now on and the next Watch opens a new one.
	ReopenWatchStream()
	// SetToken sets the auth token sent with every later request ("" for
	// none).
	SetToken(token string)
	// Target is the member the session talks to now.
	Target() uint64
	// SetTarget points the session at a member.
	SetTarget(id uint64)
}

// SessionOptions configures a session.
type SessionOptions struct {
	// Timeout is how long a call waits for its answer; default 2 s.
	Timeout time.Duration
}

// TimeoutDefault is a session's call timeout when SessionOptions leaves it 0.
const TimeoutDefault = 2 * time.Second

// EnsureDefaults fills what o leaves zero.
func (o *SessionOptions) EnsureDefaults() {
	if o.Timeout == 0 {
		o.Timeout = TimeoutDefault
	}
}

// Call is one completed client call, as a checker sees it.
type Call struct {
	Client uint64
	Seq    uint64
	Member uint64
	// Request is what was asked: Req for node requests, else the lease or
	// watch fields of the description.
	Req       *pb.InternalRaftRequest
	KeepAlive int64
	// Invoke and Return are the loop's times.
	Invoke, Return time.Time
	Response       proto.Message
	Err            error
	// TimedOut: no answer within the session's timeout, or the connection
	// failed with the request possibly sent. For a write this is
	// indeterminate: it may still take effect later.
	TimedOut bool
}

// Indeterminate reports whether a write may or may not have taken effect:
// it timed out, or failed with an error that does not rule it out.
func (c Call) Indeterminate() bool {
	if c.TimedOut {
		return true
	}
	switch c.Err {
	case rpctypes.ErrGRPCLeaderChanged, rpctypes.ErrGRPCTimeout, rpctypes.ErrGRPCStopped:
		return true
	}
	return false
}

// RetryElsewhere reports errors that mean "this member cannot serve now":
// a session moves to its next member on them, as clientv3's balancer does.
func RetryElsewhere(err error) bool {
	switch err {
	case rpctypes.ErrGRPCNoLeader, rpctypes.ErrGRPCNotLeader, rpctypes.ErrGRPCLeaderChanged,
		rpctypes.ErrGRPCTimeout, rpctypes.ErrGRPCStopped:
		return true
	}
	return false
}

// FaultWindow is one fault as applied: its kind, the members it hit, and
// when it began and healed, measured from the run's Epoch.
type FaultWindow struct {
	Kind    string        `json:"kind"`
	Targets []uint64      `json:"targets"`
	From    time.Duration `json:"from_ns"`
	To      time.Duration `json:"to_ns"`
	// Note says what was not done as asked, if anything.
	Note string `json:"note,omitempty"`
}
