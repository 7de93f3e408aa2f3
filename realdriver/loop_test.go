package realdriver

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kvdlabs/kvd/internal/procs"
	"github.com/kvdlabs/kvd/workloads/driver"
)

// Timers fire in order of due time, and in order of setting when due at
// once; a timer set from a callback runs on a later turn, never inside it.
func TestAfterFiresInOrder(t *testing.T) {
	l := newLoop(t, Options{Members: []Member{{ID: 1, Addr: "127.0.0.1:1"}}})
	var got []string
	start := time.Now()
	add := func(d time.Duration, name string) { l.After(d, func() { got = append(got, name) }) }
	add(30*time.Millisecond, "30ms")
	add(10*time.Millisecond, "10ms-a")
	add(20*time.Millisecond, "20ms")
	add(10*time.Millisecond, "10ms-b")
	l.After(0, func() {
		got = append(got, "0")
		add(0, "0-from-callback")
		got = append(got, "0-end")
	})
	if l.Step(start) != true || strings.Join(got, ",") != "0,0-end" {
		t.Fatalf("first step ran %v", got)
	}
	l.RunUntil(start.Add(25 * time.Millisecond))
	if want := "0,0-end,0-from-callback,10ms-a,10ms-b,20ms"; strings.Join(got, ",") != want {
		t.Fatalf("by 25 ms ran %s, want %s", strings.Join(got, ","), want)
	}
	l.RunUntil(start.Add(50 * time.Millisecond))
	if got[len(got)-1] != "30ms" || time.Since(start) < 50*time.Millisecond {
		t.Fatalf("ran %v, returned after %v", got, time.Since(start))
	}
	if l.Step(time.Now()) {
		t.Fatal("a step ran an event with none waiting")
	}
	var fired bool
	l.After(10*time.Millisecond, func() { fired = true })
	if !l.RunWhile(func() bool { return !fired }, time.Now().Add(time.Second)) || l.RunWhile(func() bool { return true }, time.Now()) {
		t.Fatal("RunWhile misreports")
	}
}

// Callbacks run one at a time on the loop's goroutine, however many calls
// complete at once.
func TestCallbacksNeverOverlap(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	var running, overlaps, completed atomic.Int64
	enter := func() {
		if running.Add(1) != 1 {
			overlaps.Add(1)
		}
		time.Sleep(100 * time.Microsecond)
		running.Add(-1)
	}
	const sessions, calls = 6, 40
	for i := range sessions {
		s := l.NewSession(driver.SessionOptions{})
		for j := range calls {
			s.Do(&pb.InternalRaftRequest{Put: &pb.PutRequest{Key: fmt.Appendf(nil, "%s/%d/%d", t.Name(), i, j)}}, func(c driver.Call) {
				enter()
				if c.Err == nil && !c.TimedOut {
					completed.Add(1)
				}
			})
			l.After(time.Duration(j)*time.Millisecond, enter)
		}
	}
	l.Observe(func(driver.Call) { enter() })
	if !l.RunWhile(func() bool { return completed.Load() < sessions*calls }, time.Now().Add(15*time.Second)) {
		t.Fatalf("%d of %d calls succeeded within 15 s", completed.Load(), sessions*calls)
	}
	if overlaps.Load() != 0 {
		t.Fatalf("%d callbacks overlapped another", overlaps.Load())
	}
	if l.pending != 0 {
		t.Fatalf("%d calls still counted in flight", l.pending)
	}
}

