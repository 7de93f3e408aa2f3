package transport

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Options configure a Transport. Zero fields take the documented defaults
// (EnsureDefaults); Validate reports every problem at once.
type Options struct {
	// ID is the local member's raft id; required, non-zero.
	ID uint64
	// ClusterID is checked on every incoming hello, so members of another
	// cluster (a stale peer URL) are refused; required, non-zero.
	ClusterID uint64
	// Logger receives connection events; default discards.
	Logger *slog.Logger
	// Members, if set, answers a member joining a running cluster that
	// asks for the membership (FetchMembers), as etcd's peer /members
	// does; nil refuses such queries. Called from connection goroutines.
	Members func() []byte
	// HashKV, if set, answers a peer's corruption check: this member's
	// HashKV at a revision, encoded (an etcdserverpb.HashKVResponse), or
	// the error that kept it from answering. Only members of the same
	// cluster are answered. Called from connection goroutines.
	HashKV func(rev int64) ([]byte, error)
	// Metrics, if set, is told of the traffic with each peer (bytes sent
	// and received, messages dropped, stream connections up and down) and
	// of each peer's round trip, which the transport then measures every
	// ProbeInterval over a probe connection of its own; nil counts nothing
	// and probes no one. Called from connection goroutines: it must not
	// block.
	Metrics Metrics

	// ServerTLS configures the handshake on listeners passed to ServeTLS
	// (https peer URLs); nil refuses ServeTLS. Its certificate callbacks
	// are where rotation happens: the transport reads no files.
	ServerTLS *tls.Config
	// ClientTLS returns the configuration for dialing peers whose URLs are
	// https; it is called for every connection, so a rotated certificate
	// or CA is used by the next one. Nil, or a nil result, dials with Go's
	// defaults: the system roots and no client certificate.
	ClientTLS func() (*tls.Config, error)

	// QueueMessagesMax bounds the outgoing queue of one peer; default 4096.
	QueueMessagesMax int
	// ReceiveQueueMessagesMax bounds messages received and not yet taken by
	// the member loop; default 4096. Stream messages beyond it are dropped.
	ReceiveQueueMessagesMax int
	// FrameBytesMax bounds one frame (a snapshot included); default 512 MiB.
	FrameBytesMax uint64
	// SnapshotSendsMax bounds snapshots being sent at once; default 4.
	SnapshotSendsMax int
	// ProbeInterval is how often each peer's round trip is measured when
	// Metrics is set; default 5 s (etcd's prober asks every 4 s).
	ProbeInterval time.Duration

	// DialTimeout bounds one connection attempt; default 1 s.
	DialTimeout time.Duration
	// HandshakeTimeout bounds one TLS handshake, either side; default 5 s.
	HandshakeTimeout time.Duration
	// WriteTimeout bounds one frame write on a stream; default 5 s.
	WriteTimeout time.Duration
	// SnapshotTimeout bounds sending one snapshot including its ack; default 60 s.
	SnapshotTimeout time.Duration
	// BackoffMin and BackoffMax bound the wait between reconnects to one
	// peer, doubling from min to max; defaults 10 ms and 1 s.
	BackoffMin time.Duration
	BackoffMax time.Duration
}

// EnsureDefaults fills every zero field with its documented default.
func (o *Options) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.QueueMessagesMax == 0 {
		o.QueueMessagesMax = 4096
	}
	if o.ReceiveQueueMessagesMax == 0 {
		o.ReceiveQueueMessagesMax = 4096
	}
	if o.FrameBytesMax == 0 {
		o.FrameBytesMax = 512 << 20
	}
	if o.SnapshotSendsMax == 0 {
		o.SnapshotSendsMax = 4
	}
	if o.ProbeInterval == 0 {
		o.ProbeInterval = 5 * time.Second
	}
	if o.DialTimeout == 0 {
		o.DialTimeout = time.Second
	}
	if o.HandshakeTimeout == 0 {
		o.HandshakeTimeout = 5 * time.Second
	}
	if o.WriteTimeout == 0 {
		o.WriteTimeout = 5 * time.Second
	}
	if o.SnapshotTimeout == 0 {
		o.SnapshotTimeout = time.Minute
	}
	if o.BackoffMin == 0 {
		o.BackoffMin = 10 * time.Millisecond
	}
	if o.BackoffMax == 0 {
		o.BackoffMax = time.Second
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	add := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if o.ID == 0 {
		add("transport: ID must be non-zero")
	}
	if o.ClusterID == 0 {
		add("transport: ClusterID must be non-zero")
	}
	if o.QueueMessagesMax <= 0 {
		add("transport: QueueMessagesMax %d must be positive", o.QueueMessagesMax)
	}
	if o.ReceiveQueueMessagesMax <= 0 {
		add("transport: ReceiveQueueMessagesMax %d must be positive", o.ReceiveQueueMessagesMax)
	}
	if o.FrameBytesMax < 1<<10 {
		add("transport: FrameBytesMax %d must be at least 1 KiB", o.FrameBytesMax)
	}
	if o.SnapshotSendsMax <= 0 {
		add("transport: SnapshotSendsMax %d must be positive", o.SnapshotSendsMax)
	}
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"ProbeInterval", o.ProbeInterval}, {"DialTimeout", o.DialTimeout}, {"HandshakeTimeout", o.HandshakeTimeout}, {"WriteTimeout", o.WriteTimeout},
		{"SnapshotTimeout", o.SnapshotTimeout}, {"BackoffMin", o.BackoffMin}, {"BackoffMax", o.BackoffMax},
	} {
		if f.d <= 0 {
			add("transport: %s %v must be positive", f.name, f.d)
		}
	}
	if o.BackoffMax < o.BackoffMin {
		add("transport: BackoffMax %v below BackoffMin %v", o.BackoffMax, o.BackoffMin)
	}
	return errors.Join(errs...)
}
