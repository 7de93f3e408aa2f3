package dashboard

// Member is one member's own figures, as its member.json serves them.
// Counters (Reads, Writes, LeaderChanges, the latency buckets) are totals
// since the member started: a poller turns them into rates.
type Member struct {
	ID      string `json:"id"` // hex, as etcdctl prints member ids
	Name    string `json:"name"`
	Version string `json:"version"`
	// Role is "leader", "follower" or "learner".
	Role     string `json:"role"`
	LeaderID string `json:"leader_id"` // "0": no leader known
	Term     uint64 `json:"term"`
	// AppliedIndex and CommitIndex are the raft log positions.
	AppliedIndex uint64   `json:"applied_index"`
	CommitIndex  uint64   `json:"commit_index"`
	Revision     int64    `json:"revision"`
	DBSizeBytes  int64    `json:"db_size_bytes"`
	Keys         int      `json:"keys"`
	Watchers     int      `json:"watchers"`
	Leases       int      `json:"leases"`
	Alarms       []string `json:"alarms,omitempty"`
	// LeaderChanges counts the leader changes this member has seen.
	LeaderChanges uint64 `json:"leader_changes"`
	// Reads and Writes count completed client KV calls served by this
	// member: Range; Put, DeleteRange, Txn and Compact.
	Reads  uint64 `json:"reads"`
	Writes uint64 `json:"writes"`
	// Latency is the cumulative histogram of those calls' latency.
	Latency []Bucket `json:"latency,omitempty"`
	// TimeUnixMs is the member's clock when it measured.
	TimeUnixMs int64 `json:"time_unix_ms"`
}

// Bucket is one cumulative histogram bucket: Count calls took at most
// UpperSeconds (the last bucket's bound is +Inf, encoded as 0 with Inf set).
type Bucket struct {
	UpperSeconds float64 `json:"le"`
	Inf          bool    `json:"inf,omitempty"`
	Count        uint64  `json:"count"`
}

// Peer is a member of the cluster as the membership lists it.
type Peer struct {
	ID         uint64
	Name       string
	ClientURLs []string
	IsLearner  bool
}

// Source is what the serving member tells the dashboard.
type Source interface {
	// Self measures this member's figures now.
	Self() Member
	// SelfID is this member's id.
	SelfID() uint64
	// Peers lists every member, this one included, in id order.
	Peers() []Peer
}
