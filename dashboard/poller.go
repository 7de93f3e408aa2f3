package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Options configure a Poller. Zero fields take the documented defaults
// (EnsureDefaults); Validate reports every problem at once.
type Options struct {
	// Interval is how often every member is polled and a new view pushed;
	// default 1 s.
	Interval time.Duration
	// HistoryPoints bounds the sparkline's history, one point an
	// interval; default 300 (five minutes at 1 s).
	HistoryPoints int
	// LatencyWindowPolls is how many polls the p99 is computed over;
	// default 5.
	LatencyWindowPolls int
	// FetchTimeout bounds one member's answer; a member slower than this
	// is shown down. Default 800 ms.
	FetchTimeout time.Duration
	// MemberJSONBytesMax bounds a member's answer; default 64 KiB.
	MemberJSONBytesMax int64
	// Client fetches other members' member.json (set its TLS for https
	// client URLs); default a client with Go's default transport.
	Client *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// EnsureDefaults fills every zero field with its documented default.
func (o *Options) EnsureDefaults() {
	if o.Interval == 0 {
		o.Interval = time.Second
	}
	if o.HistoryPoints == 0 {
		o.HistoryPoints = 300
	}
	if o.LatencyWindowPolls == 0 {
		o.LatencyWindowPolls = 5
	}
	if o.FetchTimeout == 0 {
		o.FetchTimeout = 800 * time.Millisecond
	}
	if o.MemberJSONBytesMax == 0 {
		o.MemberJSONBytesMax = 64 << 10
	}
	if o.Client == nil {
		o.Client = &http.Client{}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
}

// Validate reports every invalid field.
func (o *Options) Validate() error {
	var errs []error
	if o.Interval < 0 {
		errs = append(errs, fmt.Errorf("dashboard: Options.Interval %v must be positive", o.Interval))
	}
	if o.HistoryPoints < 0 {
		errs = append(errs, fmt.Errorf("dashboard: Options.HistoryPoints %d must be positive", o.HistoryPoints))
	}
	if o.LatencyWindowPolls < 0 {
		errs = append(errs, fmt.Errorf("dashboard: Options.LatencyWindowPolls %d must be positive", o.LatencyWindowPolls))
	}
	if o.FetchTimeout < 0 || o.FetchTimeout > o.Interval && o.Interval > 0 {
		errs = append(errs, fmt.Errorf("dashboard: Options.FetchTimeout %v must be positive and at most Interval %v", o.FetchTimeout, o.Interval))
	}
	if o.MemberJSONBytesMax < 0 {
		errs = append(errs, fmt.Errorf("dashboard: Options.MemberJSONBytesMax %d must be positive", o.MemberJSONBytesMax))
	}
	return errors.Join(errs...)
}

// View is what the page shows: one poll of the whole cluster.
type View struct {
	TimeUnixMs int64        `json:"time_unix_ms"`
	IntervalMs int64        `json:"interval_ms"`
	ServedBy   string       `json:"served_by"`
	Cluster    ClusterView  `json:"cluster"`
	Members    []MemberView `json:"members"`
	History    []Point      `json:"history"`
}

// ClusterView sums the cluster up.
type ClusterView struct {
	// Health is "healthy", "degraded" (a member is down but a quorum and
	// a leader remain) or "unhealthy" (no leader, no quorum, or an alarm);
	// Reason says why in words.
	Health   string `json:"health"`
	Reason   string `json:"reason"`
	Leader   string `json:"leader"` // the leader's name; "" when none
	LeaderID string `json:"leader_id"`
	Term     uint64 `json:"term"`
	// MembersUp counts members that answered this poll.
	MembersTotal int `json:"members_total"`
	MembersUp    int `json:"members_up"`
	Keys         int `json:"keys"`
	Watchers     int `json:"watchers"`
	Leases       int `json:"leases"`
	// Reads and writes a second over every member that answered.
	ReadsPerSecond  float64 `json:"reads_per_second"`
	WritesPerSecond float64 `json:"writes_per_second"`
	// P99Ms is the p99 latency of client KV calls over the last
	// LatencyWindowPolls polls; -1 when there were none.
	P99Ms         float64  `json:"p99_ms"`
	LeaderChanges uint64   `json:"leader_changes"`
	Alarms        []string `json:"alarms,omitempty"`
}

// MemberView is one member as the page shows it: its last figures, and
// whether it answered this poll.
type MemberView struct {
	Member
	// Index is the member's position in id order: its colour (theme).
	Index int  `json:"index"`
	Up    bool `json:"up"`
	// Error is why the last fetch failed, when Up is false.
	Error string `json:"error,omitempty"`
	// LastSeenUnixMs is when the member last answered; 0: never.
	LastSeenUnixMs  int64   `json:"last_seen_unix_ms"`
	ReadsPerSecond  float64 `json:"reads_per_second"`
	WritesPerSecond float64 `json:"writes_per_second"`
}

// Point is one poll's cluster figures, for the sparklines.
type Point struct {
	TimeUnixMs      int64   `json:"t"`
	ReadsPerSecond  float64 `json:"r"`
	WritesPerSecond float64 `json:"w"`
	P99Ms           float64 `json:"p99"`
}

// Poller polls every member and keeps the newest View for the pages
// subscribed to it.
type Poller struct {
	src   Source
	opts  Options
	start sync.Once

	mu   sync.Mutex
	last []byte // the newest View, encoded
	subs map[chan []byte]struct{}

	// Touched by the polling goroutine only.
	known   map[uint64]memberState
	history []Point
	// latency holds the summed latency deltas of the last polls.
	latency [][]Bucket
}

// memberState is what the poller remembers of a member between polls.
type memberState struct {
	last     Member
	lastSeen time.Time
	// sampled is false until a first answer: no rate before two.
	sampled bool
}

// NewPoller returns a poller of src's cluster; nothing runs until Start.
func NewPoller(src Source, opts Options) (*Poller, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &Poller{src: src, opts: opts, subs: map[chan []byte]struct{}{}, known: map[uint64]memberState{}}, nil
}

// Start polls until ctx is done; calls after the first do nothing. The
// first poll completes before Start returns, so a page never opens empty.
func (p *Poller) Start(ctx context.Context) {
	p.start.Do(func() {
		p.poll(ctx)
		go p.run(ctx)
	})
}

func (p *Poller) run(ctx context.Context) {
	t := time.NewTicker(p.opts.Interval)
	defer t.Stop()
	defer func() {
		p.mu.Lock()
		for ch := range p.subs {
			close(ch)
			delete(p.subs, ch)
		}
		p.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			p.poll(ctx)
		}
	}
}

// Latest is the newest view, encoded as JSON; nil before the first poll.
func (p *Poller) Latest() []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.last
}

