package realdriver

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// Member is one member the loop can talk to: its id (what Calls and watch
// responses are labelled with, and what IDs returns) and its client
// address.
type Member struct {
	ID uint64
	// Addr is the member's client endpoint, host:port (no scheme).
	Addr string
}

// Options configures a Loop.
type Options struct {
	// Members are the cluster's members, in the order IDs returns them
	// and sessions visit them.
	Members []Member
	// Up reports the members running now, in Members order; nil: all.
	Up func() []uint64
	// FaultWindows reports the faults applied so far; nil: none.
	FaultWindows func() []driver.FaultWindow
	// DialTimeout bounds one connection attempt to a member (the rest of
	// a call waits for the next attempt, up to the call's timeout);
	// default DialTimeoutDefault.
	DialTimeout time.Duration
	// Epoch is when the run began; zero: when New was called.
	Epoch time.Time
	// Logger receives the loop's warnings; nil: discarded.
	Logger *slog.Logger
	// SerializableReads sends every Range a session issues as a
	// serializable read (answered from the member's own store, no raft
	// round), as clientv3's WithSerializable does: a client-side switch
	// that lets a stale read through, to prove the checkers catch it.
	SerializableReads bool
	// Admin is the user the inspection calls (Revision, LocalRange,
	// HashKV) authenticate as once a member refuses them for want of a
	// token, i.e. once a workload has turned auth on; nil: they go
	// without one. Sessions never use it: a workload's sessions
	// authenticate themselves.
	Admin *AdminAuth
}

// Limits. Each is far above what a workload needs; reaching one means a
// runaway workload, and the loop panics rather than grow without bound.
const (
	// DialTimeoutDefault is Options.DialTimeout when left zero.
	DialTimeoutDefault = 2 * time.Second
	// MembersMax bounds Options.Members.
	MembersMax = 64
	// SessionsMax bounds the sessions one loop opens.
	SessionsMax = 1024
	// PendingCallsMax bounds the calls in flight on one loop (watch
	// creates included).
	PendingCallsMax = 1 << 14
	// TimersMax bounds the timers waiting on one loop.
	TimersMax = 1 << 16
	// CompletionsMax is the capacity of the channel completions wait in
	// for the loop; a goroutine whose completion finds it full waits (a
	// watch stream's reader then stops reading, which holds the stream
	// back rather than buffering it here).
	CompletionsMax = 1024
	// WatchCreatesMax bounds the unanswered watch creates on one stream.
	WatchCreatesMax = 256
	// InspectTimeout bounds each of the member inspection calls
	// (Revision, LocalRange, HashKV), which run synchronously.
	InspectTimeout = 2 * time.Second
	// CloseWaitMax bounds how long Close waits for the call goroutines
	// to return once they are canceled.
	CloseWaitMax = 5 * time.Second
	// reconnectDelayMax caps gRPC's reconnect backoff (default 120 s): a
	// member that was killed and restarted must be reachable again within
	// about a second, not minutes later.
	reconnectDelayMax = time.Second
)

// sessionIDBase is where session ids start: far above any member id a
// test or the simulator uses, so the two never read alike in a trace.
const sessionIDBase = 1 << 32

// validate reports every problem with o.
func (o *Options) validate() error {
	var errs []error
	if len(o.Members) == 0 || len(o.Members) > MembersMax {
		errs = append(errs, fmt.Errorf("realdriver: %d members, want 1 to %d", len(o.Members), MembersMax))
	}
	seen := map[uint64]bool{}
	for i, m := range o.Members {
		if m.ID == 0 {
			errs = append(errs, fmt.Errorf("realdriver: member %d (%s) has id 0", i, m.Addr))
		}
		if seen[m.ID] {
			errs = append(errs, fmt.Errorf("realdriver: member id %d given twice", m.ID))
		}
		seen[m.ID] = true
		if _, _, err := net.SplitHostPort(m.Addr); err != nil {
			errs = append(errs, fmt.Errorf("realdriver: member %d address %q is not host:port: %w", m.ID, m.Addr, err))
		}
	}
	if o.Admin != nil && (o.Admin.User == "" || o.Admin.Password == "") {
		errs = append(errs, fmt.Errorf("realdriver: Admin user %q needs a name and a password", o.Admin.User))
	}
	if o.DialTimeout < 0 {
		errs = append(errs, fmt.Errorf("realdriver: DialTimeout %v is negative", o.DialTimeout))
	}
	return errors.Join(errs...)
}

// ensureDefaults fills what o leaves zero.
func (o *Options) ensureDefaults() {
	if o.DialTimeout == 0 {
		o.DialTimeout = DialTimeoutDefault
	}
	if o.Epoch.IsZero() {
		o.Epoch = time.Now()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}
