// Command kvsim runs seeded fault-injection campaigns against a simulated
// kvd cluster — the same core code kvd runs, with the clock, network and
// disk swapped for simulated ones — and replays, shrinks and reports what
// they find.
//
//	kvsim run --seeds 1-500 --workload register --nemesis network --nodes 3 --duration 60s
//	kvsim replay --record kvsim-report-…/seeds/42
//	kvsim shrink --record kvsim-report-…/seeds/42
//
// One seed is one run: sim.InstallCryptoRand and sim.New from the seed, a
// cluster, a nemesis schedule drawn from the seed and the profile (or read
// from a file), and a workload. The World runs until the workload's end;
// the faults heal a settle period before the run's end; the harness then
// requires a leader and a served linearizable read within the liveness
// bound, lets the workload issue its final operations, requires every
// member to reach one revision with one KV hash, and asks the workload's
// checkers for their verdicts. The simulator's own checks judge the run
// too: its safety findings (one leader per term, durable votes, backups)
// as correctness, and a leader that was stopped gracefully in calm yet
// kept its leadership to the end as liveness.
//
// Raft draws election jitter from the process-wide crypto/rand.Reader, so
// a process runs one simulation at a time: "kvsim run" gets parallelism
// from worker processes (this binary re-executed with the hidden "worker"
// subcommand, one JSON job and one JSON result per line on its stdin and
// stdout). A panic in a seed is caught and reported as a crash with its
// stack; a worker process that dies is a crash of its seed and is replaced.
//
// Exit codes are listed by "kvsim help": 0 pass, 1 correctness, 2 harness
// error, 3 liveness, 4 crash, 5 unknown, 6 nondeterminism.
package main