// Subscribe returns a channel that receives every new view (a slow reader
// skips to the newest) and is closed when the poller stops; cancel ends
// the subscription.
func (p *Poller) Subscribe() (views <-chan []byte, cancel func()) {
	ch := make(chan []byte, 1)
	p.mu.Lock()
	p.subs[ch] = struct{}{}
	p.mu.Unlock()
	return ch, func() {
		p.mu.Lock()
		defer p.mu.Unlock()
		if _, ok := p.subs[ch]; ok {
			delete(p.subs, ch)
			close(ch)
		}
	}
}

func (p *Poller) publish(b []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.last = b
	for ch := range p.subs {
		select {
		case <-ch: // drop the unread older view
		default:
		}
		ch <- b
	}
}

// answer is one member's reply to a poll.
type answer struct {
	m   Member
	err error
}

func (p *Poller) poll(ctx context.Context) {
	peers := p.src.Peers()
	answers := make([]answer, len(peers))
	var wg sync.WaitGroup
	for i, peer := range peers {
		if peer.ID == p.src.SelfID() {
			answers[i] = answer{m: p.src.Self()}
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			answers[i].m, answers[i].err = p.fetch(ctx, peer)
		}()
	}
	wg.Wait()
	now := p.opts.Now()
	v := p.judge(now, peers, answers)
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("dashboard: encode view: %v", err)) // plain data: cannot fail
	}
	p.publish(b)
}

// fetch asks one member for its figures, trying its client URLs in order.
func (p *Poller) fetch(ctx context.Context, peer Peer) (Member, error) {
	if len(peer.ClientURLs) == 0 {
		return Member{}, errors.New("no client URL published yet")
	}
	var errs []error
	for _, u := range peer.ClientURLs {
		m, err := p.fetchURL(ctx, strings.TrimSuffix(u, "/")+"/dashboard/member.json")
		if err == nil {
			return m, nil
		}
		errs = append(errs, err)
	}
	return Member{}, errors.Join(errs...)
}

