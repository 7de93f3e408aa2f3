package main

import (
	"fmt"
	"slices"
	"sort"

	"github.com/kvdlabs/kvd/workloads"
)

// workloadMakers maps a workload's command-line name to its constructor.
// Each run gets a fresh Workload.
var workloadMakers = map[string]func() workloads.Workload{
	"register": func() workloads.Workload { return workloads.NewRegister(workloads.RegisterOptions{}) },
	"bank":     func() workloads.Workload { return workloads.NewBank(workloads.BankOptions{}) },
	"lease":    func() workloads.Workload { return workloads.NewLease(workloads.LeaseOptions{}) },
	"watch":    func() workloads.Workload { return workloads.NewWatch() },
	"lock":     func() workloads.Workload { return workloads.NewLock() },
	"election": func() workloads.Workload { return workloads.NewElection() },
	"auth":     func() workloads.Workload { return workloads.NewAuth() },
}

// mixedWorkloads are the workloads a "mixed" campaign cycles through: the
// built-in ones, fixed before any init function (a test's) adds more.
var mixedWorkloads = workloadNames()

// mixedWorkload and mixedNemesis pick a workload or a profile per seed.
const (
	mixedWorkload = "mixed"
	mixedNemesis  = "mixed"
)

// mixedProfiles are the profiles a "mixed" nemesis draws from; "none" is
// left out, a baseline is asked for by name.
var mixedProfiles = []string{"all", "clock", "crash", "disk", "network", "operations"}

func workloadNames() []string {
	names := make([]string, 0, len(workloadMakers))
	for n := range workloadMakers {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func newWorkload(name string) (workloads.Workload, error) {
	mk, ok := workloadMakers[name]
	if !ok {
		return nil, fmt.Errorf("unknown workload %q (known: %v, %s)", name, workloadNames(), mixedWorkload)
	}
	w := mk()
	if w.Name() != name {
		panic(fmt.Sprintf("kvsim: workload registered as %q calls itself %q", name, w.Name()))
	}
	return w, nil
}

// resolveMixed picks the workload and profile of one seed of a campaign
// that asked for "mixed": the workload cycles fastest, so consecutive seeds
// cover every workload and every profile meets every workload.
func resolveMixed(seed uint64, workload, profile string) (string, string) {
	names := mixedWorkloads
	if workload == mixedWorkload && len(names) > 0 {
		workload = names[seed%uint64(len(names))]
	}
	if profile == mixedNemesis {
		n := uint64(max(len(names), 1))
		profile = mixedProfiles[(seed/n)%uint64(len(mixedProfiles))]
	}
	return workload, profile
}

func knownProfile(p string, profiles []string) bool {
	return p == mixedNemesis || slices.Contains(profiles, p)
}