// A call to a member that was killed times out, indeterminate, and the
// session moves to the next member, where the next call succeeds.
func TestKilledMemberTimesOut(t *testing.T) {
	lone, err := startCluster(filepath.Join(t.TempDir(), "lone"), 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(lone.stop)
	dead := lone.procs[0]
	dead.id = 100
	live := shared.procs[0]
	l := newLoop(t, Options{Members: []Member{{ID: dead.id, Addr: dead.addr}, {ID: live.id, Addr: live.addr}}})
	const timeout = 300 * time.Millisecond
	s := l.NewSession(driver.SessionOptions{Timeout: timeout})
	// Connected first, so the call meets a broken connection, not a
	// missing one.
	mustOK[*pb.PutResponse](t, do(t, l, s, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(t.Name())}}))
	dead.kill()
	put := &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(t.Name()), Value: []byte("after")}}
	call := do(t, l, s, put)
	if !call.TimedOut || call.Err != nil || call.Response != nil || call.Member != dead.id || !call.Indeterminate() {
		t.Fatalf("call to the killed member: timed out %v, err %v, response %v, member %d", call.TimedOut, call.Err, call.Response, call.Member)
	}
	// The connection may still look up as the call leaves: then the
	// transport's failure ends it early, as indeterminate as a timeout.
	if took := call.Return.Sub(call.Invoke); took > timeout+2*time.Second {
		t.Fatalf("the call took %v, past its timeout %v", took, timeout)
	}
	if s.Target() != live.id {
		t.Fatalf("session at member %d after the timeout, want %d", s.Target(), live.id)
	}
	if call := do(t, l, s, put); call.Member != live.id || call.Err != nil || call.TimedOut {
		t.Fatalf("next call: member %d, err %v, timed out %v", call.Member, call.Err, call.TimedOut)
	}
	// A session that never reached the member waits for a connection
	// until its timeout, as a simulated call waits for a lost answer.
	fresh := l.NewSession(driver.SessionOptions{Timeout: timeout})
	fresh.SetTarget(dead.id)
	call = do(t, l, fresh, put)
	if took := call.Return.Sub(call.Invoke); !call.TimedOut || took < timeout || took > timeout+2*time.Second || fresh.Target() != live.id {
		t.Fatalf("fresh session's call to the killed member: timed out %v after %v (timeout %v), session now at %d", call.TimedOut, took, timeout, fresh.Target())
	}
	if rev, ok := l.Revision(dead.id); ok {
		t.Fatalf("the killed member reports revision %d", rev)
	}
	if rev, ok := l.Revision(live.id); !ok || rev == 0 {
		t.Fatalf("the live member's revision: %d, %v", rev, ok)
	}
}

// A watch create on a killed member times out and moves the session.
func TestWatchCreateOnDownMemberTimesOut(t *testing.T) {
	ports, err := procs.FreeLoopbackPorts(1)
	if err != nil {
		t.Fatal(err)
	}
	live := shared.procs[1]
	l := newLoop(t, Options{Members: []Member{{ID: 100, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0])}, {ID: live.id, Addr: live.addr}}})
	s := l.NewSession(driver.SessionOptions{Timeout: 200 * time.Millisecond})
	call := await(t, l, func(done func(driver.Call)) { s.Watch(&pb.WatchCreateRequest{Key: []byte("x")}, done) })
	if !call.TimedOut || call.Member != 100 || s.Target() != live.id {
		t.Fatalf("create on a down member: timed out %v, member %d; session at %d", call.TimedOut, call.Member, s.Target())
	}
	s.ReopenWatchStream()
	mustOK[*pb.WatchResponse](t, await(t, l, func(done func(driver.Call)) { s.Watch(&pb.WatchCreateRequest{Key: []byte("x")}, done) }))
}

// Member inspection: serializable local reads and hashes.
func TestInspection(t *testing.T) {
	l := newLoop(t, Options{Members: shared.members()})
	s := l.NewSession(driver.SessionOptions{})
	put := mustOK[*pb.PutResponse](t, do(t, l, s, &pb.InternalRaftRequest{Put: &pb.PutRequest{Key: []byte(t.Name()), Value: []byte("v")}}))
	rev := put.Header.Revision
	for _, id := range l.IDs() {
		// A follower may apply the put a moment after the leader answered.
		var kvs int
		for deadline := time.Now().Add(5 * time.Second); kvs == 0 && time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			rng, err := l.LocalRange(id, &pb.RangeRequest{Key: []byte(t.Name())})
			if err != nil {
				t.Fatal(err)
			}
			kvs = len(rng.Kvs)
		}
		if kvs != 1 {
			t.Fatalf("member %d's own store has %d keys for the put", id, kvs)
		}
		h, err := l.HashKV(id, rev)
		if err != nil || h.Header.Revision < rev {
			t.Fatalf("hash of member %d at %d: %v, %v", id, rev, h, err)
		}
	}
	if _, err := l.HashKV(l.IDs()[0], 1<<40); !errors.Is(err, rpctypes.ErrGRPCFutureRev) {
		t.Fatalf("hash at a future revision: %v, want ErrGRPCFutureRev wrapped", err)
	}
	if l.Up()[2] != l.IDs()[2] || l.FaultWindows() != nil {
		t.Fatal("Up and FaultWindows without their options")
	}
}

