package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/kvdlabs/kvd/reports"
)

// Exit codes: a campaign exits with the code of its most severe outcome.
// 1 stays "a correctness violation" as CI expects; the other findings have
// codes of their own so a script can tell them apart.
const (
	exitPass           = 0
	exitCorrectness    = 1
	exitHarness        = 2
	exitLiveness       = 3
	exitCrash          = 4
	exitUnknown        = 5
	exitNondeterminism = 6
)

func exitCode(o reports.Outcome) int {
	switch o {
	case reports.Pass:
		return exitPass
	case reports.Correctness:
		return exitCorrectness
	case reports.Liveness:
		return exitLiveness
	case reports.Crash:
		return exitCrash
	case reports.Unknown:
		return exitUnknown
	case reports.Nondeterminism:
		return exitNondeterminism
	}
	panic(fmt.Sprintf("kvsim: outcome %q has no exit code", o))
}

// exitCodesHelp is the exit-status table, printed by "kvsim help" and
// under every command's flags.
const exitCodesHelp = `Exit status (a campaign exits with its most severe finding):
  0  every seed passed
  1  correctness violation: a checker found a non-linearizable history, a lost write,
     a broken lease/lock/watch guarantee, or members diverged
  2  harness error: bad flags, unreadable files, a worker that cannot start
  3  liveness failure: no leader, no service or no convergence within --liveness-bound
     after the faults healed
  4  crash: a seed panicked, or its worker process died or overran --seed-timeout
  5  unknown: a checker could not decide within --check-timeout (never a pass)
  6  nondeterminism: a seed run twice traced different events (--check-determinism,
     or replay against a recorded trace hash)
  7  regression (compare): B is significantly worse than A beyond a --fail-on threshold;
     a correctness failure only B has exits 1
`

const usage = `kvsim runs seeded fault-injection campaigns against a simulated kvd cluster.

Usage:
  kvsim run     --seeds 1-500 [--workload W] [--nemesis PROFILE] [--nodes N] [--duration 60s]
                [--shard i/n] [--workers N] [--unsafe VARIANT] [--check-determinism] [--out DIR]
  kvsim replay  (--seed S [run flags] | --record SEED_DIR) [--schedule FILE] [--hash HEX]
                [--filter member=2,kind=net.drop|fault,from=10s,to=20s] [--out DIR]
  kvsim shrink  (--seed S [run flags] | --record SEED_DIR) [--runs-max N] [--out FILE]
  kvsim real    [--bin bin/kvd|bin/etcd] [--seeds 1-5] [--workload W] [--nemesis real] [--nodes N]
                [--duration 30s] [--read serializable] [--unsafe NAME] [--schedule FILE] [--out DIR] [--keep]
  kvsim compare --a 'OPTIONS' --b 'OPTIONS' [--seeds 1-50] [run flags] [--fail-on 'p99>+10%,unavailable>+20%']
                [--a-rev REV] [--b-rev REV] [--schedule FILE] [--alpha 0.05] [--workers N] [--out DIR]
  kvsim mutation [--bugs a,b] [--wall-max 60s] [--shrink-wall 60s] [--skip-unit] [--out DIR]
                (a kvdbugs build only: make mutation; every planted bug against the unit tests and
                the default campaign, with the mutation score)

Run "kvsim <command> -h" for a command's flags.

Every seed is a whole simulated run: a cluster, a workload of clients, and a schedule of
faults drawn from the seed (its swarm parameters are printed with it). The same seed and
flags replay bit for bit anywhere.

` + exitCodesHelp

func main() {
	os.Exit(kvsim(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// kvsim runs one command line and returns the exit status.
func kvsim(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitHarness
	}
	var code int
	var err error
	switch args[0] {
	case "run":
		code, err = campaignMain(args[1:], stdout, stderr)
	case "replay":
		code, err = replayMain(args[1:], stdout, stderr)
	case "shrink":
		code, err = shrinkMain(args[1:], stdout, stderr)
	case "real":
		code, err = realMain(args[1:], stdout, stderr)
	case "compare":
		code, err = compareMain(args[1:], stdout, stderr)
	case "mutation":
		code, err = mutationMain(args[1:], stdout, stderr)
	case "worker":
		// Hidden: started by run, one per worker process.
		err = workerMain(stdin, stdout)
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitPass
	default:
		fmt.Fprintf(stderr, "kvsim: unknown command %q\n\n%s", args[0], usage)
		return exitHarness
	}
	if errors.Is(err, errHelp) {
		return exitPass
	}
	if err != nil {
		fmt.Fprintf(stderr, "kvsim %s: %v\n", args[0], err)
		return exitHarness
	}
	return code
}
