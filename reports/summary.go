package reports

import (
	"slices"
	"time"
)

// Summary is a whole campaign: what was asked, every seed's Result, and the
// totals a CI job or a person reads first.
type Summary struct {
	// Command is the command line that ran the campaign.
	Command string `json:"command"`
	// Campaign is the configuration as asked; its Workload and Nemesis may
	// be "mixed", resolved per seed in each Result.
	Campaign Config `json:"campaign"`
	// Seeds is the seed range as given, e.g. "1-100"; Shard "i/n" or "".
	Seeds   string `json:"seeds"`
	Shard   string `json:"shard,omitempty"`
	Workers int    `json:"workers"`
	// CheckDeterminism: every seed ran twice and the traces were compared.
	CheckDeterminism bool `json:"check_determinism,omitempty"`
	// Started is the wall-clock start; Wall the campaign's wall time.
	Started time.Time `json:"started"`
	Wall    Duration  `json:"wall"`
	// Outcome is the most severe outcome of any seed; ExitCode what kvsim
	// exited with.
	Outcome  Outcome `json:"outcome"`
	ExitCode int     `json:"exit_code"`
	// Counts is the number of seeds per outcome.
	Counts map[Outcome]int `json:"counts"`
	// SeedsPerMinute is seeds finished per wall minute; VirtualPerWall is
	// simulated seconds per wall second over all workers.
	SeedsPerMinute float64 `json:"seeds_per_minute"`
	VirtualPerWall float64 `json:"virtual_per_wall"`
	// CheckWallMean and CheckWallMax are checker wall time per seed.
	CheckWallMean Duration `json:"check_wall_mean"`
	CheckWallMax  Duration `json:"check_wall_max"`
	// FaultTimeActiveMedian and FaultTimeActiveMin are over the seeds
	// with a lasting fault (Result.FaultTimeActive); FaultTimeActiveSeeds
	// counts those seeds.
	FaultTimeActiveMedian float64 `json:"fault_time_active_median,omitempty"`
	FaultTimeActiveMin    float64 `json:"fault_time_active_min,omitempty"`
	FaultTimeActiveSeeds  int     `json:"fault_time_active_seeds,omitempty"`
	// Results are sorted by seed.
	Results []Result `json:"results"`
}

// Summarize sorts results by seed and fills the totals derived from them:
// Outcome, Counts, the rates over wall, and the checker times. The caller
// sets the rest.
func (s *Summary) Summarize(results []Result, wall time.Duration) {
	s.Results = slices.Clone(results)
	slices.SortStableFunc(s.Results, func(a, b Result) int {
		switch {
		case a.Seed < b.Seed:
			return -1
		case a.Seed > b.Seed:
			return 1
		}
		return 0
	})
	s.Wall = Duration(wall)
	s.Outcome = Pass
	s.Counts = map[Outcome]int{}
	var virtual, check, checkMax time.Duration
	for _, r := range s.Results {
		s.Outcome = s.Outcome.Worse(r.Outcome)
		s.Counts[r.Outcome]++
		virtual += time.Duration(r.Virtual)
		check += time.Duration(r.CheckWall)
		checkMax = max(checkMax, time.Duration(r.CheckWall))
	}
	if len(s.Results) > 0 {
		s.CheckWallMean = Duration(check / time.Duration(len(s.Results)))
	}
	s.CheckWallMax = Duration(checkMax)
	var active []float64
	for _, r := range s.Results {
		if r.FaultTimeActive != nil {
			active = append(active, *r.FaultTimeActive)
		}
	}
	if len(active) > 0 {
		slices.Sort(active)
		s.FaultTimeActiveMedian, s.FaultTimeActiveMin, s.FaultTimeActiveSeeds = active[len(active)/2], active[0], len(active)
	}
	if wall > 0 {
		s.SeedsPerMinute = float64(len(s.Results)) / wall.Minutes()
		s.VirtualPerWall = virtual.Seconds() / wall.Seconds()
	}
}

// Failed returns the results that did not pass, by seed.
func (s Summary) Failed() []Result {
	var out []Result
	for _, r := range s.Results {
		if r.Failed() {
			out = append(out, r)
		}
	}
	return out
}
