package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/pprof/profile"
)

// With --cpu-profiles, vs runs each of kvbench's main loads once more on
// each system once every measured run on those clusters is done (their
// writes would otherwise grow the history later runs start from), for
// cpuProfileWindow and a little,
// and fetches a CPU profile of that window from every member
// (/debug/pprof/profile on the client URL, which --enable-pprof serves on
// both systems). The run's server CPU per op is then split by who spent
// it (cpuOwner): the libraries both systems share, the Go runtime, the
// kernel calls, and each system's own code. The profiled runs do not count
// towards any figure or target; the profiler's sampling costs both systems
// alike. The profiles go into the report's directory for go tool pprof.

// cpuProfileWindow is how long each member is profiled; the profiled run
// lasts cpuProfileSlack longer on each side, so the window sees the load
// only.
const (
	cpuProfileWindow = 6 * time.Second
	cpuProfileSlack  = time.Second
)

// CPUProfile is one profiled run of one load on one system.
type CPUProfile struct {
	System string `json:"system"`
	Load   string `json:"load"`
	Ops    uint64 `json:"ops"`
	// ServerCPUUsPerOp is the run's, from the members' CPU times (as every
	// run's); UsPerOp splits it in the shares the profiles show.
	ServerCPUUsPerOp float64            `json:"serverCpuUsPerOp"`
	UsPerOp          map[string]float64 `json:"usPerOp"`
	// SampledSeconds is the CPU time the profiles hold, all members.
	SampledSeconds float64 `json:"sampledSeconds"`
	// Files are the members' profiles, relative to the report's directory.
	Files []string `json:"files"`
	raw   [][]byte
}

// The owners cpuOwner names, in the order the report lists them.
const (
	ownerGRPC      = "gRPC and HTTP/2 (grpc-go, x/net)"
	ownerProto     = "protobuf codecs"
	ownerRaft      = "raft library (go.etcd.io/raft)"
	ownerNetCalls  = "kernel: network calls"
	ownerDiskCalls = "kernel: disk calls"
	ownerGC        = "Go garbage collector"
	ownerRuntime   = "Go scheduler and runtime"
	ownerServer    = "the server's own code"
	ownerOther     = "other libraries"
)

var cpuOwners = []string{ownerServer, ownerGRPC, ownerProto, ownerRaft, ownerNetCalls, ownerDiskCalls, ownerGC, ownerRuntime, ownerOther}

// Frame prefixes by what they say about a sample's owner; see cpuOwner.
var (
	// gcFrames do the collector's work, in the background or as an
	// allocation's assist.
	gcFrames = []string{"runtime.gcBgMarkWorker", "runtime.gcAssistAlloc", "runtime.bgsweep", "runtime.bgscavenge"}
	// runtimeOrStdFrames spend on behalf of their caller: allocation,
	// copying, hashing, sorting, formatting.
	runtimeOrStdFrames = []string{"runtime.", "internal/", "sync.", "sync/", "math", "sort.", "slices.", "maps.", "strings.", "bytes.",
		"unicode", "encoding/", "hash/", "bufio.", "io.", "reflect.", "container/", "errors.", "fmt.", "strconv.", "unique.", "iter.",
		"cmp.", "time.", "context.", "log", "crypto/", "compress/", "memeqbody", "cmpbody", "indexbytebody", "aeshashbody"}
	// kernelCallFrames are a system call's on its way down.
	kernelCallFrames = []string{"syscall.", "os.", "net.", "golang.org/x/sys/"}
	// networkCallerFrames own network calls: the RPC and HTTP stacks, the
	// connection wrappers each system puts under them, and each system's
	// peer transport.
	networkCallerFrames = []string{"google.golang.org/grpc", "golang.org/x/net/", "net/http.", "github.com/soheilhy/cmux",
		"github.com/kvdlabs/kvd/core/transport", "github.com/kvdlabs/kvd/core/api.(*prefixConn)",
		"go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp", "go.etcd.io/etcd/client/pkg/v3/transport"}
	grpcFrames   = []string{"google.golang.org/grpc", "golang.org/x/net/"}
	protoFrames  = []string{"google.golang.org/protobuf", "github.com/golang/protobuf", "github.com/gogo/protobuf", "go.etcd.io/etcd/api/"}
	raftFrames   = []string{"go.etcd.io/raft/"}
	serverFrames = []string{"github.com/kvdlabs/", "github.com/tidwall/", "go.etcd.io/etcd/server/", "go.etcd.io/etcd/pkg/",
		"go.etcd.io/etcd/client/pkg/", "go.etcd.io/bbolt"}
)