// Close cancels calls in flight: their callbacks never run, and it
// returns promptly.
func TestCloseCancelsInFlight(t *testing.T) {
	ports, err := procs.FreeLoopbackPorts(1)
	if err != nil {
		t.Fatal(err)
	}
	l, err := New(Options{Members: []Member{{ID: 1, Addr: fmt.Sprintf("127.0.0.1:%d", ports[0])}}})
	if err != nil {
		t.Fatal(err)
	}
	s := l.NewSession(driver.SessionOptions{Timeout: time.Minute})
	var ran bool
	s.Do(&pb.InternalRaftRequest{Range: &pb.RangeRequest{Key: []byte("x")}}, func(driver.Call) { ran = true })
	s.Watch(&pb.WatchCreateRequest{Key: []byte("x")}, func(driver.Call) { ran = true })
	l.RunUntil(time.Now().Add(50 * time.Millisecond))
	start := time.Now()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("Close took %v", took)
	}
	l.RunUntil(time.Now().Add(10 * time.Millisecond))
	if ran || l.Close() != nil {
		t.Fatal("a callback ran after Close, or a second Close failed")
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for name, opts := range map[string]Options{
		"no members":   {},
		"id 0":         {Members: []Member{{ID: 0, Addr: "127.0.0.1:1"}}},
		"duplicate id": {Members: []Member{{ID: 1, Addr: "127.0.0.1:1"}, {ID: 1, Addr: "127.0.0.1:2"}}},
		"url address":  {Members: []Member{{ID: 1, Addr: "http://127.0.0.1:1"}}},
	} {
		if _, err := New(opts); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// outcome: etcd errors keep their identity; what may have taken effect
// is a timeout.
func TestOutcome(t *testing.T) {
	ctx := context.Background()
	expired, cancel := context.WithTimeout(ctx, 0)
	defer cancel()
	for _, tc := range []struct {
		name     string
		ctx      context.Context
		err      error
		want     error
		timedOut bool
	}{
		{"nil", ctx, nil, nil, false},
		{"etcd error rebuilt from the wire", ctx, status.Error(codes.Unavailable, "etcdserver: leader changed"), rpctypes.ErrGRPCLeaderChanged, false},
		{"etcd error", ctx, status.Error(codes.OutOfRange, "etcdserver: mvcc: required revision has been compacted"), rpctypes.ErrGRPCCompacted, false},
		{"our deadline", expired, status.Error(codes.DeadlineExceeded, "context deadline exceeded"), nil, true},
		{"canceled", ctx, status.Error(codes.Canceled, "context canceled"), nil, true},
		{"server's canceled", ctx, rpctypes.ErrGRPCCanceled, nil, true},
		{"connection refused", ctx, status.Error(codes.Unavailable, "connection error: desc = \"transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused\""), nil, true},
		{"not a status", ctx, errors.New("EOF"), nil, true},
		{"other status", ctx, status.Error(codes.ResourceExhausted, "grpc: received message larger than max"), nil, false},
	} {
		got, timedOut := outcome(tc.ctx, tc.err)
		if tc.name == "other status" {
			if got != tc.err || timedOut {
				t.Errorf("%s: %v, %v; want the status error as is", tc.name, got, timedOut)
			}
			continue
		}
		if got != tc.want || timedOut != tc.timedOut {
			t.Errorf("%s: %v, timed out %v; want %v, %v", tc.name, got, timedOut, tc.want, tc.timedOut)
		}
	}
}

// etcdErrorList holds every ErrGRPC* variable rpctypes declares (but the
// deprecated alias): a new one in an upgrade must join it.
func TestEtcdErrorListComplete(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "go.etcd.io/etcd/api/v3").Output()
	if err != nil {
		t.Skipf("cannot locate go.etcd.io/etcd/api/v3: %v", err)
	}
	src, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "v3rpc", "rpctypes", "error.go"))
	if err != nil {
		t.Fatal(err)
	}
	decls := regexp.MustCompile(`(?m)^\s*(ErrGRPC\w+)\s*=\s*status\.Error\(`).FindAllStringSubmatch(string(src), -1)
	var names []string
	for _, d := range decls {
		names = append(names, d[1])
	}
	if len(names) != len(etcdErrorList) || len(etcdErrors) != len(etcdErrorList) {
		t.Fatalf("rpctypes declares %d ErrGRPC* errors (%v); the list holds %d, %d distinct", len(names), names, len(etcdErrorList), len(etcdErrors))
	}
}
