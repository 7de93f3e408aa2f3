// Package nemesis is kvd's fault catalogue: faults as data. A Schedule is
// a list of Faults ({at, kind, targets, params, until}) over a run of a
// simulated cluster. Schedules are generated from a seed, written to JSON,
// read back, edited by hand, checked against a fault budget, and shrunk
// when they make a run fail. Nothing here runs a fault: an executor in the
// simulator applies a schedule with one switch over Kind, reading the
// per-kind contract documented on each Kind constant and in KindInfo.
//
// # The catalogue
//
// Kinds cover partitions (halves, isolate the leader, bridge, ring,
// one-way), packet loss, duplication, delay and reordering, crashes (with
// or without losing unsynced writes), full-cluster restarts, disk faults (torn write, bit flip,
// EIO on write or sync, full disk, latency), clock jumps, skew and drift,
// pauses, leader transfer and membership change. Info(kind) tells code
// whether a kind lasts a window or is instantaneous, how it reads Targets,
// which parameters it takes with their ranges, and whether it takes a member
// down or damages its durable state.
//
// Targets left empty are resolved by the executor when the fault begins,
// most often to "the leader": a schedule can aim at a role, not at an id
// it cannot know in advance.
//
// # Swarm generation
//
// Generate follows TigerBeetle's VOPR swarm testing: a seed enables a
// random subset of the kinds its profile allows, each with a random rate,
// window and parameters, recorded in SwarmParams so a failing seed can be
// read alongside the intensities that found it. Each kind draws from its own
// ChaCha8 stream keyed by the seed and the kind's name. The same seed gives
// the same schedule, byte for byte.
//
// # The fault budget
//
// Raft promises safety under any faults but liveness only while a majority
// is up and has its durable state. Budget counts the members that are down
// or damaged at each instant; generated schedules stay within a minority
// unless GenerateOptions.BeyondBudget, and every fault heals a settle
// period before the run ends, so liveness after healing can be judged. A
// WholeCluster kind (a full-cluster restart) is beyond the budget by design
// and exempt from it: it loses nothing durable, so liveness after its heal
// is still owed.
//
// # Shrinking
//
// Without, Shorten and Minimize turn a failing schedule into a small one
// that still fails: delta debugging over the faults, then shorter windows,
// then a shorter run.
//
// # Determinism
//
// Nothing here reads the wall clock, global randomness, or lets map order
// reach output: Params are printed sorted and JSON sorts map keys.
package nemesis
