package parity

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// callsMin is how many distinct calls the script must make at least.
const callsMin = 80

// TestKVDAnswersAsEtcd runs the script against a one-member etcd v3.7.3 and
// a one-member kvd side by side and fails on every answer that differs,
// printing both.
func TestKVDAnswersAsEtcd(t *testing.T) {
	steps := script()
	names := map[string]bool{}
	for _, s := range steps {
		if names[s.name] {
			t.Fatalf("step name %q twice: every step names one distinct call", s.name)
		}
		names[s.name] = true
	}
	if len(steps) < callsMin {
		t.Fatalf("the script makes %d distinct calls, want at least %d", len(steps), callsMin)
	}
	var etcd, kvd *member
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); etcd = startMember(t, "etcd", etcdBin) }()
	go func() { defer wg.Done(); kvd = startMember(t, "kvd", kvdBin) }()
	wg.Wait()
	if t.Failed() {
		return
	}
	answers := make([][]string, 2)
	for i, m := range []*member{etcd, kvd} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i] = runScript(m, steps)
		}()
	}
	wg.Wait()
	if dir := os.Getenv("PARITY_ANSWERS_DIR"); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		// Every answer of both systems, for reading beside the script.
		for i, m := range []*member{etcd, kvd} {
			var b strings.Builder
			for j, s := range steps {
				fmt.Fprintf(&b, "=== %d %s\n%s\n", j, s.name, answers[i][j])
			}
			if err := os.WriteFile(filepath.Join(dir, m.system+".txt"), []byte(b.String()), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	diffs := 0
	for i, s := range steps {
		if answers[0][i] != answers[1][i] {
			diffs++
			t.Errorf("step %d %q differs\n--- etcd:\n%s\n--- kvd:\n%s", i, s.name, answers[0][i], answers[1][i])
		}
	}
	t.Logf("%d calls compared, %d differ", len(steps), diffs)
}

func runScript(m *member, steps []step) []string {
	conn := m.cli.ActiveConnection()
	e := &env{
		m: m, n: &normalizer{m: m},
		kv: pb.NewKVClient(conn), lease: pb.NewLeaseClient(conn),
		clu: pb.NewClusterClient(conn), mt: pb.NewMaintenanceClient(conn),
		vars: map[string]any{},
	}
	var out []string
	for _, s := range steps {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		var got any
		func() {
			defer func() {
				if r := recover(); r != nil {
					got = "step panicked: " + strings.TrimSpace(stringOf(r))
				}
			}()
			got = s.run(ctx, e)
		}()
		cancel()
		out = append(out, e.n.answer(got))
	}
	return out
}

func stringOf(v any) string {
	if e, ok := v.(error); ok {
		return e.Error()
	}
	if s, ok := v.(string); ok {
		return s
	}
	return strings.TrimSpace(render(v))
}
