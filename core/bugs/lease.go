package bugs

// Planted bugs in core/lease.
const (
	LeaseExpiryEarly          = "lease-expiry-early"
	LeasePromoteKeepsDeadline = "lease-promote-keeps-deadline"
	LeaseRevokeKeepsLastKey   = "lease-revoke-keeps-last-key"
	LeaseSnapshotDropsKeys    = "lease-snapshot-drops-keys"
	LeaseTTLGranted           = "lease-ttl-reports-granted"
)

func leaseBugs() []Bug {
	return []Bug{
		{LeaseExpiryEarly, "core/lease", "the leader reports a lease expired once less than a whole second of its TTL remains, up to a second early", "off-by-one in the expiry comparison (remaining TTL counted in whole seconds)"},
		{LeasePromoteKeepsDeadline, "core/lease", "a new leader restarts every lease at now+TTL without the election-time extension, so leases can expire before clients find it to keep them alive", "etcd#4778 (a new leader must refresh leases with an extended TTL)"},
		{LeaseRevokeKeepsLastKey, "core/lease", "revoking a lease deletes all its keys but the last (the lessor's own invariant check then panics)", "off-by-one in the loop over attached keys"},
		{LeaseSnapshotDropsKeys, "core/lease", "a lessor snapshot leaves out the keys attached to each lease, so a member restored from it does not delete them on revoke", "snapshot of attachments (etcd rebuilds them from mvcc)"},
		{LeaseTTLGranted, "core/lease", "TimeToLive reports the granted TTL as the remaining one", "wrong field returned"},
	}
}
