package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcd's own benchmark tool (tools/benchmark in etcd's repository, module
// go.etcd.io/etcd/v3 v3.6.8; v3.7.3's root module is not on the module
// proxy), built with tools/build.sh benchmark. vs runs it after its own
// loads so that the comparison does not rest on a load generator we wrote.

// EtcdBenchLoads are the loads vs drives with etcd's benchmark tool.
var EtcdBenchLoads = []string{"put", "range"}

// EtcdBenchOptions configures vs's runs of etcd's benchmark tool.
type EtcdBenchOptions struct {
	// Bin is the tool; empty builds it with tools/build.sh benchmark.
	Bin string
	// Loads to run, in order; empty runs none.
	Loads []string
	// PutTotal and RangeTotal are --total of the put and range runs.
	PutTotal, RangeTotal int
	// ValueSizeBytes is --val-size of put and the size of the range key's
	// value; default 256, as in etcd's own performance documentation.
	ValueSizeBytes int
	// Timeout bounds one run; a run past it is killed and counted as failed.
	Timeout time.Duration
}

// Defaults of EtcdBenchOptions: a run of either lasted 2 to 5 s against a
// 3-member cluster on a 2-core machine.
const (
	etcdBenchPutTotalDefault   = 30000
	etcdBenchRangeTotalDefault = 100000
	etcdBenchTimeoutDefault    = 2 * time.Minute
	etcdBenchValueSizeDefault  = 256
	// etcdBenchRangeKey is the one key the range load reads, written first.
	etcdBenchRangeKey = "kvbench/etcd-benchmark-range"
	// etcdBenchStdoutMax bounds what is kept of the tool's stdout (its
	// summary is about 1 kB); etcdBenchStderrTail is how much of the end
	// of its stderr (gRPC logging and a progress bar) is kept for errors.
	etcdBenchStdoutMax  = 1 << 20
	etcdBenchStderrTail = 4 << 10
)

// etcdBenchArgs is the tool's command line for one load: run.Clients
// connections and run.Concurrency clients (requests in flight), as
// kvbench's own loads, over every member; put's keys are run.KeySizeBytes
// long (the tool writes a varint key number into them) over run.Keyspace
// keys, as kvbench's put.
func etcdBenchArgs(load string, endpoints []string, run *Options, eb *EtcdBenchOptions) []string {
	args := []string{
		"--endpoints=" + strings.Join(endpoints, ","),
		"--conns=" + strconv.Itoa(run.Clients),
		"--clients=" + strconv.Itoa(run.Concurrency),
		"--precise",
	}
	switch load {
	case "put":
		return append(args, "put",
			"--key-size="+strconv.Itoa(run.KeySizeBytes), "--val-size="+strconv.Itoa(eb.ValueSizeBytes),
			"--total="+strconv.Itoa(eb.PutTotal), "--key-space-size="+strconv.Itoa(run.Keyspace))
	case "range":
		return append(args, "range", etcdBenchRangeKey, "--consistency=l", "--total="+strconv.Itoa(eb.RangeTotal))
	}
	panic(fmt.Sprintf("kvbench: etcd benchmark load %q has no command line", load))
}

// runEtcdBenchmark runs etcd's benchmark tool once against endpoints and
// parses its summary. The process is killed, by its PID, when ctx ends or
// eb.Timeout passes; a run that timed out or failed is a Result with every
// request counted as an error, so the comparison goes on. Only ctx's end
// is returned as an error.
func runEtcdBenchmark(ctx context.Context, load string, endpoints []string, run *Options, eb *EtcdBenchOptions) (Result, error) {
	base := Result{Tool: ToolEtcdBenchmark, Load: load, Endpoints: endpoints, Clients: run.Clients, Concurrency: run.Concurrency}
	total := eb.PutTotal
	if load == "range" {
		total = eb.RangeTotal
		if err := putRangeKey(ctx, endpoints, run, eb.ValueSizeBytes); err != nil {
			if ctx.Err() != nil {
				return base, ctx.Err()
			}
			base.Errors, base.ErrorSample = total, []string{"write the range key: " + err.Error()}
			return base, nil
		}
	}
	rctx, cancel := context.WithTimeout(ctx, eb.Timeout)
	defer cancel()
	cmd := exec.CommandContext(rctx, eb.Bin, etcdBenchArgs(load, endpoints, run, eb)...)
	// CommandContext kills cmd.Process (this PID only) when rctx ends;
	// WaitDelay bounds the wait for its pipes after that.
	cmd.WaitDelay = 5 * time.Second
	stdout := &cappedBuffer{max: etcdBenchStdoutMax}
	stderr := &tailBuffer{max: etcdBenchStderrTail}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if ctx.Err() != nil {
		return base, fmt.Errorf("etcd benchmark %s: %w", load, ctx.Err())
	}
	fail := func(msg string) (Result, error) {
		base.Seconds, base.Errors = elapsed.Seconds(), total
		base.ErrorSample = []string{msg}
		if tail := lastLines(stderr.String(), 3); tail != "" {
			base.ErrorSample = append(base.ErrorSample, "stderr: "+tail)
		}
		return base, nil
	}
	if rctx.Err() != nil {
		return fail(fmt.Sprintf("killed after %v (raise --etcd-benchmark-timeout or lower the totals)", eb.Timeout))
	}
	if err != nil {
		return fail(fmt.Sprintf("%s: %v", cmd.String(), err))
	}
	r, perr := parseEtcdBenchmark(stdout.String())
	if perr != nil {
		return fail(perr.Error())
	}
	r.Load, r.Endpoints, r.Clients, r.Concurrency = load, endpoints, run.Clients, run.Concurrency
	return r, nil
}

