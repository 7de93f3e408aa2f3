package sim

import (
	"errors"
	"fmt"
	"time"
)

// Options configures a World. The zero value is usable: EnsureDefaults fills
// every zero field with its documented default.
type Options struct {
	// Epoch is the virtual time at which a run starts.
	// Default: 2000-01-01T00:00:00Z, so traces never show the host's date.
	Epoch time.Time
	// EventsQueuedMax bounds the pending events; exceeding it panics, as it
	// means something schedules without bound. Default: 1<<20.
	EventsQueuedMax int
	// EventsAtOneInstantMax bounds how many events may run without virtual
	// time advancing; exceeding it panics, as it means a livelock (an event
	// that keeps rescheduling itself at now). Default: 1<<20.
	EventsAtOneInstantMax int
	// TraceRecordsKeptMax bounds how many of the newest trace records are
	// kept in memory for TraceLines and WriteTrace. The trace hash covers
	// every record regardless. Default: 1<<16.
	TraceRecordsKeptMax int
	// Network configures World.Network.
	Network NetworkOptions
	// Disk is the configuration of every disk made by World.NewDisk.
	Disk DiskOptions
}

// NetworkOptions configures the simulated network.
type NetworkOptions struct {
	// Link is the behaviour of every directed link not given its own
	// options with Network.SetLink.
	Link LinkOptions
	// MessagesInFlightMax bounds the messages sent but not yet delivered or
	// dropped; exceeding it panics. Default: 1<<20.
	MessagesInFlightMax int
	// Describe renders a message for the trace. It must be a pure function
	// of the message's content (never a pointer or a map address).
	// Default: the message's Go type, "%T". Protobuf's String is not a good
	// choice: its output is deliberately unstable across binaries.
	Describe func(msg any) string
}

// LinkOptions is the behaviour of one directed link.
type LinkOptions struct {
	// LatencyBase is the least one-way delay. Default: 1ms.
	LatencyBase time.Duration
	// LatencyJitter is the width of the uniform random delay added to
	// LatencyBase. Default: 0 (none).
	LatencyJitter time.Duration
	// DropProbability is the chance a message is lost. Default: 0.
	DropProbability float64
	// DuplicateProbability is the chance a message is delivered twice, the
	// copy with its own latency. Default: 0.
	DuplicateProbability float64
	// ReorderProbability is the chance a message is held back by an extra
	// uniform delay in [0, ReorderDelayMax) and freed from the link's FIFO
	// order, so later messages can overtake it. Default: 0.
	ReorderProbability float64
	// ReorderDelayMax bounds the extra delay of a reordered message.
	// Default: 10ms.
	ReorderDelayMax time.Duration
	// BandwidthBytesPerSecond adds sizeBytes/bandwidth of transmission delay
	// to each message. Default: 0 (unlimited).
	BandwidthBytesPerSecond int64
}

// DiskOptions configures a simulated disk.
type DiskOptions struct {
	// CapacityBytes is the size of the disk; a write beyond it fails with
	// ENOSPC. Default: 1 GiB.
	CapacityBytes int64
	// OpCostBase is the least virtual cost of an operation other than a
	// sync. Default: 10µs.
	OpCostBase time.Duration
	// OpCostJitter is the width of the uniform random cost added to
	// OpCostBase. Default: 0 (none).
	OpCostJitter time.Duration
	// SyncCostBase is the least virtual cost of File.Sync and SyncDir.
	// Default: 1ms.
	SyncCostBase time.Duration
	// SyncCostJitter is the width of the uniform random cost added to
	// SyncCostBase. Default: 0 (none).
	SyncCostJitter time.Duration
	// TornWrites makes Crash keep a random prefix of each file's unsynced
	// tail instead of dropping the whole tail. Default: false.
	TornWrites bool
}

// DefaultEpoch is the virtual time at which a run starts unless
// Options.Epoch says otherwise.
var DefaultEpoch = time.Date(2000, time.January, 1, 0, 0, 0, 0, time.UTC)

// EnsureDefaults fills every zero field with its default and returns o.
func (o *Options) EnsureDefaults() *Options {
	if o.Epoch.IsZero() {
		o.Epoch = DefaultEpoch
	}
	if o.EventsQueuedMax == 0 {
		o.EventsQueuedMax = 1 << 20
	}
	if o.EventsAtOneInstantMax == 0 {
		o.EventsAtOneInstantMax = 1 << 20
	}
	if o.TraceRecordsKeptMax == 0 {
		o.TraceRecordsKeptMax = 1 << 16
	}
	o.Network.EnsureDefaults()
	o.Disk.EnsureDefaults()
	return o
}