// hasAnyPrefix reports whether fn starts with one of prefixes.
func hasAnyPrefix(fn string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(fn, p) {
			return true
		}
	}
	return false
}

// cpuOwner names who spent a sample, its stack given leaf first: the
// collector if any frame is its, else the first frame from the leaf that
// is not runtimeOrStdFrames (a kernel call by the code that made it).
func cpuOwner(stack []string) string {
	for _, fn := range stack {
		if hasAnyPrefix(fn, gcFrames) || fn == "runtime.GC" {
			return ownerGC
		}
	}
	for i, fn := range stack {
		switch {
		case hasAnyPrefix(fn, kernelCallFrames):
			for _, caller := range stack[i+1:] {
				if hasAnyPrefix(caller, kernelCallFrames) || hasAnyPrefix(caller, runtimeOrStdFrames) {
					continue
				}
				if hasAnyPrefix(caller, networkCallerFrames) {
					return ownerNetCalls
				}
				return ownerDiskCalls
			}
			return ownerNetCalls // the runtime's own: netpoll
		case hasAnyPrefix(fn, runtimeOrStdFrames):
			continue
		case hasAnyPrefix(fn, grpcFrames):
			return ownerGRPC
		case hasAnyPrefix(fn, protoFrames):
			return ownerProto
		case hasAnyPrefix(fn, raftFrames):
			return ownerRaft
		case hasAnyPrefix(fn, serverFrames):
			return ownerServer
		default:
			return ownerOther
		}
	}
	return ownerRuntime
}

// cpuShares adds up the CPU time of the profiles by owner, in seconds.
func cpuShares(profiles [][]byte) (map[string]float64, float64, error) {
	shares := map[string]float64{}
	var total float64
	for i, raw := range profiles {
		p, err := profile.ParseData(raw)
		if err != nil {
			return nil, 0, fmt.Errorf("profile %d of %d: %w", i+1, len(profiles), err)
		}
		idx := slices.IndexFunc(p.SampleType, func(st *profile.ValueType) bool { return st.Type == "cpu" && st.Unit == "nanoseconds" })
		if idx < 0 {
			return nil, 0, fmt.Errorf("profile %d of %d is not a CPU profile (no cpu/nanoseconds values)", i+1, len(profiles))
		}
		var stack []string
		for _, s := range p.Sample {
			stack = stack[:0]
			for _, loc := range s.Location {
				for _, line := range loc.Line { // innermost first
					if line.Function != nil {
						stack = append(stack, line.Function.Name)
					}
				}
			}
			secs := float64(s.Value[idx]) / 1e9
			shares[cpuOwner(stack)] += secs
			total += secs
		}
	}
	return shares, total, nil
}