// putRangeKey writes the key the range load reads, so it reads a value.
func putRangeKey(ctx context.Context, endpoints []string, run *Options, valueSize int) error {
	c, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer c.Close()
	return putRetrying(ctx, c, etcdBenchRangeKey, strings.Repeat("v", valueSize), run.RequestTimeout)
}

// parseEtcdBenchmark reads the report etcd's benchmark tool prints on
// stdout (go.etcd.io/etcd/pkg/v3/report, v3.6.8):
//
//	Summary:
//	  Total:	2.36710527 secs.
//	  Slowest:	0.044129443 secs.
//	  Average:	0.0074732747775999985 secs.
//	  Requests/sec:	8449.138385805714
//	…
//	Latency distribution:
//	  50% in 0.005016534 secs.
//	  90% in 0.016154692 secs.
//	  99% in 0.029147601 secs.
//	…
//	Error distribution:
//	  [4]	etcdserver: request is too large
//
// Summary and Latency distribution appear only when a request succeeded,
// Error distribution only when one failed. Numbers are %g with --precise,
// %4.4f without. Ops is Requests/sec × Total, which is how the tool
// computes the rate from the count of successes.
func parseEtcdBenchmark(out string) (Result, error) {
	r := Result{Tool: ToolEtcdBenchmark}
	var section string
	var total, rps float64
	seen := map[string]bool{}
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 64<<10), etcdBenchStdoutMax)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch line {
		case "Summary:", "Response time histogram:", "Latency distribution:", "Error distribution:":
			section = line
			continue
		}
		if line == "" {
			continue
		}
		var err error
		switch section {
		case "Summary:":
			name, value, ok := strings.Cut(line, ":")
			if !ok {
				continue
			}
			value = strings.TrimSpace(value)
			switch name {
			case "Total":
				total, err = parseSecs(value)
			case "Slowest":
				r.MaxMs, err = parseSecs(value)
				r.MaxMs *= 1000
			case "Average":
				r.MeanMs, err = parseSecs(value)
				r.MeanMs *= 1000
			case "Requests/sec":
				rps, err = strconv.ParseFloat(value, 64)
			default:
				continue
			}
			seen[name] = err == nil
		case "Latency distribution:":
			pct, value, ok := strings.Cut(line, "% in ")
			if !ok {
				continue
			}
			var dst *float64
			switch pct {
			case "50":
				dst = &r.P50Ms
			case "90":
				dst = &r.P90Ms
			case "99":
				dst = &r.P99Ms
			default:
				continue
			}
			*dst, err = parseSecs(value)
			*dst *= 1000
			seen[pct+"%"] = err == nil
		case "Error distribution:":
			count, msg, ok := strings.Cut(strings.TrimPrefix(line, "["), "]")
			if !ok || !strings.HasPrefix(line, "[") {
				continue
			}
			n, cerr := strconv.Atoi(count)
			if cerr != nil {
				err = cerr
				break
			}
			r.Errors += n
			seen["errors"] = true
			if len(r.ErrorSample) < errorSamplesMax {
				r.ErrorSample = append(r.ErrorSample, fmt.Sprintf("%d× %s", n, strings.TrimSpace(msg)))
			}
		}
		if err != nil {
			return r, fmt.Errorf("etcd benchmark output, line %q: %w", line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return r, fmt.Errorf("etcd benchmark output: %w", err)
	}
	var missing []string
	for _, name := range []string{"Total", "Average", "Requests/sec", "50%", "90%", "99%"} {
		if !seen[name] {
			missing = append(missing, name)
		}
	}
	switch {
	case len(missing) == 0:
	case len(missing) == 6 && seen["errors"]:
		return r, nil // every request failed: no summary, only errors
	default:
		return r, fmt.Errorf("etcd benchmark output lacks %s:\n%s", strings.Join(missing, ", "), firstBytes(out, 2000))
	}
	r.Seconds, r.OpsPerSec = total, rps
	r.Ops = uint64(math.Round(rps * total))
	return r, nil
}

// parseSecs reads "0.0123 secs." as seconds.
func parseSecs(s string) (float64, error) {
	num, ok := strings.CutSuffix(s, " secs.")
	if !ok {
		return 0, fmt.Errorf("%q: want \"<seconds> secs.\"", s)
	}
	return strconv.ParseFloat(num, 64)
}

func firstBytes(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// lastLines is the last n non-empty lines of s, joined by " | ", each cut
// to 300 bytes (the tool's progress bar redraws on one line).
func lastLines(s string, n int) string {
	var keep []string
	lines := strings.FieldsFunc(s, func(r rune) bool { return r == '\n' || r == '\r' })
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if l := strings.TrimSpace(lines[i]); l != "" {
			if len(l) > 300 {
				l = l[:300] + "…"
			}
			keep = append([]string{l}, keep...)
		}
	}
	return strings.Join(keep, " | ")
}

// cappedBuffer keeps the first max bytes written to it and drops the rest.
type cappedBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (c *cappedBuffer) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if room := c.max - len(c.b); room > 0 {
		c.b = append(c.b, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (c *cappedBuffer) String() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return string(c.b)
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	b   []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.b = append(t.b, p...)
	if over := len(t.b) - t.max; over > 0 {
		t.b = append(t.b[:0], t.b[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.b)
}
