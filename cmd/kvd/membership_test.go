package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "go.etcd.io/etcd/api/v3/etcdserverpb"
)

// etcdctlAt runs the real etcdctl against the given endpoints and returns
// its combined output and error.
func etcdctlAt(endpoints []string, args ...string) (string, error) {
	cmd := exec.Command(etcdctlBin, append([]string{"--endpoints", strings.Join(endpoints, ","), "--command-timeout", "10s"}, args...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

type memberListJSON struct {
	Members []struct {
		ID         uint64   `json:"ID"`
		Name       string   `json:"name"`
		PeerURLs   []string `json:"peerURLs"`
		ClientURLs []string `json:"clientURLs"`
		IsLearner  bool     `json:"isLearner"`
	} `json:"members"`
}

// addedMemberID reads the id etcdctl member add printed.
func addedMemberID(t *testing.T, out string) uint64 {
	t.Helper()
	m := regexp.MustCompile(`Member\s+([0-9a-f]+) added (?:as learner )?to cluster`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("member add printed no id:\n%s", out)
	}
	id, err := strconv.ParseUint(m[1], 16, 64)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// joinProc starts a member added to the cluster: state existing, the
// current members and itself in --initial-cluster, as etcdctl member add
// tells an operator to.
func (c *procCluster) joinProc(name, dataDir string, clientPort, peerPort int, initial []string) *proc {
	clientURL := fmt.Sprintf("http://127.0.0.1:%d", clientPort)
	peerURL := fmt.Sprintf("http://127.0.0.1:%d", peerPort)
	p := &proc{
		name:      name,
		clientURL: clientURL,
		args: []string{
			"--name", name, "--data-dir", dataDir,
			"--listen-client-urls", clientURL, "--advertise-client-urls", clientURL,
			"--listen-peer-urls", peerURL, "--initial-advertise-peer-urls", peerURL,
			"--initial-cluster", strings.Join(append(initial, name+"="+peerURL), ","),
			"--initial-cluster-state", "existing", "--heartbeat-interval", "10", "--election-timeout", "100",
			"--log-level", "warn",
		},
	}
	c.procs = append(c.procs, p)
	c.start(p)
	return p
}

func (p *proc) peerURL() string {
	for i, a := range p.args {
		if a == "--initial-advertise-peer-urls" {
			return p.args[i+1]
		}
	}
	panic("no peer URL in " + strings.Join(p.args, " "))
}

func (p *proc) dataDir() string {
	for i, a := range p.args {
		if a == "--data-dir" {
			return p.args[i+1]
		}
	}
	panic("no data dir in " + strings.Join(p.args, " "))
}

// addMember runs etcdctl member add as an operator does: a leader that has
// not been connected to every voter for etcd's health interval (5 s: a new
// leader, or one on a loaded machine that missed heartbeats) answers
// "unhealthy cluster", to learners too, as etcd's; the operator retries.
func addMember(t *testing.T, endpoints []string, name string, args ...string) string {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		out, err := etcdctlAt(endpoints, append([]string{"member", "add", name}, args...)...)
		if err == nil {
			return out
		}
		if !strings.Contains(out, "unhealthy cluster") || time.Now().After(deadline) {
			t.Fatalf("member add %s %v: %v\n%s", name, args, err, out)
		}
	}
}

// TestEtcdctlMembership grows a cluster of kvd processes 3 → 4 with a
// learner, promotes it, replaces a member whose data directory was lost,
// removes one (it exits with etcd's message) and checks etcd's errors for
// bad input — all with the real etcdctl.
func TestEtcdctlMembership(t *testing.T) {
	c := startProcCluster(t, 3, "--snapshot-count", "50")
	c.leader(c.client(), nil)
	for i := range 120 { // past a snapshot: new members catch up by one
		c.etcdctl("", "put", fmt.Sprintf("k%03d", i), fmt.Sprintf("v%d", i))
	}
	var initial []string
	for _, p := range c.procs {
		initial = append(initial, p.name+"="+p.peerURL())
	}
	list := func(endpoints ...string) memberListJSON {
		t.Helper()
		if len(endpoints) == 0 {
			endpoints = []string{c.procs[0].clientURL}
		}
		var l memberListJSON
		out, err := etcdctlAt(endpoints, "member", "list", "-w", "json")
		if err != nil {
			t.Fatalf("member list: %v\n%s", err, out)
		}
		// The client's own warnings (a removed endpoint) share the output.
		line, _, _ := strings.Cut(out[strings.Index(out, `{"header"`)+1:], "\n")
		if err := json.Unmarshal([]byte("{"+line), &l); err != nil {
			t.Fatalf("member list json: %v\n%s", err, out)
		}
		return l
	}

	// Grow with a learner, then promote it once it has caught up.
	ports := freePorts(t, 4)
	learnerPeer := fmt.Sprintf("http://127.0.0.1:%d", ports[1])
	out := addMember(t, c.endpoints(), "m3", "--peer-urls", learnerPeer, "--learner")
	learnerID := addedMemberID(t, out)
	if !strings.Contains(out, `ETCD_INITIAL_CLUSTER_STATE="existing"`) {
		t.Fatalf("member add output:\n%s", out)
	}
	if got := list(); len(got.Members) != 4 || !got.Members[memberIndex(got, learnerID)].IsLearner {
		t.Fatalf("after member add --learner: %+v", got)
	}
	if out, err := etcdctlAt(c.endpoints(), "member", "add", "m9", "--peer-urls", "http://127.0.0.1:1", "--learner"); err == nil || !strings.Contains(out, "etcdserver: too many learner members in cluster") {
		t.Fatalf("second learner: %v\n%s", err, out)
	}
	learner := c.joinProc("m3", filepath.Join(t.TempDir(), "m3.etcd"), ports[0], ports[1], initial)
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, err := etcdctlAt(c.endpoints(), "member", "promote", fmt.Sprintf("%x", learnerID))
		if err == nil {
			if !strings.Contains(out, "promoted") {
				t.Fatalf("member promote output:\n%s", out)
			}
			break
		}
		if !strings.Contains(out, "etcdserver: can only promote a learner member which is in sync with leader") || time.Now().After(deadline) {
			t.Fatalf("member promote: %v\n%s", err, out)
		}
		time.Sleep(100 * time.Millisecond)
	}
	l := list(learner.clientURL)
	if len(l.Members) != 4 || l.Members[memberIndex(l, learnerID)].IsLearner || l.Members[memberIndex(l, learnerID)].Name != "m3" {
		t.Fatalf("after promote, the new member lists %+v", l)
	}
	if out, err := etcdctlAt([]string{learner.clientURL}, "get", "k119", "--consistency", "s", "--print-value-only"); err != nil || strings.TrimSpace(out) != "v119" {
		t.Fatalf("the new member serves %q, %v", out, err)
	}

	// Bad input gets etcd's errors and changes nothing.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"member", "remove", "deadbeef"}, "etcdserver: member not found"},
		{[]string{"member", "promote", fmt.Sprintf("%x", learnerID)}, "etcdserver: can only promote a learner member"},
		{[]string{"member", "add", "dup", "--peer-urls", learnerPeer + ",http://127.0.0.1:1"}, "etcdserver: Peer URLs already exists"},
	} {
		// Asked of a member that has been in the cluster for a while:
		// the new one refuses any add for its first 5 s, as etcd's. Like
		// etcd, a member checks the cluster's health before duplicates, so
		// on a loaded machine (a leader change, a peer not yet seen active)
		// an add may first meet "unhealthy cluster": an operator retries.
		for deadline := time.Now().Add(15 * time.Second); ; time.Sleep(200 * time.Millisecond) {
			out, err := etcdctlAt([]string{c.procs[0].clientURL}, tc.args...)
			if err != nil && strings.Contains(out, "unhealthy cluster") && time.Now().Before(deadline) {
				continue
			}
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("etcdctl %v: %v\n%s\nwant %q", tc.args, err, out, tc.want)
			}
			break
		}
	}
	// etcdctl and clientv3 check URLs themselves; the server's own check,
	// for clients that do not, answers as etcd's.
	raw := pb.NewClusterClient(c.client().ActiveConnection())
	if _, err := raw.MemberAdd(ctxT(t, 5*time.Second), &pb.MemberAddRequest{PeerURLs: []string{"ftp://x"}}); err == nil || !strings.Contains(err.Error(), "etcdserver: given member URLs are invalid") {
		t.Fatalf("member add with a bad URL: %v", err)
	}
	if got := list(); len(got.Members) != 4 {
		t.Fatalf("bad input changed the membership: %+v", got)
	}

	// Replace a member whose disk was lost: kill it, delete its data,
	// remove it, add it back under a new id, start it with existing.
	lost := c.procs[1]
	lostID := memberID(t, list(), lost.name)
	lost.cmd.Process.Signal(syscall.SIGKILL)
	<-lost.exited
	if err := os.RemoveAll(lost.dataDir()); err != nil {
		t.Fatal(err)
	}
	c.leader(c.client(), lost) // it may have led: wait for the next leader
	c.etcdctl("", "member", "remove", fmt.Sprintf("%x", lostID))
	// If the lost member led, its successor refuses adds until it has led
	// for etcd's health interval (5 s).
	out = addMember(t, c.endpoints(), lost.name, "--peer-urls", lost.peerURL())
	newID := addedMemberID(t, out)
	if newID == lostID {
		t.Fatalf("the replacement got the removed member's id %x", newID)
	}
	var current []string
	for _, m := range list().Members {
		if m.Name != "" {
			current = append(current, m.Name+"="+m.PeerURLs[0])
		}
	}
	lost.args = replaceArg(lost.args, "--initial-cluster-state", "existing")
	lost.args = replaceArg(lost.args, "--initial-cluster", strings.Join(append(current, lost.name+"="+lost.peerURL()), ","))
	c.start(lost)
	c.etcdctl("", "put", "after-replace", "yes")
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, err := etcdctlAt([]string{lost.clientURL}, "get", "after-replace", "--print-value-only")
		if err == nil && strings.TrimSpace(out) == "yes" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replacement member does not serve: %v\n%s\n%s", err, out, lost.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Remove a running member: it stops, with etcd's message, exit 0.
	gone := c.procs[0]
	goneID := memberID(t, list(), gone.name)
	out, err := etcdctlAt([]string{c.procs[2].clientURL}, "member", "remove", fmt.Sprintf("%x", goneID))
	if err != nil || !strings.Contains(out, "removed from cluster") {
		t.Fatalf("member remove: %v\n%s", err, out)
	}
	select {
	case <-gone.exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("the removed member still runs:\n%s", gone.log.String())
	}
	if code := gone.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(gone.log.String(), "the member has been permanently removed from the cluster") {
		t.Fatalf("removed member exited %d:\n%s", code, gone.log.String())
	}
	if got := list(c.procs[2].clientURL); len(got.Members) != 3 || memberIndex(got, goneID) >= 0 {
		t.Fatalf("after remove: %+v", got)
	}
	if out, err := etcdctlAt([]string{c.procs[2].clientURL, learner.clientURL}, "put", "after-remove", "yes"); err != nil {
		t.Fatalf("put after remove: %v\n%s", err, out)
	}

	// A member removed while it was down never hears of it through raft;
	// restarted on its old data, it asks its peers, finds itself removed,
	// and stops as a member removed while running does.
	down := lost // the replacement: a voter now
	downID := memberID(t, list(c.procs[2].clientURL), down.name)
	down.cmd.Process.Signal(syscall.SIGKILL)
	<-down.exited
	c.leader(c.client(), down)
	if out, err := etcdctlAt([]string{c.procs[2].clientURL, learner.clientURL}, "member", "remove", fmt.Sprintf("%x", downID)); err != nil {
		t.Fatalf("remove a member that is down: %v\n%s", err, out)
	}
	c.start(down)
	select {
	case <-down.exited:
	case <-time.After(20 * time.Second):
		t.Fatalf("the member removed while down runs on after its restart:\n%s", down.log.String())
	}
	if code := down.cmd.ProcessState.ExitCode(); code != 0 || !strings.Contains(down.log.String(), "the member has been permanently removed from the cluster") {
		t.Fatalf("member removed while down exited %d:\n%s", code, down.log.String())
	}
}

