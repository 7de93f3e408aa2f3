package bugs

// Planted bugs in the request API: completion, errors and headers as a
// client sees them. The simulator submits straight to core/node, where
// response headers, completion and the serializable decision live, so most
// of these are planted there; the RangeStream service is core/api's.
const (
	APIHeaderRevisionStale    = "api-header-revision-stale"
	APILeaderChangeAsNoLeader = "api-leader-change-as-no-leader"
	APICompactedAsEmpty       = "api-compacted-as-empty"
	APISerializableFlipped    = "api-serializable-flipped"
)

func apiBugs() []Bug {
	return []Bug{
		{APIHeaderRevisionStale, "core/node", "a write's response header carries the revision before the write", "header filled before apply"},
		{APILeaderChangeAsNoLeader, "core/node", "requests in flight when the leader changes fail with no-leader, which says they were not applied, instead of leader-changed (outcome unknown)", "wrong error mapping: an indeterminate outcome reported as a definite failure"},
		{APICompactedAsEmpty, "core/api", "a RangeStream whose chunk reads a compacted revision ends without ErrCompacted, as if no keys were left", "lost error mapped to success"},
		{APISerializableFlipped, "core/node", "the serializable flag is read inverted: linearizable reads are served locally (and serializable ones go through ReadIndex)", "inverted condition"},
	}
}
