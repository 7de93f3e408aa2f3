// Package sim is the seeded, single-goroutine world a simulated kvd cluster
// lives in: a virtual clock, an event queue, a simulated network and
// simulated disks, plus a trace whose hash fingerprints a run.
//
// Everything is a deterministic function of the seed handed to New. The
// same seed replays the same run bit for bit, which is what makes a failing
// seed worth reporting: kvsim replays it on a laptop and shrinks it.
//
// # Time
//
// Virtual time starts at Options.Epoch and moves only when the event loop
// pops an event scheduled later than now. Nothing sleeps; an hour of
// simulated quiet costs one heap pop. Events are ordered by (virtual time,
// sequence number), so two events due at the same instant run in the order
// they were scheduled.
//
// # Randomness
//
// World.Rand derives an independent ChaCha8 stream per component name from
// the seed and a hash of the name, so adding a component (a new fault kind,
// another client) never reshuffles the streams of the others.
//
// go.etcd.io/raft v3.7.0 draws its randomized election timeout from the
// package variable crypto/rand.Reader, outside any seam we control.
// InstallCryptoRand replaces that variable with a seeded stream for the
// duration of a run; hence one simulation per process at a time.
//
// # Faults
//
// Network faults (loss, duplication, reordering, partitions, one-way links)
// and disk faults (lost unsynced data, torn tails, EIO, ENOSPC, bit flips,
// slow operations) are injected by the caller — the nemesis — at virtual
// times of its choosing. Every delivery, drop and fault is traced.
//
// The network carries datagrams; what kvd runs over TCP keeps TCP's
// guarantees where the application depends on them. A member's output
// leaves in the order its rounds produced it (a slow fsync holds back the
// rounds after it, as kvd's loop does). A watch stream's responses are
// numbered per connection and reassembled by the client: in order, once,
// and a lost one stalls the stream rather than leaving a hole, until the
// client opens a new stream (Client.ReopenWatchStream).
//
// # Determinism rules for this package
//
// The same rules as the deterministic core: no goroutines, channels, select,
// wall clock or global randomness, and no map iteration whose order can reach
// the trace, a random draw or a delivered message — keys are sorted first.
package sim
