package node

// UnsafeVariant is one field of Unsafe under the name kvsim gives it
// (kvsim run --unsafe NAME), so the simulator and kvd built with the
// kvdunsafe tag (kvd --unsafe NAME) switch the same bug on by the same name.
type UnsafeVariant struct {
	// Name is kvsim's name for the variant, e.g. "stale-read".
	Name string
	// About says in a few words what goes wrong.
	About string
	// Enable sets the variant's field of Unsafe.
	Enable func(*Unsafe)
}

// UnsafeVariants lists every field of Unsafe by name, in kvsim's order.
// It is a function, not a variable, so a binary that never calls it — the
// kvd people deploy — does not link the table, and no caller can edit it
// for the others. The variants kvsim plants outside the member (acks
// before fsync, unpinned RangeStream reads) are not node options and are
// not here.
func UnsafeVariants() []UnsafeVariant {
	return []UnsafeVariant{
		{"stale-read", "linearizable reads served locally, without ReadIndex",
			func(u *Unsafe) { u.StaleReads = true }},
		{"follower-lease-expiry", "every member expires leases on its own clock",
			func(u *Unsafe) { u.FollowerLeaseExpiry = true }},
		{"alarm-ignored-by-followers", "followers apply the writes an active NOSPACE alarm refuses",
			func(u *Unsafe) { u.FollowerIgnoresAlarms = true }},
		{"conf-change-before-commit", "the member proposing a membership change applies it to its configuration before it commits",
			func(u *Unsafe) { u.ConfChangeBeforeCommit = true }},
		{"auth-writes-unchecked", "writes applied without checking the caller's permissions while auth is on",
			func(u *Unsafe) { u.AuthWritesUnchecked = true }},
		{"watch-skip", "a watch event dropped at a compaction boundary",
			func(u *Unsafe) { u.WatchSkip = true }},
	}
}
