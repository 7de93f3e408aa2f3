package api

import (
	"crypto/tls"
	"errors"
	"fmt"
	"golang.org/x/crypto/bcrypt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvdlabs/kvd/core/node"
)

// etcd's defaults for the bounds this package enforces.
const (
	// RequestBytesMaxDefault is etcd's --max-request-bytes default (1.5 MiB).
	RequestBytesMaxDefault = 1536 * 1024
	// TxnOpsMaxDefault is etcd's --max-txn-ops default.
	TxnOpsMaxDefault = 128
	// QuotaBackendBytesDefault is etcd's --quota-backend-bytes default (2 GiB).
	QuotaBackendBytesDefault = 2 << 30
	// StopSnapshotTimeoutDefault is node's (kvd's own, not etcd's).
	StopSnapshotTimeoutDefault = node.StopSnapshotTimeoutDefault
	// grpcOverheadBytes is what etcd adds to --max-request-bytes for gRPC's
	// own receive limit, so an oversize request reaches the member and gets
	// etcd's request-too-large error rather than a transport error.
	grpcOverheadBytes = 512 * 1024
	// grpcStreamWorkers is how many goroutines gRPC keeps to run calls.
	// Without them every call starts on a fresh goroutine whose stack grows
	// (copied, frame by frame) while it decodes the request: 4-7% of a
	// member's CPU under a read load. Calls wait in the member loop, so the
	// pool is sized for many in flight; past it gRPC starts goroutines.
	grpcStreamWorkers = 256
)

// Config wires a Server. Zero fields take the documented defaults
// (EnsureDefaults); Validate reports every problem at once.
type Config struct {
	// Node configures the member; Node.RequestBytesMax and Node.TxnOpsMax
	// are etcd's --max-request-bytes and --max-txn-ops (defaults 1.5 MiB, 128).
	Node node.Config
	// Transport carries raft messages to and from the other members;
	// required. The Server sets its peers from the membership and closes
	// nothing of it.
	Transport PeerLinks
	// Self describes this member (name, peer and client URLs); it becomes the
	// member's context at bootstrap.
	Self MemberInfo
	// Bootstrap maps every initial member id to its info; used only when the
	// data directory is new (the node then bootstraps Node.Peers).
	Bootstrap map[uint64]MemberInfo

	// JWT, when set, makes clients' tokens JSON web tokens instead of
	// simple tokens (etcd's --auth-token jwt,…).
	JWT *JWTOptions
	// BcryptCost is the cost of the password hashes made for users
	// (etcd's --bcrypt-cost); default 10 (bcrypt.DefaultCost).
	BcryptCost int

	// QuotaBackendBytes raises the NOSPACE alarm once the data directory
	// grows past it; default 2 GiB (etcd's --quota-backend-bytes). Negative
	// disables the quota.
	QuotaBackendBytes int64
	// DataDir is the directory whose size the quota judges; default Node.Dir
	// (relative to the working directory, as disk.OSFS{} resolves it).
	DataDir string

	// SubmitQueueMax bounds client requests waiting for the member loop;
	// default 4096. A full queue makes handlers wait (their context bounds it).
	SubmitQueueMax int
	// BatchMax bounds the inputs the loop drains before one Process; default 1024.
	BatchMax int
	// WatchStreamQueueMax bounds responses queued for one watch stream;
	// default 4096. A stream whose client does not read is cut off past it.
	WatchStreamQueueMax int
	// WatchProgressNotifyInterval is how often watchers that asked for
	// progress notifications get one; default 10 minutes, as etcd.
	WatchProgressNotifyInterval time.Duration
	// LeaseForwardTimeout bounds one keepalive or TimeToLive forwarded to the
	// leader; default 5 s.
	LeaseForwardTimeout time.Duration
	// CorruptCheckInterval is how often the leader compares every member's
	// HashKV and raises CORRUPT for one that differs (etcd's
	// --corrupt-check-time); default 0, off, as etcd.
	CorruptCheckInterval time.Duration
	// StopSnapshotTimeout bounds how long a graceful stop (Run's context
	// done) waits for the state snapshot node.PrepareStop asks for, so
	// that the restart restores it instead of replaying the log; past it
	// the member stops without. Default 10 s; negative: never wait. A
	// leader's handoff in the same stop has its own bound (node).
	StopSnapshotTimeout time.Duration

	// ClientTLS returns the configuration for dialing other members' https
	// client URLs: forwarded lease calls and MemberPromote, and the
	// corruption checks' HashKV. It is asked at every connection, so a
	// rotated certificate or CA applies to the next one. Nil, or a nil
	// result: Go's defaults (system roots, no client certificate).
	ClientTLS func() (*tls.Config, error)

	// EnablePprof serves Go's /debug/pprof on the client and metrics
	// ports, as etcd's --enable-pprof; default off.
	EnablePprof bool

	// Registry receives the member's Prometheus metrics; default a new one.
	Registry *prometheus.Registry
	// Logger receives structured logs; default discards.
	Logger *slog.Logger
}