func (p *Poller) fetchURL(ctx context.Context, url string) (Member, error) {
	ctx, cancel := context.WithTimeout(ctx, p.opts.FetchTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Member{}, fmt.Errorf("GET %s: %w", url, err)
	}
	resp, err := p.opts.Client.Do(req)
	if err != nil {
		return Member{}, err // names the URL already
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Member{}, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	var m Member
	if err := json.NewDecoder(io.LimitReader(resp.Body, p.opts.MemberJSONBytesMax)).Decode(&m); err != nil {
		return Member{}, fmt.Errorf("GET %s: decode: %w", url, err)
	}
	return m, nil
}

// judge turns one poll's answers into the view, remembering what the
// next poll's rates need.
func (p *Poller) judge(now time.Time, peers []Peer, answers []answer) View {
	v := View{TimeUnixMs: now.UnixMilli(), IntervalMs: p.opts.Interval.Milliseconds(), Members: make([]MemberView, len(peers))}
	var latency []Bucket
	leaders := map[string]int{}
	voters := 0
	var leaderFigures *Member
	present := map[uint64]bool{}
	for i, peer := range peers {
		present[peer.ID] = true
		if !peer.IsLearner {
			voters++
		}
		st := p.known[peer.ID]
		mv := MemberView{Index: i}
		a := answers[i]
		if a.err != nil {
			mv.Member = st.last
			mv.Error = a.err.Error()
		} else {
			mv.Member, mv.Up = a.m, true
			if st.sampled {
				dt := now.Sub(st.lastSeen).Seconds()
				mv.ReadsPerSecond = rate(st.last.Reads, a.m.Reads, dt)
				mv.WritesPerSecond = rate(st.last.Writes, a.m.Writes, dt)
				latency = addBuckets(latency, deltaBuckets(st.last.Latency, a.m.Latency))
			}
			st = memberState{last: a.m, lastSeen: now, sampled: true}
			p.known[peer.ID] = st
		}
		if mv.Name == "" {
			mv.Name = peer.Name
		}
		if mv.ID == "" {
			mv.ID = strconv.FormatUint(peer.ID, 16)
		}
		if !st.lastSeen.IsZero() {
			mv.LastSeenUnixMs = st.lastSeen.UnixMilli()
		}
		if peer.ID == p.src.SelfID() {
			v.ServedBy = mv.Name
		}
		v.Members[i] = mv
		if !mv.Up {
			continue
		}
		v.Cluster.MembersUp++
		v.Cluster.ReadsPerSecond += mv.ReadsPerSecond
		v.Cluster.WritesPerSecond += mv.WritesPerSecond
		v.Cluster.Watchers += mv.Watchers
		v.Cluster.Term = max(v.Cluster.Term, mv.Term)
		v.Cluster.LeaderChanges = max(v.Cluster.LeaderChanges, mv.LeaderChanges)
		for _, a := range mv.Alarms {
			if !slices.Contains(v.Cluster.Alarms, a) {
				v.Cluster.Alarms = append(v.Cluster.Alarms, a)
			}
		}
		if mv.LeaderID != "" && mv.LeaderID != "0" {
			leaders[mv.LeaderID]++
		}
		if mv.Role == "leader" {
			leaderFigures = &v.Members[i].Member
		}
	}
	for id := range p.known {
		if !present[id] {
			delete(p.known, id) // removed from the cluster
		}
	}
	v.Cluster.MembersTotal = len(peers)
	// The leader is the one most members that answered name.
	for id, n := range leaders {
		if n > leaders[v.Cluster.LeaderID] || n == leaders[v.Cluster.LeaderID] && id < v.Cluster.LeaderID {
			v.Cluster.LeaderID = id
		}
	}
	for _, mv := range v.Members {
		if mv.ID == v.Cluster.LeaderID && v.Cluster.LeaderID != "" {
			v.Cluster.Leader = mv.Name
		}
	}
	// Keys and leases are the cluster's: the leader's figures are the
	// newest; without one, the most advanced member that answered.
	if leaderFigures == nil {
		for i := range v.Members {
			if v.Members[i].Up && (leaderFigures == nil || v.Members[i].AppliedIndex > leaderFigures.AppliedIndex) {
				leaderFigures = &v.Members[i].Member
			}
		}
	}
	if leaderFigures != nil {
		v.Cluster.Keys, v.Cluster.Leases = leaderFigures.Keys, leaderFigures.Leases
	}
	v.Cluster.Health, v.Cluster.Reason = health(v, voters)

	p.latency = append(p.latency, latency)
	if len(p.latency) > p.opts.LatencyWindowPolls {
		p.latency = p.latency[len(p.latency)-p.opts.LatencyWindowPolls:]
	}
	var window []Bucket
	for _, l := range p.latency {
		window = addBuckets(window, l)
	}
	v.Cluster.P99Ms = quantile(window, 0.99) * 1000
	if math.IsNaN(v.Cluster.P99Ms) {
		v.Cluster.P99Ms = -1
	}
	p.history = append(p.history, Point{TimeUnixMs: v.TimeUnixMs, ReadsPerSecond: v.Cluster.ReadsPerSecond,
		WritesPerSecond: v.Cluster.WritesPerSecond, P99Ms: v.Cluster.P99Ms})
	if len(p.history) > p.opts.HistoryPoints {
		p.history = slices.Delete(p.history, 0, len(p.history)-p.opts.HistoryPoints)
	}
	v.History = slices.Clone(p.history)
	return v
}

// health says in a word and a sentence how the cluster is.
func health(v View, voters int) (string, string) {
	var down []string
	for _, m := range v.Members {
		if !m.Up {
			down = append(down, m.Name)
		}
	}
	upVoters := 0
	for _, m := range v.Members {
		if m.Up && m.Role != "learner" {
			upVoters++
		}
	}
	switch {
	case upVoters < voters/2+1:
		return "unhealthy", fmt.Sprintf("no quorum: %d of %d voting members answer (down: %s)", upVoters, voters, strings.Join(down, ", "))
	case v.Cluster.LeaderID == "":
		return "unhealthy", "the cluster has no leader"
	case len(v.Cluster.Alarms) > 0:
		return "unhealthy", "alarm raised: " + strings.Join(v.Cluster.Alarms, ", ")
	case len(down) > 0:
		return "degraded", "unreachable: " + strings.Join(down, ", ")
	}
	return "healthy", fmt.Sprintf("all %d members up, leader %s", len(v.Members), v.Cluster.Leader)
}

// rate is a counter's increase a second; 0 when it went back (the member
// restarted) or no time passed.
func rate(before, after uint64, seconds float64) float64 {
	if after < before || seconds <= 0 {
		return 0
	}
	return float64(after-before) / seconds
}

// deltaBuckets is after − before, bucket by bucket; nil when the bounds
// differ or a count went back (a restart).
func deltaBuckets(before, after []Bucket) []Bucket {
	if len(before) != len(after) {
		return nil
	}
	d := make([]Bucket, len(after))
	for i := range after {
		if before[i].UpperSeconds != after[i].UpperSeconds || before[i].Inf != after[i].Inf || after[i].Count < before[i].Count {
			return nil
		}
		d[i] = after[i]
		d[i].Count -= before[i].Count
	}
	return d
}

// addBuckets adds b into sum (a copy of b if sum is empty); b with other
// bounds is ignored.
func addBuckets(sum, b []Bucket) []Bucket {
	switch {
	case len(b) == 0:
		return sum
	case len(sum) == 0:
		return slices.Clone(b)
	case len(sum) != len(b):
		return sum
	}
	for i := range b {
		if sum[i].UpperSeconds == b[i].UpperSeconds && sum[i].Inf == b[i].Inf {
			sum[i].Count += b[i].Count
		}
	}
	return sum
}

// quantile estimates the q-quantile of a cumulative histogram by linear
// interpolation inside the bucket it falls in, as Prometheus's
// histogram_quantile does; NaN when the histogram is empty.
func quantile(buckets []Bucket, q float64) float64 {
	if len(buckets) == 0 || buckets[len(buckets)-1].Count == 0 {
		return math.NaN()
	}
	rank := q * float64(buckets[len(buckets)-1].Count)
	lower, below := 0.0, uint64(0)
	for _, b := range buckets {
		if float64(b.Count) >= rank {
			if b.Inf {
				return lower // past the last finite bound: its bound is all we know
			}
			in := float64(b.Count - below)
			if in == 0 {
				return b.UpperSeconds
			}
			return lower + (b.UpperSeconds-lower)*(rank-float64(below))/in
		}
		lower, below = b.UpperSeconds, b.Count
	}
	return lower
}
