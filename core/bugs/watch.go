package bugs

// Planted bugs in core/watch.
const (
	WatchCatchUpSkipsStart  = "watch-catchup-skips-start"
	WatchFilterInverted     = "watch-filter-inverted"
	WatchPrevKVCurrent      = "watch-prevkv-current"
	WatchProgressAhead      = "watch-progress-ahead"
	WatchCompactedSilent    = "watch-compacted-silent"
	WatchCancelWrongWatcher = "watch-cancel-wrong-watcher"
)

func watchBugs() []Bug {
	return []Bug{
		{WatchCatchUpSkipsStart, "core/watch", "a watch with a start revision starts one revision after the one asked for, missing that revision's events", "off-by-one: start_revision taken as exclusive (it is inclusive)"},
		{WatchFilterInverted, "core/watch", "the NOPUT filter drops delete events and NODELETE drops puts", "filter sense inverted"},
		{WatchPrevKVCurrent, "core/watch", "an event read from history by a catching-up prev_kv watcher carries the key's new value as prev_kv", "copy-paste slip when copying the event (PrevKv: ev.Kv)"},
		{WatchProgressAhead, "core/watch", "the periodic progress notification also goes to a watcher still catching up from history, promising it the store's revision", "etcd#15220 (progress notify ahead of unsynced watchers)"},
		{WatchCompactedSilent, "core/watch", "a watcher owed revisions below the compaction is moved on to the compaction revision without a compacted response", "lost error: events silently missed"},
		{WatchCancelWrongWatcher, "core/watch", "cancelling a watch removes the stream's first watcher instead of the one named (the cancel response still names the requested id)", "wrong lookup: the stream's first watcher instead of the id named"},
	}
}
