package parity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/kvdlabs/kvd/internal/procs"
)

// Binaries built once for the package: kvd from this tree, etcd and etcdctl
// v3.7.3 from the Go module proxy (tools/build.sh, as make etcd does).
var kvdBin, etcdBin, etcdctlBin string

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	bins, cleanup, err := procs.BuildInTemp(filepath.Join(filepath.Dir(file), "..", "..", ".."), "kvd", "etcd", "etcdctl")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kvdBin, etcdBin, etcdctlBin = bins[0], bins[1], bins[2]
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// member is one member of a cluster of one system, as a process on
// loopback that this test started (and alone stops).
type member struct {
	system     string
	name       string
	clientURL  string
	peerURL    string
	cmd        *exec.Cmd
	log        *procs.Output
	exited     chan struct{}
	cli        *clientv3.Client // talks to this member only
	clusterID  uint64
	memberID   uint64
	clientPort string
	peerPort   string
	// peers are every member of the cluster, this one included, in
	// name order.
	peers []*member
}

// watchProgressNotifyInterval is short, so a watch step sees one.
const watchProgressNotifyInterval = 300 * time.Millisecond

// startCluster starts size processes of bin with etcd's flags as one
// cluster (members named "parity" alone, else member-a, member-b, ...), and waits
// until each answers a linearizable read.
func startCluster(t *testing.T, system, bin string, size int) []*member {
	t.Helper()
	for attempt := 1; ; attempt++ {
		ms, err := launchCluster(t, system, bin, size)
		if err == nil {
			for _, m := range ms {
				m.waitPublished(t, len(ms))
			}
			return ms
		}
		// Ports are reserved, released, then bound by the child: another
		// test package running alongside can take one in between. New
		// ports, new cluster.
		for _, m := range ms {
			m.stop(t)
		}
		if attempt == clusterStartAttemptsMax {
			t.Fatalf("%s cluster: %v, %d attempts", system, err, attempt)
		}
		t.Logf("%s cluster: %v; starting again on other ports", system, err)
	}
}

// clusterStartAttemptsMax bounds the cluster starts that lose a port.
const clusterStartAttemptsMax = 3

// errPortTaken: a member exited because a port given to it was bound by
// another process first.
var errPortTaken = errors.New("a member's port was taken before it bound it")

// launchCluster starts the processes and waits until each serves; it
// returns errPortTaken (with the members started) when one lost a port.
func launchCluster(t *testing.T, system, bin string, size int) ([]*member, error) {
	ports := freePorts(t, 2*size)
	dir := t.TempDir()
	var ms []*member
	var initial []string
	for i := range size {
		m := &member{
			system: system, name: "parity",
			clientPort: strconv.Itoa(ports[2*i]), peerPort: strconv.Itoa(ports[2*i+1]),
			log: &procs.Output{}, exited: make(chan struct{}),
		}
		if size > 1 {
			m.name = fmt.Sprintf("member-%c", 'a'+i)
		}
		m.clientURL = "http://127.0.0.1:" + m.clientPort
		m.peerURL = "http://127.0.0.1:" + m.peerPort
		initial = append(initial, m.name+"="+m.peerURL)
		ms = append(ms, m)
	}
	for _, m := range ms {
		m.peers = ms
		args := []string{
			"--name", m.name, "--data-dir", filepath.Join(dir, m.name+".etcd"),
			"--listen-client-urls", m.clientURL, "--advertise-client-urls", m.clientURL,
			"--listen-peer-urls", m.peerURL, "--initial-advertise-peer-urls", m.peerURL,
			"--initial-cluster", strings.Join(initial, ","), "--initial-cluster-token", "parity",
			// Elections stay out of the script: at a 100 ms election
			// timeout a loaded CI machine deposed etcd's leader mid-step, and
			// the dropped conf change held "member update the learner" until
			// its 20 s deadline.
			"--initial-cluster-state", "new", "--heartbeat-interval", "50", "--election-timeout", "1000",
			"--log-level", "error", "--watch-progress-notify-interval", watchProgressNotifyInterval.String(),
		}
		m.cmd = exec.Command(bin, args...)
		m.cmd.Stdout, m.cmd.Stderr = m.log, m.log
		if err := m.cmd.Start(); err != nil {
			t.Fatalf("start %s %s: %v", system, m.name, err)
		}
		go func() { m.cmd.Wait(); close(m.exited) }()
		t.Cleanup(func() { m.stop(t) })
	}
	for _, m := range ms {
		if err := m.waitServing(t); err != nil {
			return ms, err
		}
	}
	return ms, nil
}

