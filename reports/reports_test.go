package reports

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"pgregory.net/rapid"

	"github.com/kvdlabs/kvd/theme"

	"github.com/kvdlabs/kvd/linearizability"
)

func genDuration(t *rapid.T, label string) Duration {
	return Duration(rapid.Int64Range(0, int64(48*time.Hour)).Draw(t, label))
}

func genResult(t *rapid.T) Result {
	r := Result{
		Seed:    rapid.Uint64().Draw(t, "seed"),
		Outcome: rapid.SampledFrom(Outcomes()).Draw(t, "outcome"),
		Config: Config{
			Workload: rapid.SampledFrom([]string{"register", "bank", "lease"}).Draw(t, "workload"),
			Nemesis:  rapid.SampledFrom([]string{"all", "none", "file"}).Draw(t, "nemesis"),
			Nodes:    rapid.IntRange(1, 7).Draw(t, "nodes"), Duration: genDuration(t, "duration"),
			Clients: rapid.IntRange(1, 9).Draw(t, "clients"), OpsMax: rapid.IntRange(1, 5000).Draw(t, "ops"),
			Unsafe: rapid.SampledFrom([]string{"", "stale-read"}).Draw(t, "unsafe"), BeyondBudget: rapid.Bool().Draw(t, "beyond"),
			LivenessBound: genDuration(t, "bound"), CheckTimeout: genDuration(t, "timeout"),
		},
		Swarm:     rapid.String().Draw(t, "swarm"),
		Detail:    rapid.String().Draw(t, "detail"),
		TraceHash: rapid.StringMatching(`[0-9a-f]{64}`).Draw(t, "hash"),
		Ops:       rapid.IntRange(0, 1e6).Draw(t, "opsDone"),
		Virtual:   genDuration(t, "virtual"), Wall: genDuration(t, "wall"), CheckWall: genDuration(t, "checkWall"),
	}
	for range rapid.IntRange(0, 3).Draw(t, "verdicts") {
		r.Verdicts = append(r.Verdicts, linearizability.Verdict{
			Checker: rapid.StringMatching(`[a-z-]{1,12}`).Draw(t, "checker"),
			Outcome: rapid.SampledFrom([]linearizability.Outcome{linearizability.OK, linearizability.Violation, linearizability.Unknown}).Draw(t, "vo"),
			Detail:  rapid.String().Draw(t, "vd"), Operations: rapid.IntRange(0, 1000).Draw(t, "vops"),
			CheckDuration: time.Duration(rapid.Int64Range(0, 1e12).Draw(t, "vdur")),
		})
	}
	for range rapid.IntRange(0, 4).Draw(t, "faults") {
		from := genDuration(t, "from")
		r.Faults = append(r.Faults, FaultWindow{Kind: rapid.SampledFrom([]string{"pause", "partition-halves", "clock-jump"}).Draw(t, "kind"),
			Targets: rapid.SliceOfN(rapid.Uint64Range(1, 5), 1, 3).Draw(t, "targets"), From: from, To: from + genDuration(t, "len")})
	}
	for i := range rapid.IntRange(0, 5).Draw(t, "buckets") {
		r.Timeline = append(r.Timeline, Bucket{At: Duration(time.Duration(i) * time.Second), Width: Duration(time.Second),
			OK: rapid.IntRange(0, 100).Draw(t, "ok"), Failed: rapid.IntRange(0, 9).Draw(t, "failed"), TimedOut: rapid.IntRange(0, 9).Draw(t, "to"),
			LatencyP50: genDuration(t, "p50"), LatencyMax: genDuration(t, "lmax")})
	}
	return r
}

// TestResultJSONRoundTrip: a Result survives the worker pipe and
// summary.json unchanged.
func TestResultJSONRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		r := genResult(t)
		data, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Result
		if err := json.Unmarshal(data, &back); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, r) {
			t.Fatalf("round trip changed the result:\n%+v\n%+v", r, back)
		}
	})
}

func TestDurationJSON(t *testing.T) {
	var d Duration
	if err := json.Unmarshal([]byte(`"1m30.5s"`), &d); err != nil || d != Duration(90500*time.Millisecond) {
		t.Fatalf("string form: %v, %v", d, err)
	}
	if err := json.Unmarshal([]byte(`1500`), &d); err != nil || d != 1500 {
		t.Fatalf("nanoseconds: %v, %v", d, err)
	}
	for _, bad := range []string{`"soon"`, `true`, `{}`} {
		if err := json.Unmarshal([]byte(bad), &d); err == nil {
			t.Errorf("accepted %s", bad)
		}
	}
}

// TestWorseIsAMaximum: a campaign's outcome does not depend on the order
// its seeds finish in, and only all passes make a pass.
func TestWorseIsAMaximum(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a, b, c := rapid.SampledFrom(Outcomes()).Draw(t, "a"), rapid.SampledFrom(Outcomes()).Draw(t, "b"), rapid.SampledFrom(Outcomes()).Draw(t, "c")
		if a.Worse(b) != b.Worse(a) || a.Worse(b).Worse(c) != a.Worse(b.Worse(c)) || a.Worse(a) != a {
			t.Fatalf("Worse is not a maximum over %s %s %s", a, b, c)
		}
		if (a.Worse(b) == Pass) != (a == Pass && b == Pass) {
			t.Fatalf("%s worse %s = %s", a, b, a.Worse(b))
		}
	})
	if Outcome("bogus").Valid() || !Correctness.Valid() {
		t.Fatal("Valid")
	}
}

