package reports

import (
	"encoding/json"
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Where kvsim mutation writes its report.
const (
	MutationFile     = "mutation.json"
	MutationPageFile = "mutation.html"
)

// MutationRow is what the harness did against one planted bug.
type MutationRow struct {
	Bug        string `json:"bug"`
	Package    string `json:"package"`
	About      string `json:"about"`
	ModelledOn string `json:"modelled_on"`

	// UnitCaught: the package's unit tests fail with the bug on;
	// UnitFailure names the first failing test (or why the run ended).
	UnitCaught  bool     `json:"unit_caught"`
	UnitFailure string   `json:"unit_failure,omitempty"`
	UnitWall    Duration `json:"unit_wall"`

	// CampaignCaught: a seed of the default campaign failed within the
	// wall-time cap. SeedsRun counts the seeds that finished; FirstSeed,
	// Outcome and Detail are the first failure's, FirstFailureWall the
	// wall time from the campaign's start until it arrived.
	CampaignCaught   bool     `json:"campaign_caught"`
	SeedsRun         int      `json:"seeds_run"`
	CampaignWall     Duration `json:"campaign_wall"`
	FirstSeed        uint64   `json:"first_seed,omitempty"`
	FirstFailureWall Duration `json:"first_failure_wall,omitempty"`
	Outcome          Outcome  `json:"outcome,omitempty"`
	Detail           string   `json:"detail,omitempty"`
	Workload         string   `json:"workload,omitempty"`
	Nemesis          string   `json:"nemesis,omitempty"`

	MutationShrink
}

// MutationShrink is a bug's shrunk failure: of its first failing seed, or
// of a later one that shrank smaller (ShrunkSeed). Fault events before and
// after, the re-runs it took, and whether the shrunk run failed the same
// way twice with one trace hash (it replays bit-exact).
type MutationShrink struct {
	ShrunkSeed    uint64 `json:"shrunk_seed,omitempty"`
	FaultsBefore  int    `json:"faults_before,omitempty"`
	FaultsAfter   int    `json:"faults_after,omitempty"`
	ShrinkRuns    int    `json:"shrink_runs,omitempty"`
	ShrinkError   string `json:"shrink_error,omitempty"`
	ReplaysExact  bool   `json:"replays_exact,omitempty"`
	ReplayCommand string `json:"replay_command,omitempty"`
}

// ShrunkFaultsGoal is the fault events a shrunk failure should come down
// to: few enough for a person to read the failure from its trace.
const ShrunkFaultsGoal = 10

// ShrunkSmall reports whether the failure shrank to at most
// ShrunkFaultsGoal fault events and replays bit-exact.
func (s MutationShrink) ShrunkSmall() bool {
	return s.ShrinkError == "" && s.ReplaysExact && s.FaultsAfter <= ShrunkFaultsGoal
}

// Mutation is the report of kvsim mutation: the catalogue of planted bugs
// against the unit tests and the default campaign.
type Mutation struct {
	Command string    `json:"command"`
	Started time.Time `json:"started"`
	Wall    Duration  `json:"wall"`
	// Campaign is the default campaign's configuration (per seed, its
	// mixed workload and nemesis are resolved).
	Campaign        Config        `json:"campaign"`
	Workers         int           `json:"workers"`
	CampaignWallMax Duration      `json:"campaign_wall_max"`
	Rows            []MutationRow `json:"rows"`

	// Score is the share of the catalogue the default campaign caught;
	// UnitScore the unit tests'; EitherScore either's.
	Score       float64 `json:"score"`
	UnitScore   float64 `json:"unit_score"`
	EitherScore float64 `json:"either_score"`
	// MedianFirstFailure is the median wall time to the first failure over
	// the bugs the campaign caught.
	MedianFirstFailure Duration `json:"median_first_failure"`
	// ShrunkWithin10: caught bugs shrunk to at most ShrunkFaultsGoal
	// fault events that replay bit-exact.
	ShrunkWithin10 int `json:"shrunk_within_10"`
}

// Summarize fills the scores from the rows.
func (m *Mutation) Summarize() {
	var campaign, unit, either int
	var firsts []time.Duration
	m.ShrunkWithin10 = 0
	for _, r := range m.Rows {
		if r.CampaignCaught {
			campaign++
			firsts = append(firsts, time.Duration(r.FirstFailureWall))
			if r.ShrunkSmall() {
				m.ShrunkWithin10++
			}
		}
		if r.UnitCaught {
			unit++
		}
		if r.CampaignCaught || r.UnitCaught {
			either++
		}
	}
	if n := float64(len(m.Rows)); n > 0 {
		m.Score, m.UnitScore, m.EitherScore = float64(campaign)/n, float64(unit)/n, float64(either)/n
	}
	m.MedianFirstFailure = 0
	if len(firsts) > 0 {
		slices.Sort(firsts)
		m.MedianFirstFailure = Duration(firsts[len(firsts)/2])
	}
}

// Caught counts the bugs the default campaign caught.
func (m Mutation) Caught() int {
	n := 0
	for _, r := range m.Rows {
		if r.CampaignCaught {
			n++
		}
	}
	return n
}

// WriteMutation writes mutation.json and mutation.html into dir.
func WriteMutation(dir string, m Mutation) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	data, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return fmt.Errorf("reports: encoding the mutation report: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, MutationFile), append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, MutationPageFile))
	if err != nil {
		return fmt.Errorf("reports: %w", err)
	}
	if err := mutationPage.Execute(f, m); err != nil {
		f.Close()
		return fmt.Errorf("reports: rendering %s: %w", MutationPageFile, err)
	}
	return f.Close()
}

// ReadMutation reads a mutation report back.
func ReadMutation(dir string) (Mutation, error) {
	var m Mutation
	err := readJSON(filepath.Join(dir, MutationFile), &m)
	return m, err
}

var mutationPage = template.Must(template.New("mutation").Funcs(funcs).Funcs(template.FuncMap{
	"pctf": func(f float64) string { return fmt.Sprintf("%.0f%%", 100*f) },
}).Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>kvsim mutation: {{pctf .Score}}</title><style>` + pageStyle + `
td.no{color:#c62828;font-weight:600} td.yes{color:#3a8f3a;font-weight:600}</style></head><body>
<h1>kvsim mutation — the harness against {{len .Rows}} planted bugs</h1>
<p class="sub">{{.Started.Format "2006-01-02 15:04:05 MST"}} · {{human .Wall}} · default campaign (workload {{.Campaign.Workload}}, nemesis {{.Campaign.Nemesis}}, {{.Campaign.Nodes}} nodes, {{.Campaign.Duration}} each), seeds from 1 until the first failure, at most {{human .CampaignWallMax}} of wall time on {{.Workers}} workers · <code>{{.Command}}</code></p>
<div class="cards">
<div class="card"><b>{{pctf .Score}}</b>caught by the campaign ({{.Caught}} of {{len .Rows}})</div>
<div class="card"><b>{{pctf .UnitScore}}</b>caught by unit tests</div>
<div class="card"><b>{{pctf .EitherScore}}</b>caught by either</div>
<div class="card"><b>{{human .MedianFirstFailure}}</b>median wall time to the first failing seed</div>
<div class="card"><b>{{.ShrunkWithin10}}</b>shrunk to ≤ 10 fault events, replaying bit-exact</div>
</div>
<table><tr><th>bug</th><th>package</th><th>unit tests</th><th>campaign</th><th>seeds</th><th>first failure</th><th>faults before → after shrink</th><th>what goes wrong · modelled on</th></tr>
{{range .Rows}}<tr><td><code>{{.Bug}}</code></td><td>{{.Package}}</td>
<td class="{{if .UnitCaught}}yes{{else}}no{{end}}">{{if .UnitCaught}}caught{{else}}missed{{end}}{{if .UnitFailure}}<br><span class="mono">{{.UnitFailure}}</span>{{end}}</td>
<td class="{{if .CampaignCaught}}yes{{else}}no{{end}}">{{if .CampaignCaught}}<span class="badge {{.Outcome}}">{{.Outcome}}</span> seed {{.FirstSeed}}<br>{{.Workload}} / {{.Nemesis}}{{else}}missed{{end}}</td>
<td class="num">{{.SeedsRun}}</td><td class="num">{{if .CampaignCaught}}{{human .FirstFailureWall}}{{else}}—{{end}}</td>
<td>{{if .CampaignCaught}}{{if .ShrinkError}}{{.ShrinkError}}{{else}}{{if ne .ShrunkSeed .FirstSeed}}seed {{.ShrunkSeed}}: {{end}}{{.FaultsBefore}} → {{.FaultsAfter}} ({{.ShrinkRuns}} runs){{if .ReplaysExact}} · replays exact{{else}} · <b>does not replay exact</b>{{end}}{{end}}{{end}}</td>
<td>{{.About}}<br><span class="sub">{{.ModelledOn}}</span>{{if .Detail}}<br><span class="mono">{{firstLine .Detail}}</span>{{end}}{{if .ReplayCommand}}<br><code>{{.ReplayCommand}}</code>{{end}}</td></tr>
{{end}}</table>
</body></html>
`))
