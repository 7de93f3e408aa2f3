package bugs

// Planted bugs in core/auth.
const (
	AuthRangeEndInclusive = "auth-range-end-inclusive"
	AuthRevisionNotBumped = "auth-revision-not-bumped"
)

func authBugs() []Bug {
	return []Bug{
		{AuthRangeEndInclusive, "core/auth", "a permission on [key, range_end) also grants range_end (and a request on [key, range_end) asks for range_end too)", "half-open interval treated as closed"},
		{AuthRevisionNotBumped, "core/auth", "revoking a role's permission neither bumps the auth revision nor rebuilds the permission cache: the role's users keep it until the next auth change (or a restore from snapshot)", "missed step after a change: stale permission cache (etcd auth revision)"},
	}
}