// Validate reports every problem with o at once.
func (o *Options) Validate() error {
	var errs []error
	if o.EventsQueuedMax <= 0 {
		errs = append(errs, fmt.Errorf("sim: EventsQueuedMax %d: must be positive", o.EventsQueuedMax))
	}
	if o.EventsAtOneInstantMax <= 0 {
		errs = append(errs, fmt.Errorf("sim: EventsAtOneInstantMax %d: must be positive", o.EventsAtOneInstantMax))
	}
	if o.TraceRecordsKeptMax <= 0 {
		errs = append(errs, fmt.Errorf("sim: TraceRecordsKeptMax %d: must be positive", o.TraceRecordsKeptMax))
	}
	if err := o.Network.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sim: Network: %w", err))
	}
	if err := o.Disk.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sim: Disk: %w", err))
	}
	return errors.Join(errs...)
}

// EnsureDefaults fills every zero field with its default and returns o.
func (o *NetworkOptions) EnsureDefaults() *NetworkOptions {
	o.Link.EnsureDefaults()
	if o.MessagesInFlightMax == 0 {
		o.MessagesInFlightMax = 1 << 20
	}
	if o.Describe == nil {
		o.Describe = describeType
	}
	return o
}

func describeType(msg any) string { return fmt.Sprintf("%T", msg) }

// Validate reports every problem with o at once.
func (o *NetworkOptions) Validate() error {
	var errs []error
	if err := o.Link.Validate(); err != nil {
		errs = append(errs, fmt.Errorf("sim: Link: %w", err))
	}
	if o.MessagesInFlightMax <= 0 {
		errs = append(errs, fmt.Errorf("sim: MessagesInFlightMax %d: must be positive", o.MessagesInFlightMax))
	}
	if o.Describe == nil {
		errs = append(errs, errors.New("sim: Describe: must not be nil"))
	}
	return errors.Join(errs...)
}

// EnsureDefaults fills every zero field with its default and returns o.
func (o *LinkOptions) EnsureDefaults() *LinkOptions {
	if o.LatencyBase == 0 {
		o.LatencyBase = time.Millisecond
	}
	if o.ReorderDelayMax == 0 {
		o.ReorderDelayMax = 10 * time.Millisecond
	}
	return o
}

// Validate reports every problem with o at once.
func (o *LinkOptions) Validate() error {
	var errs []error
	nonNegative := func(name string, d time.Duration) {
		if d < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", name, d))
		}
	}
	probability := func(name string, p float64) {
		if !(p >= 0 && p <= 1) { // written so that NaN fails too
			errs = append(errs, fmt.Errorf("%s %v: must be in [0, 1]", name, p))
		}
	}
	nonNegative("LatencyBase", o.LatencyBase)
	nonNegative("LatencyJitter", o.LatencyJitter)
	nonNegative("ReorderDelayMax", o.ReorderDelayMax)
	probability("DropProbability", o.DropProbability)
	probability("DuplicateProbability", o.DuplicateProbability)
	probability("ReorderProbability", o.ReorderProbability)
	if o.BandwidthBytesPerSecond < 0 {
		errs = append(errs, fmt.Errorf("sim: BandwidthBytesPerSecond %d: must not be negative", o.BandwidthBytesPerSecond))
	}
	return errors.Join(errs...)
}

// EnsureDefaults fills every zero field with its default and returns o.
func (o *DiskOptions) EnsureDefaults() *DiskOptions {
	if o.CapacityBytes == 0 {
		o.CapacityBytes = 1 << 30
	}
	if o.OpCostBase == 0 {
		o.OpCostBase = 10 * time.Microsecond
	}
	if o.SyncCostBase == 0 {
		o.SyncCostBase = time.Millisecond
	}
	return o
}

// Validate reports every problem with o at once.
func (o *DiskOptions) Validate() error {
	var errs []error
	if o.CapacityBytes <= 0 {
		errs = append(errs, fmt.Errorf("sim: CapacityBytes %d: must be positive", o.CapacityBytes))
	}
	for _, c := range []struct {
		name string
		d    time.Duration
	}{
		{"OpCostBase", o.OpCostBase},
		{"OpCostJitter", o.OpCostJitter},
		{"SyncCostBase", o.SyncCostBase},
		{"SyncCostJitter", o.SyncCostJitter},
	} {
		if c.d < 0 {
			errs = append(errs, fmt.Errorf("%s %v: must not be negative", c.name, c.d))
		}
	}
	return errors.Join(errs...)
}
