// Package backup reads and writes snapshot files in etcd v3's own format,
// so data moves both ways between etcd and kvd: what `etcdctl snapshot
// save` fetches from an etcd member, `kvd snapshot restore` builds a kvd
// member from, and what a kvd member streams to `etcdctl snapshot save`,
// `etcdutl snapshot restore` builds an etcd member from.
//
// The file is a bbolt database in etcd's backend schema followed by the
// SHA-256 of the database bytes (32 bytes). The buckets kvd reads and
// writes:
//
//	key      every kept version of every key: the key is the revision,
//	         8-byte big-endian main, '_', 8-byte big-endian sub, and a
//	         trailing 't' for a tombstone; the value a marshaled
//	         mvccpb.KeyValue (for a tombstone, the key alone)
//	meta     consistent_index and term (8-byte big-endian), confState
//	         (JSON), finishedCompactRev and scheduledCompactRev (revision
//	         bytes), storageVersion ("3.7.0")
//	lease    leasepb.Lease {ID, TTL, RemainingTTL} under the 8-byte
//	         big-endian id
//	members  etcd's member JSON under the id in hex; members_removed the
//	         ids removed; cluster the cluster version
//	alarm    a marshaled etcdserverpb.AlarmMember as the key, no value
//	auth, authUsers, authRoles   auth off, no users, no roles
//
// Reading is strict: a file whose trailer does not match, that bbolt's own
// consistency check finds damaged, or whose buckets do not decode is
// refused as a whole with an error naming the file and what failed —
// nothing is half-restored. Writing is streamed (Writer) so a member can
// hand over its history a step at a time.
//
// The package does file I/O and is used by the daemon and its tools only,
// never from a member's step path.
package backup
