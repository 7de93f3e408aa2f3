package sim

import (
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/kvdlabs/kvd/core/clock"
)

// World is one simulated run: its clock, event queue, random streams,
// network, disks and trace. A World is used from one goroutine only.
type World struct {
	seed uint64
	opts Options

	// nowElapsed is the virtual time elapsed since opts.Epoch.
	nowElapsed time.Duration
	queue      eventQueue
	// eventsAtNow counts events run since virtual time last advanced.
	eventsAtNow int

	// streamNames holds every name handed to Rand, to catch two
	// components that would otherwise draw identical numbers.
	streamNames map[string]struct{}

	trace   traceLog
	network *Network
	disks   map[string]*Disk
	// traceScratch is Trace's buffer for rendering a record's text.
	traceScratch []byte
}

// New returns a World whose every random choice derives from seed.
// It panics if opts (after EnsureDefaults) are invalid: options are
// written by the programmer, so a bad one is a bug, not an input error.
func New(seed uint64, opts Options) *World {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		panic(fmt.Sprintf("sim.New: invalid options: %v", err))
	}
	w := &World{
		seed:        seed,
		opts:        opts,
		streamNames: make(map[string]struct{}),
		disks:       make(map[string]*Disk),
	}
	w.trace.init(opts.TraceRecordsKeptMax)
	w.network = newNetwork(w, opts.Network)
	return w
}

// Seed returns the seed the World was made with.
func (w *World) Seed() uint64 { return w.seed }

// Options returns the World's options, defaults filled in.
func (w *World) Options() Options { return w.opts }

// Now returns the current virtual time.
func (w *World) Now() time.Time { return w.opts.Epoch.Add(w.nowElapsed) }

// Elapsed returns the virtual time elapsed since the epoch.
func (w *World) Elapsed() time.Duration { return w.nowElapsed }

// Clock returns the World's virtual clock for core code.
func (w *World) Clock() clock.Clock { return worldClock{w} }

type worldClock struct{ w *World }

func (c worldClock) Now() time.Time { return c.w.Now() }

// Rand returns the random stream of the component called name: ChaCha8
// keyed by the seed and a hash of name. Streams of different names are
// independent, so a new component does not disturb the others.
//
// Each name may be asked for once per World; a second request panics,
// because two components drawing the same numbers would be silently
// correlated. Keep the returned *rand.Rand for the component's lifetime.
// Names starting with "sim/" are the package's own (network, disks).
func (w *World) Rand(name string) *rand.Rand {
	if _, ok := w.streamNames[name]; ok {
		panic(fmt.Sprintf("sim: random stream %q requested twice", name))
	}
	w.streamNames[name] = struct{}{}
	return rand.New(rand.NewChaCha8(streamKey(w.seed, name)))
}

// streamKey derives a ChaCha8 key from a seed and a stream name. The domain
// tag keeps these keys apart from any other use of sha256 on the seed.
func streamKey(seed uint64, name string) [32]byte {
	h := sha256.New()
	h.Write([]byte("kvdlabs/kvd/sim stream v1\x00"))
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	h.Write(b[:])
	h.Write([]byte(name))
	var key [32]byte
	h.Sum(key[:0])
	return key
}

// Network returns the World's simulated network.
func (w *World) Network() *Network { return w.network }

// NewDisk returns a new empty disk called name (one per member), with the
// World's disk options. Names must be unique within a World.
func (w *World) NewDisk(name string) *Disk {
	if _, ok := w.disks[name]; ok {
		panic(fmt.Sprintf("sim: disk %q made twice", name))
	}
	d := newDisk(w, name, w.opts.Disk)
	w.disks[name] = d
	return d
}
