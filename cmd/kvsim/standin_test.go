package main

import (
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"

	"github.com/kvdlabs/kvd/linearizability"
	"github.com/kvdlabs/kvd/sim"
	"github.com/kvdlabs/kvd/workloads"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// The harness is tested against small workloads of its own, so its tests
// do not depend on the real workloads' checkers.
func init() {
	workloadMakers["standin"] = func() workloads.Workload { return &standIn{} }
	workloadMakers["panicky"] = func() workloads.Workload { return &panicky{} }
	workloadMakers["exiting"] = func() workloads.Workload { return &exiting{} }
}

// standIn is a single-register workload: every client writes unique,
// numbered values to one key and reads it back. Check finds a read that
// returned a value whose write finished before another write started that
// itself finished before the read began — a stale read, which no
// linearizable store may serve.
type standIn struct {
	env    workloads.Env
	ops    int
	next   int
	writes map[int]span // value number → its write's span
	reads  []standInRead
}

type span struct{ invoke, ret time.Time }

type standInRead struct {
	span
	value int // 0: the key was absent
}

const standInKey = "standin/k"

func (s *standIn) Name() string { return "standin" }
func (s *standIn) Ops() int     { return s.ops }

func (s *standIn) Start(env workloads.Env) {
	s.env, s.writes = env, map[int]span{}
	for range env.Clients {
		cl := env.Cluster.NewSession(driver.SessionOptions{Timeout: time.Second})
		var loop func()
		loop = func() {
			w := env.Cluster
			if !w.Now().Before(env.End) || s.ops >= env.OpsMax {
				return
			}
			s.ops++
			if env.Rand.IntN(2) == 0 {
				s.next++
				n := s.next
				cl.Do(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(standInKey), Value: []byte(strconv.Itoa(n))}}, func(c sim.Call) {
					if c.Err == nil && !c.TimedOut {
						s.writes[n] = span{c.Invoke, c.Return}
					}
					w.After(s.think(c), loop)
				})
				return
			}
			cl.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte(standInKey)}}, func(c sim.Call) {
				if c.Err == nil && !c.TimedOut {
					r := standInRead{span: span{c.Invoke, c.Return}}
					if kvs := c.Response.(*pb.RangeResponse).Kvs; len(kvs) > 0 {
						r.value, _ = strconv.Atoi(string(kvs[0].Value))
					}
					s.reads = append(s.reads, r)
				}
				w.After(s.think(c), loop)
			})
		}
		env.Cluster.After(time.Millisecond, loop)
	}
}

// think spreads a client's operations over the run, and backs off after a
// failed call as a real client would.
func (s *standIn) think(c sim.Call) time.Duration {
	d := time.Duration(20+s.env.Rand.IntN(40)) * time.Millisecond
	if c.Err != nil || c.TimedOut {
		d += 200 * time.Millisecond
	}
	return d
}

func (s *standIn) Finish() {}

func (s *standIn) Check(time.Duration) []linearizability.Verdict {
	start := time.Now()
	v := linearizability.Verdict{Checker: "standin-stale-read", Outcome: linearizability.OK, Operations: len(s.reads) + len(s.writes)}
	var stale []string
	numbers := slices.Sorted(maps.Keys(s.writes))
	for _, r := range s.reads {
		got, known := s.writes[r.value]
		for _, n := range numbers {
			w := s.writes[n]
			// w finished before r began, and the value r saw was
			// written (and acknowledged) entirely before w began.
			if n != r.value && w.ret.Before(r.invoke) && (r.value == 0 || (known && got.ret.Before(w.invoke))) {
				stale = append(stale, fmt.Sprintf("read at %v returned %d, but %d was written before the read began",
					r.invoke.Sub(sim.DefaultEpoch), r.value, n))
				break
			}
		}
	}
	if len(stale) > 0 {
		v.Outcome = linearizability.Violation
		v.Detail = fmt.Sprintf("%d stale reads; first: %s", len(stale), stale[0])
		v.VisualizationHTML = []byte("<html><body><h1>stand-in view</h1><p>" + strings.Join(stale[:1], "") + "</p></body></html>")
	}
	v.CheckDuration = time.Since(start)
	return []linearizability.Verdict{v}
}

// panicky panics in the middle of its run.
type panicky struct{ standIn }

func (p *panicky) Name() string { return "panicky" }
func (p *panicky) Start(env workloads.Env) {
	p.standIn.Start(env)
	env.Cluster.After(time.Second, func() { panic("panicky: deliberate panic one second in") })
}

// exiting kills its process mid-run, as a runtime fatal error would: only
// the worker-process path survives it.
type exiting struct{ standIn }

func (e *exiting) Name() string { return "exiting" }
func (e *exiting) Start(env workloads.Env) {
	e.standIn.Start(env)
	env.Cluster.After(time.Second, func() {
		fmt.Fprintln(os.Stderr, "exiting: deliberate exit one second in")
		os.Exit(7)
	})
}
