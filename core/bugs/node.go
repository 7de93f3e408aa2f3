package bugs

// Planted bugs in core/node.
const (
	NodeReadIndexNoWait     = "node-readindex-no-wait"
	NodeAppendAckBeforeSync = "node-append-ack-before-sync"
	NodeRequestIDRestart    = "node-request-id-restart"
	NodeSnapshotSkipsLessor = "node-snapshot-skips-lessor"
	NodeAppliedIndexStale   = "node-applied-index-stale"
	NodeForwardDropsError   = "node-forward-drops-error"
	NodeDedupProposerOnly   = "node-dedup-proposer-only"
	NodeStopBeforeSaved     = "node-stop-before-saved"
	NodeStopKeepsLeadership = "node-stop-keeps-leadership"
)

func nodeBugs() []Bug {
	return []Bug{
		{NodeReadIndexNoWait, "core/node", "a linearizable read is served once its ReadIndex returns, without waiting for the member to apply up to it", "etcd ReadIndex wait bugs (stale read on a lagging follower)"},
		{NodeAppendAckBeforeSync, "core/node", "a follower sends its append responses before it syncs the entries", "raft's Ready contract broken: send after persist"},
		{NodeRequestIDRestart, "core/node", "a restarted member numbers its proposals from the same start as before the crash (its boot epoch is ignored)", "etcd's idutil time prefix exists for this: a waiter completed by another request"},
		{NodeSnapshotSkipsLessor, "core/node", "a member that installs a snapshot from the leader keeps its old leases", "snapshot restore that forgets one part of the state"},
		{NodeAppliedIndexStale, "core/node", "the applied index saved with a snapshot is one entry behind, so a restart applies an entry twice", "off-by-one in the consistent index (etcd#13766 class)"},
		{NodeForwardDropsError, "core/node", "a write proposed on a follower (raft forwards it to the leader) and refused when applied completes on that follower with neither error nor response", "lost error"},
		{NodeDedupProposerOnly, "core/node", "only the member that proposed a request records its id in the applied-id window, so the other members apply a duplicated proposal twice", "request-id dedup kept as proposer-local instead of replicated state"},
		{NodeStopBeforeSaved, "core/node", "a graceful stop's snapshot counts as saved once its bytes are written, before the file is committed, so the member stops without it", "waiting on work issued rather than work made durable"},
		{NodeStopKeepsLeadership, "core/node", "a leader's graceful stop never starts its leadership transfer, and waits out the handoff's bound before it closes", "a shutdown path that skips its handoff (etcd's TransferLeadership on Stop)"},
	}
}
