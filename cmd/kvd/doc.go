// Command kvd is an etcd-compatible key-value store: one raft member per
// process, serving the etcd v3 gRPC API and /health and /metrics on its
// client URLs, and raft traffic on its peer URLs.
//
// It takes etcd's own flag names for what it supports, so scripts and
// etcdctl work unchanged:
//
//	kvd --name infra1 --data-dir infra1.etcd \
//	  --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
//	  --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
//	  --initial-cluster infra1=http://127.0.0.1:2380,infra2=http://127.0.0.1:2381,infra3=http://127.0.0.1:2382 \
//	  --initial-cluster-token tkn --initial-cluster-state new
//
// https URLs speak TLS with etcd's flags (--cert-file, --key-file,
// --trusted-ca-file, --client-cert-auth, --auto-tls and their --peer-
// twins, --cipher-suites, --tls-min-version, --tls-max-version);
// certificates are read again when their files change.
//
// With no flags it runs one member named "default" on 127.0.0.1:2379 (peer
// 127.0.0.1:2380) with its data in default.etcd, like etcd. SIGINT and
// SIGTERM shut it down gracefully — a leader hands its leadership off
// first, and a member with a long log to replay saves a state snapshot
// (--stop-snapshot-timeout) — and a storage failure exits non-zero.
package main