// waitPublished waits until m lists members members, each with the name
// it published. etcd opens its client port only once its own name is
// applied, so its first answers already list every name; kvd serves
// before, and a script started then met a member list missing the
// leader's name (a clean-clone CI run).
func (m *member) waitPublished(t *testing.T, members int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := m.cli.MemberList(ctx)
		cancel()
		named := 0
		if err == nil {
			for _, mm := range resp.Members {
				if mm.Name != "" && len(mm.ClientURLs) > 0 {
					named++
				}
			}
		}
		if named == members {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s did not list %d named members within 30s: %d named, %v", m.system, m.name, members, named, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// stop ends the process with SIGTERM (SIGKILL after 10 s).
func (m *member) stop(t *testing.T) {
	if m.cli != nil {
		m.cli.Close()
	}
	m.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-m.exited:
	case <-time.After(10 * time.Second):
		m.cmd.Process.Kill()
		<-m.exited
	}
	if t.Failed() {
		t.Logf("%s %s log:\n%s", m.system, m.name, m.log.String())
	}
}

// waitServing connects m's client and waits until m answers a linearizable
// read, which also tells its cluster and member ids.
func (m *member) waitServing(t *testing.T) error {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{m.clientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("%s client: %v", m.system, err)
	}
	m.cli = cli
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := cli.Get(ctx, "parity-ready-probe")
		cancel()
		if err == nil {
			m.clusterID, m.memberID = resp.Header.ClusterId, resp.Header.MemberId
			return nil
		}
		select {
		case <-m.exited:
			if strings.Contains(m.log.String(), "address already in use") {
				return fmt.Errorf("%w: %s %s", errPortTaken, m.system, m.name)
			}
			t.Fatalf("%s %s exited before it served: %v\n%s", m.system, m.name, m.cmd.ProcessState, m.log.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s %s did not serve within 30s: %v", m.system, m.name, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// freePorts reserves n loopback ports for a member.
func freePorts(t *testing.T, n int) []int {
	ports, err := procs.FreeLoopbackPorts(n)
	if err != nil {
		t.Fatal(err)
	}
	return ports
}

// etcdctl runs the real etcdctl against m and returns what it printed
// (stdout, then stderr) and its exit status, so failures compare too.
func (m *member) etcdctl(stdin string, args ...string) string {
	return etcdctlAt([]*member{m}, stdin, args...)
}

// etcdctlAt runs etcdctl with the endpoints of ms.
func etcdctlAt(ms []*member, stdin string, args ...string) string {
	var eps []string
	for _, m := range ms {
		eps = append(eps, m.clientURL)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, etcdctlBin, append([]string{"--endpoints", strings.Join(eps, ","), "--command-timeout", "10s"}, args...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		return fmt.Sprintf("etcdctl did not run: %v", err)
	}
	out := stdout.String()
	if stderr.Len() > 0 {
		out += "[stderr]\n" + etcdctlLogLine.ReplaceAllString(stderr.String(), "")
	}
	if code != 0 {
		out += fmt.Sprintf("[exit %d]\n", code)
	}
	return out
}

// etcdctlLogLine matches the JSON log lines the client library writes to
// stderr on its own (retries, with timestamps): not part of the answer.
var etcdctlLogLine = regexp.MustCompile(`(?m)^\{"level".*\n`)

// normalizer rewrites what must differ between two systems answering the
// same script: cluster and member ids, ports, and ids the server chose
// (leases). Nothing else is touched.
type normalizer struct {
	m *member
	// ids are server-chosen ids seen so far, in order of first sight; the
	// same script gives both systems' ids the same placeholders.
	ids []uint64
	// roles name each member of a cluster by what it is to the script
	// ("self" the member it talks to, "leader", "other"): which member
	// an election makes leader must differ between two clusters.
	roles map[*member]string
}

// roleOf is role of the member called name.
func (n *normalizer) roleOf(name string) string {
	for _, p := range n.m.peers {
		if p.name == name {
			return n.role(p)
		}
	}
	return name
}

// byRole is the member with that role in a cluster.
func (n *normalizer) byRole(role string) *member {
	for p, r := range n.roles {
		if r == role {
			return p
		}
	}
	panic("parity: no member with role " + role)
}

// role is how answers name p: its role in a cluster, its name alone.
func (n *normalizer) role(p *member) string {
	if r, ok := n.roles[p]; ok {
		return r
	}
	return p.name
}

// learnID records a server-chosen id (a lease granted without one).
func (n *normalizer) learnID(id int64) {
	if id == 0 || slices.Contains(n.ids, uint64(id)) {
		return
	}
	n.ids = append(n.ids, uint64(id))
}

// text normalizes an answer already rendered as text.
func (n *normalizer) text(s string) string {
	type rep struct{ from, to string }
	var reps []rep
	add := func(v uint64, name string) {
		reps = append(reps,
			rep{strconv.FormatUint(v, 10), name},
			rep{fmt.Sprintf("%016x", v), name},
			rep{strconv.FormatUint(v, 16), name},
			rep{strconv.FormatInt(int64(v), 10), name})
	}
	add(n.m.clusterID, "<cluster-id>")
	for _, p := range n.m.peers {
		// A lone member keeps the short names of the one-member script.
		suffix := ""
		if len(n.m.peers) > 1 {
			suffix = " " + n.role(p)
			reps = append(reps, rep{p.name, "<name " + n.role(p) + ">"})
		}
		add(p.memberID, "<member-id"+suffix+">")
		reps = append(reps, rep{"127.0.0.1:" + p.clientPort, "<client-addr" + suffix + ">"}, rep{"127.0.0.1:" + p.peerPort, "<peer-addr" + suffix + ">"})
	}
	for i, id := range n.ids {
		add(id, fmt.Sprintf("<id-%d>", i+1))
	}
	// Longest first, so no replacement cuts into a longer one.
	sort.SliceStable(reps, func(i, j int) bool { return len(reps[i].from) > len(reps[j].from) })
	for _, r := range reps {
		s = strings.ReplaceAll(s, r.from, r.to)
	}
	s = etcdctlTook.ReplaceAllString(s, "took <duration>")
	// A lease's remaining TTL is a clock reading (see remainingTTL).
	s = etcdctlRemaining.ReplaceAllString(s, "remaining(<ttl>)")
	return s
}

var (
	etcdctlTook      = regexp.MustCompile(`took =? ?[0-9.]+[µnm]?s`)
	etcdctlRemaining = regexp.MustCompile(`remaining\([0-9]+s\)`)
)

// answer renders one call's result as indented JSON with bytes fields
// decoded, so a difference prints readably.
func (n *normalizer) answer(v any) string {
	return n.text(render(v))
}

// render turns protos, errors, strings and lists of them into stable text.
func render(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		return v
	case error:
		st, _ := status.FromError(v)
		return fmt.Sprintf("error code=%s message=%q", st.Code(), st.Message())
	case proto.Message:
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(v)
		if err != nil {
			return fmt.Sprintf("unrenderable %T: %v", v, err)
		}
		var tree any
		if err := json.Unmarshal(b, &tree); err != nil {
			return fmt.Sprintf("unrenderable %T: %v", v, err)
		}
		out, _ := json.MarshalIndent(decodeBytes(tree, ""), "", "  ")
		return string(out)
	case []any:
		var parts []string
		for i, e := range v {
			parts = append(parts, fmt.Sprintf("[%d] %s", i, render(e)))
		}
		return strings.Join(parts, "\n")
	default:
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return fmt.Sprintf("%#v", v)
		}
		return string(b)
	}
}

// bytesFields are the proto fields that hold bytes (base64 in protojson).
var bytesFields = map[string]bool{"key": true, "value": true, "range_end": true}

func decodeBytes(v any, field string) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			v[k] = decodeBytes(e, k)
		}
		return v
	case []any:
		for i, e := range v {
			v[i] = decodeBytes(e, field)
		}
		return v
	case string:
		if bytesFields[field] {
			if b, err := base64.StdEncoding.DecodeString(v); err == nil {
				if utf8.Valid(b) {
					return string(b)
				}
				return fmt.Sprintf("bytes:%x", b)
			}
		}
		return v
	default:
		return v
	}
}