// fetchCPUProfiles profiles every endpoint for window, at once.
func fetchCPUProfiles(ctx context.Context, endpoints []string, window time.Duration) ([][]byte, error) {
	out := make([][]byte, len(endpoints))
	errs := make([]error, len(endpoints))
	var wg sync.WaitGroup
	for i, ep := range endpoints {
		wg.Go(func() {
			url := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", strings.TrimRight(ep, "/"), int(window/time.Second))
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				errs[i] = err
				return
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				errs[i] = fmt.Errorf("fetch %s: %w", url, err)
				return
			}
			defer resp.Body.Close()
			body, err := io.ReadAll(io.LimitReader(resp.Body, cpuProfileBytesMax))
			if err == nil && resp.StatusCode != http.StatusOK {
				err = fmt.Errorf("status %s: %s", resp.Status, bytes.TrimSpace(body[:min(len(body), 200)]))
			}
			if err != nil {
				errs[i] = fmt.Errorf("fetch %s: %w", url, err)
				return
			}
			out[i] = body
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// cpuProfileBytesMax bounds one fetched profile.
const cpuProfileBytesMax = 64 << 20

// profiledRun runs a kvbench load on c for the window and the slack on
// each side, profiling every member over the window.
func profiledRun(ctx context.Context, c *cluster, o Options, status io.Writer) (CPUProfile, error) {
	o.Endpoints = c.endpoints()
	o.Total = totalMax
	o.Duration = cpuProfileWindow + 2*cpuProfileSlack
	var raw [][]byte
	var fetchErr error
	var fetched sync.WaitGroup
	o.MeasureStarted = func() {
		fetched.Go(func() {
			select {
			case <-time.After(cpuProfileSlack):
				raw, fetchErr = fetchCPUProfiles(ctx, c.endpoints(), cpuProfileWindow)
			case <-ctx.Done():
				fetchErr = ctx.Err()
			}
		})
	}
	r, err := measured(ctx, c, func(ctx context.Context, c *cluster) (Result, error) { return Run(ctx, o, status) })
	fetched.Wait()
	if err != nil {
		return CPUProfile{}, err
	}
	if fetchErr != nil {
		return CPUProfile{}, fmt.Errorf("profile %s: %w", o.Load, fetchErr)
	}
	if raw == nil {
		return CPUProfile{}, fmt.Errorf("profile %s: the load never started its measured phase", o.Load)
	}
	shares, total, err := cpuShares(raw)
	if err != nil {
		return CPUProfile{}, fmt.Errorf("profile %s: %w", o.Load, err)
	}
	cp := CPUProfile{System: c.system, Load: o.Load, Ops: r.Ops, ServerCPUUsPerOp: r.ServerCPUUsPerOp, SampledSeconds: total, UsPerOp: map[string]float64{}, raw: raw}
	for owner, secs := range shares {
		if total > 0 {
			cp.UsPerOp[owner] = r.ServerCPUUsPerOp * secs / total
		}
	}
	return cp, nil
}

// cpuProfilesMarkdown is the report's section on the profiled runs.
func (r *VsReport) cpuProfilesMarkdown() string {
	if len(r.CPUProfiles) == 0 {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Where the servers' CPU goes\n\nOne more run of each load per system after every measured run on its clusters, profiled for %v on every member (not counted in any figure above). "+
		"Server CPU per op of that run, split in the shares its profiles show by who spent it: the first frame from the leaf that is neither the Go runtime nor the standard library "+
		"(so allocation and copying count for their caller), kernel calls by the code that made them, and the collector's background and assist work as garbage collection. "+
		"The profiles are in this directory: `go tool pprof -top <file>`.\n", cpuProfileWindow)
	var loads []string
	for _, p := range r.CPUProfiles {
		if !slices.Contains(loads, p.Load) {
			loads = append(loads, p.Load)
		}
	}
	for _, load := range loads {
		bySys := map[string]CPUProfile{}
		for _, p := range r.CPUProfiles {
			if p.Load == load {
				bySys[p.System] = p
			}
		}
		k, e := bySys["kvd"], bySys["etcd"]
		fmt.Fprintf(&b, "\n### %s\n\n| who | kvd µs/op | etcd µs/op | kvd − etcd µs/op |\n|---|---|---|---|\n", load)
		for _, owner := range append(slices.Clone(cpuOwners), "total") {
			kv, ev := k.UsPerOp[owner], e.UsPerOp[owner]
			if owner == "total" {
				kv, ev = k.ServerCPUUsPerOp, e.ServerCPUUsPerOp
			}
			fmt.Fprintf(&b, "| %s | %.1f | %.1f | %+.1f |\n", owner, kv, ev, kv-ev)
		}
	}
	return b.String()
}