func TestSummarize(t *testing.T) {
	var s Summary
	s.Summarize([]Result{
		{Seed: 3, Outcome: Pass, Virtual: Duration(time.Minute), CheckWall: Duration(time.Millisecond)},
		{Seed: 1, Outcome: Liveness, Virtual: Duration(time.Minute), CheckWall: Duration(3 * time.Millisecond)},
		{Seed: 2, Outcome: Correctness, Virtual: Duration(time.Minute), CheckWall: Duration(2 * time.Millisecond)},
	}, 30*time.Second)
	if s.Outcome != Correctness || s.Counts[Pass] != 1 || s.Counts[Liveness] != 1 || s.Counts[Correctness] != 1 {
		t.Fatalf("outcome %s counts %v", s.Outcome, s.Counts)
	}
	if s.Results[0].Seed != 1 || s.Results[2].Seed != 3 {
		t.Fatalf("results not sorted by seed: %v", s.Results)
	}
	if s.SeedsPerMinute != 6 || s.VirtualPerWall != 6 || s.CheckWallMean != Duration(2*time.Millisecond) || s.CheckWallMax != Duration(3*time.Millisecond) {
		t.Fatalf("rates: %v seeds/min, %v virtual/wall, check %v max %v", s.SeedsPerMinute, s.VirtualPerWall, s.CheckWallMean, s.CheckWallMax)
	}
	if f := s.Failed(); len(f) != 2 || f[0].Seed != 1 || f[1].Seed != 2 {
		t.Fatalf("Failed: %v", f)
	}
}

// TestWriteAndReadBack writes a run with a failing seed and reads every
// file back.
func TestWriteAndReadBack(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		dir := t.TempDir()
		r := genResult(rt)
		r.Outcome = Correctness
		seedDir, err := WriteSeed(dir, SeedFiles{
			Result: r, Schedule: []byte(`{"seed":1}`), History: []byte(`[]`),
			WriteTrace:     func(w io.Writer) error { _, err := io.WriteString(w, "000000.000000000 #0 event #0\n"); return err },
			Visualizations: []Visualization{{Checker: "kv/../linearizable", HTML: []byte("<html><body class=x><p>history</p></body></html>")}},
		})
		if err != nil {
			rt.Fatal(err)
		}
		back, err := ReadResult(seedDir)
		if err != nil {
			rt.Fatal(err)
		}
		r.ReportDir = seedDir
		if !reflect.DeepEqual(back, r) {
			rt.Fatalf("result.json:\n%+v\n%+v", back, r)
		}
		page, err := os.ReadFile(filepath.Join(seedDir, "porcupine-kv_.._linearizable.html"))
		if err != nil {
			rt.Fatal(err)
		}
		if !strings.HasPrefix(string(page), "<html><body class=x><div id=\"kvsim-faults\"") || !strings.HasSuffix(string(page), "<p>history</p></body></html>") {
			rt.Fatalf("fault table not injected at the top of the body:\n%s", page)
		}
		for _, f := range r.Faults {
			if !strings.Contains(string(page), f.Kind) {
				rt.Fatalf("fault %s missing from the annotated view", f.Kind)
			}
		}
		s := Summary{Command: "kvsim run", Seeds: "1-2", Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
		s.Summarize([]Result{r, genResult(rt)}, time.Second)
		if err := WriteRun(dir, s); err != nil {
			rt.Fatal(err)
		}
		sb, err := ReadSummary(dir)
		if err != nil {
			rt.Fatal(err)
		}
		if !reflect.DeepEqual(sb, s) {
			rt.Fatalf("summary.json:\n%+v\n%+v", sb, s)
		}
		for _, name := range []string{IndexFile, filepath.Join(SeedsDir, itoa(r.Seed), SeedPageFile)} {
			html, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				rt.Fatal(err)
			}
			checkSVG(rt, string(html))
			if name != IndexFile {
				// Fault targets are member chips in the dashboard's
				// colours: member k is "mk" at position k-1.
				for _, f := range r.Faults {
					for _, id := range f.Targets {
						chip := fmt.Sprintf(`<span class="%s">m%d</span>`, theme.MemberClass(int(id-1)), id)
						if !strings.Contains(string(html), chip) {
							rt.Fatalf("seed page lacks the chip %s of target %d", chip, id)
						}
					}
				}
			}
		}
	})
}

func itoa(u uint64) string { b, _ := json.Marshal(u); return string(b) }

// checkSVG asserts every inline SVG is well-formed XML.
func checkSVG(t *rapid.T, html string) {
	for rest := html; ; {
		i := strings.Index(rest, "<svg ")
		if i < 0 {
			return
		}
		j := strings.Index(rest[i:], "</svg>")
		if j < 0 {
			t.Fatal("unterminated <svg>")
		}
		d := xml.NewDecoder(strings.NewReader(rest[i : i+j+len("</svg>")]))
		for {
			_, err := d.Token()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("SVG not well-formed: %v", err)
			}
		}
		rest = rest[i+j:]
	}
}

func TestAnnotateWithoutBody(t *testing.T) {
	got := string(AnnotateVisualization([]byte("<p>bare</p>"), Result{Seed: 4, Outcome: Correctness}))
	if !strings.HasPrefix(got, `<div id="kvsim-faults"`) || !strings.HasSuffix(got, "<p>bare</p>") || !strings.Contains(got, "no faults") {
		t.Fatalf("annotated bare page:\n%s", got)
	}
}

func TestHuman(t *testing.T) {
	for d, want := range map[time.Duration]string{
		3630684407 * time.Nanosecond:         "3.631s",
		75394306 * time.Nanosecond:           "75.39ms",
		70*time.Second + 11*time.Millisecond: "1m10s",
		1234 * time.Nanosecond:               "1µs",
	} {
		if got := human(Duration(d)); got != want {
			t.Errorf("human(%v) = %q, want %q", d, got, want)
		}
	}
}
