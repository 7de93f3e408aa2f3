package main

import (
	"fmt"
	"slices"
	"time"

	"github.com/kvdlabs/kvd/sim"
)

// variant is a known-unsafe protocol variant the harness must catch, with
// the campaign that catches it: its workload, nemesis profile and a budget
// of seeds within which at least one must fail.
type variant struct {
	name  string
	about string
	// apply switches the variant on in the cluster's options; it reports
	// false if this build of the core does not have it.
	apply func(*sim.ClusterOptions) bool
	// Canary campaign.
	workload, nemesis string
	// beyondBudget: the variant only loses data when a majority fails.
	beyondBudget bool
	duration     time.Duration
	seedsBudget  int
}

var variants = []variant{
	{
		name:     "stale-read",
		about:    "linearizable reads served locally, without ReadIndex",
		apply:    func(o *sim.ClusterOptions) bool { o.Node.Unsafe.StaleReads = true; return true },
		workload: "register", nemesis: "network", duration: 20 * time.Second, seedsBudget: 20,
	},
	{
		name:  "ack-before-fsync",
		about: "writes acknowledged before the WAL is synced",
		apply: func(o *sim.ClusterOptions) bool { o.UnsafeAckBeforeFsync = true; return true },
		// Within the minority budget raft itself notices the lost log and
		// panics; beyond it, a majority loses acknowledged writes and the
		// durability checker says so.
		workload: "register", nemesis: "crash", beyondBudget: true, duration: 60 * time.Second, seedsBudget: 20,
	},
	{
		name:     "follower-lease-expiry",
		about:    "every member expires leases on its own clock",
		apply:    func(o *sim.ClusterOptions) bool { o.Node.Unsafe.FollowerLeaseExpiry = true; return true },
		workload: "lease", nemesis: "clock", duration: 20 * time.Second, seedsBudget: 20,
	},
	{
		name:     "range-stream-unpinned",
		about:    "RangeStream chunks after the first read at the current revision, not the stream's",
		apply:    func(o *sim.ClusterOptions) bool { o.UnsafeRangeStreamUnpinned = true; return true },
		workload: "bank", nemesis: "none", duration: 20 * time.Second, seedsBudget: 20,
	},
	{
		name:     "alarm-ignored-by-followers",
		about:    "followers apply the writes an active NOSPACE alarm refuses",
		apply:    func(o *sim.ClusterOptions) bool { o.Node.Unsafe.FollowerIgnoresAlarms = true; return true },
		workload: "register", nemesis: "operations", duration: 20 * time.Second, seedsBudget: 20,
	},
	{
		name:  "conf-change-before-commit",
		about: "the member proposing a membership change applies it to its configuration before it commits",
		apply: func(o *sim.ClusterOptions) bool { o.Node.Unsafe.ConfChangeBeforeCommit = true; return true },
		// The default campaign: membership changes come with the all and
		// operations profiles of the mixed nemesis.
		workload: "mixed", nemesis: "mixed", duration: 60 * time.Second, seedsBudget: 100,
	},
	{
		name:     "auth-writes-unchecked",
		about:    "writes applied without checking the caller's permissions while auth is on",
		apply:    func(o *sim.ClusterOptions) bool { o.Node.Unsafe.AuthWritesUnchecked = true; return true },
		workload: "auth", nemesis: "none", duration: 20 * time.Second, seedsBudget: 5,
	},
	{
		name:     "watch-skip",
		about:    "a watch event dropped at a compaction boundary",
		apply:    func(o *sim.ClusterOptions) bool { o.Node.Unsafe.WatchSkip = true; return true },
		workload: "watch", nemesis: "none", duration: 20 * time.Second, seedsBudget: 20,
	},
}

func variantNames() []string {
	names := make([]string, len(variants))
	for i, v := range variants {
		names[i] = v.name
	}
	return names
}

func lookupVariant(name string) (variant, error) {
	i := slices.IndexFunc(variants, func(v variant) bool { return v.name == name })
	if i < 0 {
		return variant{}, fmt.Errorf("unknown unsafe variant %q (known: %v)", name, variantNames())
	}
	return variants[i], nil
}