func memberIndex(l memberListJSON, id uint64) int {
	for i, m := range l.Members {
		if m.ID == id {
			return i
		}
	}
	return -1
}

func memberID(t *testing.T, l memberListJSON, name string) uint64 {
	t.Helper()
	for _, m := range l.Members {
		if m.Name == name {
			return m.ID
		}
	}
	t.Fatalf("no member %q in %+v", name, l)
	return 0
}

func replaceArg(args []string, flag, value string) []string {
	for i, a := range args {
		if a == flag {
			args[i+1] = value
		}
	}
	return args
}

// TestInitialCorruptCheckProcess: with etcd's InitialCorruptCheck gate a
// restarted member compares its data with its peers' before it serves
// clients, and serves when they agree (the refusal is tested in core/api,
// where members can be made to diverge).
func TestInitialCorruptCheckProcess(t *testing.T) {
	c := startProcCluster(t, 3, "--feature-gates", "InitialCorruptCheck=true", "--log-level", "info")
	c.leader(c.client(), nil)
	for i := range 20 {
		c.etcdctl("", "put", fmt.Sprintf("k%02d", i), "v")
	}
	p := c.procs[1]
	p.cmd.Process.Signal(syscall.SIGTERM)
	<-p.exited
	c.start(p)
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(p.log.String(), "initial corruption checking passed") {
		if time.Now().After(deadline) {
			t.Fatalf("no initial corruption check in the restarted member's log:\n%s", p.log.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if out, err := etcdctlAt([]string{p.clientURL}, "get", "k19", "--consistency", "s", "--print-value-only"); err != nil || strings.TrimSpace(out) != "v" {
		t.Fatalf("the checked member serves %q, %v", out, err)
	}
}
