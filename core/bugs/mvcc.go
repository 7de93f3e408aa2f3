package bugs

// Planted bugs in core/mvcc.
const (
	MVCCRangeLimitOffByOne   = "mvcc-range-limit-off-by-one"
	MVCCRangeCountLimited    = "mvcc-range-count-limited"
	MVCCCompactDropsLatest   = "mvcc-compact-drops-latest"
	MVCCTombstoneIgnored     = "mvcc-tombstone-ignored"
	MVCCCompareModRevision   = "mvcc-compare-mod-revision"
	MVCCCompareMissingKey    = "mvcc-compare-missing-key"
	MVCCDeleteRangeInclusive = "mvcc-delete-range-end-inclusive"
	MVCCTxnSubRevision       = "mvcc-txn-revision-per-op"
	MVCCHistoryFreedEarly    = "mvcc-history-freed-early"
)

func mvccBugs() []Bug {
	return []Bug{
		{MVCCRangeLimitOffByOne, "core/mvcc", "a range with a limit returns one key more than asked (more is set only when two more exist)", "off-by-one in the kept count (limit+1 for limit)"},
		{MVCCRangeCountLimited, "core/mvcc", "a range cut by its limit reports as count the number of keys returned, not of keys in the range", "etcd#11184-style count/limit confusion"},
		{MVCCCompactDropsLatest, "core/mvcc", "compaction at revision R also removes each key's latest version at or below R (a key not written after R vanishes)", "etcd compaction bugs (keep the newest revision ≤ R)"},
		{MVCCTombstoneIgnored, "core/mvcc", "a read at a past revision after a delete (of a key created again since) still sees the deleted value, and so does a watch event's prev_kv", "tombstone skipped in a historical read"},
		{MVCCCompareModRevision, "core/mvcc", "a txn compare of mod_revision with LESS also holds when equal", "wrong comparison (<= for <)"},
		{MVCCCompareMissingKey, "core/mvcc", "a txn value compare on a missing key compares against the empty value instead of failing", "etcd's compare on absent keys, got wrong"},
		{MVCCDeleteRangeInclusive, "core/mvcc", "a delete range removes its range_end key too", "half-open interval treated as closed"},
		{MVCCTxnSubRevision, "core/mvcc", "a txn with several writes (or a lease revoke of several keys) takes one main revision per write instead of one per txn", "revision accounting in a multi-op txn"},
		{MVCCHistoryFreedEarly, "core/mvcc", "compaction at revision R frees the history memory of a version superseded at R+1, which reads at R still see", "use after free of memory managed by hand (an off-by-one in the release rule)"},
	}
}