// EnsureDefaults fills every zero field with its documented default.
func (c *Config) EnsureDefaults() {
	if c.BcryptCost == 0 {
		c.BcryptCost = bcrypt.DefaultCost
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Node.Logger == nil {
		c.Node.Logger = c.Logger
	}
	if c.Node.RequestBytesMax == 0 {
		c.Node.RequestBytesMax = RequestBytesMaxDefault
	}
	if c.Node.TxnOpsMax == 0 {
		c.Node.TxnOpsMax = TxnOpsMaxDefault
	}
	c.Node.EnsureDefaults()
	if c.QuotaBackendBytes == 0 {
		c.QuotaBackendBytes = QuotaBackendBytesDefault
	}
	if c.DataDir == "" {
		c.DataDir = c.Node.Dir
	}
	if c.SubmitQueueMax == 0 {
		c.SubmitQueueMax = 4096
	}
	if c.BatchMax == 0 {
		c.BatchMax = 1024
	}
	if c.StopSnapshotTimeout == 0 {
		c.StopSnapshotTimeout = StopSnapshotTimeoutDefault
	}
	if c.WatchStreamQueueMax == 0 {
		c.WatchStreamQueueMax = 4096
	}
	if c.WatchProgressNotifyInterval == 0 {
		c.WatchProgressNotifyInterval = 10 * time.Minute
	}
	if c.LeaseForwardTimeout == 0 {
		c.LeaseForwardTimeout = 5 * time.Second
	}
	if c.Registry == nil {
		c.Registry = prometheus.NewRegistry()
	}
}

// Validate reports every problem with the configuration at once.
func (c *Config) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if err := c.Node.Validate(); err != nil {
		errs = append(errs, err)
	}
	if c.Transport == nil {
		add("api: Transport is required")
	}
	if c.Self.Name == "" {
		add("api: Self.Name is required")
	}
	if len(c.Self.ClientURLs) == 0 {
		add("api: Self.ClientURLs is required (lease forwarding and MemberList use it)")
	}
	for _, id := range c.Node.Peers {
		if _, ok := c.Bootstrap[id]; !ok && id != c.Node.ID {
			add("api: initial member %x has no Bootstrap info", id)
		}
	}
	if c.SubmitQueueMax <= 0 {
		add("api: SubmitQueueMax %d must be positive", c.SubmitQueueMax)
	}
	if c.BatchMax <= 0 {
		add("api: BatchMax %d must be positive", c.BatchMax)
	}
	if c.WatchStreamQueueMax <= 0 {
		add("api: WatchStreamQueueMax %d must be positive", c.WatchStreamQueueMax)
	}
	if c.WatchProgressNotifyInterval <= 0 {
		add("api: WatchProgressNotifyInterval %v must be positive", c.WatchProgressNotifyInterval)
	}
	if c.CorruptCheckInterval < 0 {
		add("api: CorruptCheckInterval %v must not be negative (0: off)", c.CorruptCheckInterval)
	}
	if c.LeaseForwardTimeout <= 0 {
		add("api: LeaseForwardTimeout %v must be positive", c.LeaseForwardTimeout)
	}
	return errors.Join(errs...)
}
