package lease

import (
	"errors"
	"fmt"

	"github.com/kvdlabs/kvd/core/clock"
)

// MaxLeaseTTLSeconds is etcd's MaxLeaseTTL: the largest TTL any lessor
// accepts. It also keeps TTL arithmetic in time.Duration from overflowing.
const MaxLeaseTTLSeconds = 9_000_000_000

// Defaults applied by Options.EnsureDefaults.
const (
	// DefaultTTLMinSeconds is etcd's minimum lease TTL for its default
	// timing: ceil(1.5 * election timeout) with a 100 ms heartbeat and 10
	// election ticks, i.e. ceil(1.5 s) = 2 s. A shorter lease could expire
	// during a leader election, before anyone could keep it alive.
	DefaultTTLMinSeconds = 2
	// DefaultTTLMaxSeconds is etcd's MaxLeaseTTL.
	DefaultTTLMaxSeconds = MaxLeaseTTLSeconds
	// DefaultLeasesMax bounds the number of live leases.
	DefaultLeasesMax = 1 << 20
	// LeasesMaxLimit is the largest LeasesMax accepted; it keeps every
	// count in the snapshot within its 32-bit field.
	LeasesMaxLimit = 1 << 30
)

// KeyDeleter deletes keys in one write transaction, i.e. at one revision.
// *mvcc.Store satisfies it through its DeleteKeys method.
type KeyDeleter interface {
	// DeleteKeys deletes those of keys that exist and returns the store
	// revision after the deletion.
	DeleteKeys(keys [][]byte) int64
}

// Options configures a Lessor. The zero value, plus a Clock, is valid after
// EnsureDefaults.
type Options struct {
	// Clock is the only source of time for expiry. Required. It must be
	// monotonic, as etcd's lessor measures on Go's monotonic clock: a step
	// back keeps abandoned leases alive for the step, a step forward
	// revokes leases that are being kept alive. core/node passes its tick
	// clock.
	Clock clock.Clock
	// Deleter deletes a revoked lease's keys. It is required before Revoke
	// is used on a lease with attached keys and may be set later with
	// SetDeleter, because the store and the lessor point at each other.
	Deleter KeyDeleter
	// TTLMinSeconds is the shortest TTL granted; a smaller requested TTL
	// is raised to it, as etcd does. Default DefaultTTLMinSeconds.
	TTLMinSeconds int64
	// TTLMaxSeconds is the longest TTL granted; a larger request fails
	// with rpctypes.ErrGRPCLeaseTTLTooLarge. Default DefaultTTLMaxSeconds,
	// and it may not exceed MaxLeaseTTLSeconds.
	TTLMaxSeconds int64
	// LeasesMax bounds the number of live leases; beyond it Grant fails
	// with an error wrapping ErrLeasesMax. Default DefaultLeasesMax.
	LeasesMax int
}

// EnsureDefaults fills every unset (zero) field that has a default.
func (o *Options) EnsureDefaults() {
	if o.TTLMinSeconds == 0 {
		o.TTLMinSeconds = DefaultTTLMinSeconds
	}
	if o.TTLMaxSeconds == 0 {
		o.TTLMaxSeconds = DefaultTTLMaxSeconds
	}
	if o.LeasesMax == 0 {
		o.LeasesMax = DefaultLeasesMax
	}
}

// Validate reports every problem with the options at once.
func (o *Options) Validate() error {
	var errs []error
	if o.Clock == nil {
		errs = append(errs, errors.New("lease: Options.Clock is required"))
	}
	if o.TTLMinSeconds < 1 {
		errs = append(errs, fmt.Errorf("lease: Options.TTLMinSeconds is %d, want >= 1", o.TTLMinSeconds))
	}
	if o.TTLMaxSeconds < 1 || o.TTLMaxSeconds > MaxLeaseTTLSeconds {
		errs = append(errs, fmt.Errorf("lease: Options.TTLMaxSeconds is %d, want in [1, %d]",
			o.TTLMaxSeconds, int64(MaxLeaseTTLSeconds)))
	}
	if o.TTLMinSeconds > o.TTLMaxSeconds {
		errs = append(errs, fmt.Errorf("lease: Options.TTLMinSeconds (%d) exceeds TTLMaxSeconds (%d)",
			o.TTLMinSeconds, o.TTLMaxSeconds))
	}
	if o.LeasesMax < 1 || o.LeasesMax > LeasesMaxLimit {
		errs = append(errs, fmt.Errorf("lease: Options.LeasesMax is %d, want in [1, %d]", o.LeasesMax, LeasesMaxLimit))
	}
	return errors.Join(errs...)
}
