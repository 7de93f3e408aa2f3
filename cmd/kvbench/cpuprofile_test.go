package main

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/google/pprof/profile"
)

func TestCPUOwnerNamesWhoSpentTheSample(t *testing.T) {
	for _, tc := range []struct {
		name  string
		stack []string // leaf first
		want  string
	}{
		{"kvd store", []string{"runtime.memmove", "github.com/kvdlabs/kvd/core/mvcc.(*Store).put", "github.com/kvdlabs/kvd/core/node.(*Node).apply"}, ownerServer},
		{"etcd backend", []string{"runtime.mallocgc", "go.etcd.io/bbolt.(*Tx).Commit", "go.etcd.io/etcd/server/v3/storage/backend.(*batchTx).commit"}, ownerServer},
		{"allocation in grpc", []string{"runtime.mallocgc", "runtime.makeslice", "google.golang.org/grpc/internal/transport.(*http2Server).operateHeaders"}, ownerGRPC},
		{"http2 framing", []string{"golang.org/x/net/http2.(*Framer).ReadFrame", "google.golang.org/grpc/internal/transport.(*http2Server).HandleStreams"}, ownerGRPC},
		{"protobuf for kvd", []string{"google.golang.org/protobuf/internal/impl.consumeBytes", "google.golang.org/protobuf/proto.Unmarshal", "github.com/kvdlabs/kvd/core/node.(*Node).decodeRequest"}, ownerProto},
		{"etcd's generated codec", []string{"go.etcd.io/etcd/api/v3/etcdserverpb.(*PutRequest).Unmarshal", "go.etcd.io/etcd/server/v3/etcdserver.(*EtcdServer).apply"}, ownerProto},
		{"raft", []string{"sort.Sort", "go.etcd.io/raft/v3/quorum.MajorityConfig.CommittedIndex", "go.etcd.io/raft/v3.(*raft).maybeCommit"}, ownerRaft},
		{"wal fsync", []string{"internal/runtime/syscall/linux.Syscall6", "syscall.Syscall", "syscall.Fsync", "os.(*File).Sync", "github.com/kvdlabs/kvd/core/disk.(*osFile).Sync", "github.com/kvdlabs/kvd/core/wal.(*WAL).sync"}, ownerDiskCalls},
		{"etcd wal fdatasync", []string{"syscall.Syscall", "syscall.Fdatasync", "go.etcd.io/etcd/client/pkg/v3/fileutil.Fdatasync", "go.etcd.io/etcd/server/v3/storage/wal.(*WAL).sync"}, ownerDiskCalls},
		{"grpc write", []string{"syscall.Syscall", "syscall.write", "internal/poll.(*FD).Write", "net.(*conn).Write", "bufio.(*Writer).Flush", "google.golang.org/grpc/internal/transport.(*bufWriter).Flush"}, ownerNetCalls},
		{"kvd peer send", []string{"syscall.write", "net.(*conn).Write", "github.com/kvdlabs/kvd/core/transport.(*peer).stream"}, ownerNetCalls},
		{"etcd peer send", []string{"syscall.write", "net.(*conn).Write", "go.etcd.io/etcd/server/v3/etcdserver/api/rafthttp.(*streamWriter).run"}, ownerNetCalls},
		{"kvd client conn", []string{"syscall.read", "net.(*conn).Read", "github.com/kvdlabs/kvd/core/api.(*prefixConn).Read", "bufio.(*Reader).Read"}, ownerNetCalls},
		{"etcd peer read", []string{"syscall.read", "net.(*conn).Read", "net/http.(*persistConn).Read"}, ownerNetCalls},
		{"etcd cmux", []string{"syscall.read", "net.(*conn).Read", "github.com/soheilhy/cmux.(*bufferedReader).Read"}, ownerNetCalls},
		{"etcd timeout conn", []string{"syscall.write", "go.etcd.io/etcd/client/pkg/v3/transport.timeoutConn.Write"}, ownerNetCalls},
		{"netpoll", []string{"internal/runtime/syscall/linux.EpollWait", "runtime.netpoll", "runtime.findRunnable", "runtime.schedule"}, ownerRuntime},
		{"background mark", []string{"runtime.scanobject", "runtime.gcDrain", "runtime.gcBgMarkWorker.func2", "runtime.systemstack", "runtime.gcBgMarkWorker"}, ownerGC},
		{"assist", []string{"runtime.scanobject", "runtime.gcAssistAlloc1", "runtime.gcAssistAlloc", "runtime.mallocgc", "github.com/kvdlabs/kvd/core/mvcc.(*Store).put"}, ownerGC},
		{"scheduler", []string{"runtime.futex", "runtime.notesleep", "runtime.stopm", "runtime.schedule"}, ownerRuntime},
		{"metrics", []string{"github.com/prometheus/client_golang/prometheus.(*histogram).Observe", "github.com/kvdlabs/kvd/core/api.(*metrics).unaryInterceptor"}, ownerOther},
	} {
		if got := cpuOwner(tc.stack); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A profile of known samples splits as they say: inline frames count from
// the innermost, and only the cpu/nanoseconds values are added up.
func TestCPUSharesAddsUpAProfileByOwner(t *testing.T) {
	fns := map[string]*profile.Function{}
	fn := func(name string) *profile.Function {
		if f, ok := fns[name]; ok {
			return f
		}
		f := &profile.Function{ID: uint64(len(fns) + 1), Name: name}
		fns[name] = f
		return f
	}
	loc := func(id uint64, names ...string) *profile.Location { // names innermost first: inlined
		l := &profile.Location{ID: id}
		for _, n := range names {
			l.Line = append(l.Line, profile.Line{Function: fn(n)})
		}
		return l
	}
	memmove := loc(1, "runtime.memmove")
	put := loc(2, "github.com/kvdlabs/kvd/core/mvcc.(*Store).put")
	// proto.Unmarshal inlined into a grpc frame: the innermost owns it.
	inlined := loc(3, "google.golang.org/protobuf/proto.Unmarshal", "google.golang.org/grpc.(*Server).processUnaryRPC")
	mark := loc(4, "runtime.gcBgMarkWorker")
	p := &profile.Profile{
		SampleType: []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{memmove, put}, Value: []int64{3, 30e6}},
			{Location: []*profile.Location{memmove, inlined}, Value: []int64{1, 10e6}},
			{Location: []*profile.Location{mark}, Value: []int64{6, 60e6}},
		},
		Location: []*profile.Location{memmove, put, inlined, mark},
		Period:   10e6, PeriodType: &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
	}
	for _, f := range fns {
		p.Function = append(p.Function, f)
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	shares, total, err := cpuShares([][]byte{buf.Bytes(), buf.Bytes()})
	if err != nil {
		t.Fatal(err)
	}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-9 }
	if !near(total, 0.2) || !near(shares[ownerServer], 0.06) || !near(shares[ownerProto], 0.02) || !near(shares[ownerGC], 0.12) || len(shares) != 3 {
		t.Errorf("total %v, shares %v", total, shares)
	}
	if _, _, err := cpuShares([][]byte{[]byte("not a profile")}); err == nil {
		t.Error("garbage parsed as a profile")
	}
}

func TestReportSaysWhoSpentTheCPU(t *testing.T) {
	r := &VsReport{CPUProfiles: []CPUProfile{
		{System: "kvd", Load: "put", ServerCPUUsPerOp: 100, UsPerOp: map[string]float64{ownerServer: 40, ownerGRPC: 60}},
		{System: "etcd", Load: "put", ServerCPUUsPerOp: 150, UsPerOp: map[string]float64{ownerServer: 90, ownerGRPC: 60}},
	}}
	md := r.Markdown()
	for _, want := range []string{
		"## Where the servers' CPU goes", "### put",
		"| the server's own code | 40.0 | 90.0 | -50.0 |",
		"| gRPC and HTTP/2 (grpc-go, x/net) | 60.0 | 60.0 | +0.0 |",
		"| total | 100.0 | 150.0 | -50.0 |",
	} {
		if !strings.Contains(md, want) {
			t.Errorf("report lacks %q:\n%s", want, md)
		}
	}
	if (&VsReport{}).cpuProfilesMarkdown() != "" {
		t.Error("a report without profiled runs has a profiles section")
	}
}
