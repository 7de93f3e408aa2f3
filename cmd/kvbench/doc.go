// Command kvbench measures etcd v3 servers — kvd, etcd, or anything that
// speaks the API — through the official client, go.etcd.io/etcd/client/v3.
//
//	kvbench LOAD --endpoints URL[,URL...] [flags]
//	kvbench vs [flags]
//
// A run drives one load — put, get (linearizable), get-serializable,
// txn-cas, range-prefix, watch-latency, lease-grant or mixed (80 % get,
// 20 % put) — over --clients connections (connection i to endpoint
// i mod n, as etcd's own benchmark tool does) with --concurrency requests
// in flight, until --total operations are done or --duration has passed,
// whichever is first. Read loads first write every key of --keyspace
// (unmeasured). Every operation is bounded by --request-timeout and every
// loop by both a count and a time. Latencies of successful operations go
// into a log-linear histogram (64 sub-buckets per power of two: values are
// known to within 1.6 %, percentiles never understate); failures are
// counted and a few messages kept. A progress bar goes to stderr (plain
// lines when it is not a terminal); the result is a table and one JSON
// line on stdout.
//
// vs compares kvd with etcd on one machine: it builds both (kvd from
// ./cmd/kvd, etcd v3.7.3 with tools/build.sh etcd) unless given binaries,
// starts a cluster of each on 127.0.0.1 with the same flags (data under one
// temp dir, same heartbeat, election timeout, snapshot count and quota),
// runs every load on each in alternation — kvd, etcd, kvd, etcd, … for
// --rounds rounds — then does the same with etcd's own benchmark tool
// (--etcd-benchmark put,range; tools/benchmark of go.etcd.io/etcd/v3
// v3.6.8, the newest root module on the module proxy, built with
// tools/build.sh benchmark unless --etcd-benchmark-bin is given): put of
// --etcd-benchmark-put-total requests and a linearizable range of one key
// of --etcd-benchmark-range-total, values of --etcd-benchmark-value-size
// (256 B), --conns and --clients as kvbench's --clients and --concurrency,
// its summary parsed into the same results.
// Each such run is killed by its PID past --etcd-benchmark-timeout and then
// counts as failed. During every run every member's VmRSS is sampled each
// 100 ms and its peak kept, beside the members' CPU time per op. With
// --cpu-profiles each of kvbench's loads runs once more per system after
// every measured run on those clusters, every member CPU-profiled over the
// run's middle, and the report splits that run's server CPU per op by who
// spent it (the system's own code, grpc-go and HTTP/2, protobuf, raft,
// kernel calls, the collector, the scheduler); the profiles are saved
// beside it.
//
// Then it runs the other configurations of the targets, --configs
// latency,members5,clients1000,values,watchers,restart (the default) or
// any of them, or none, each in the same alternation and rounds, on the
// same clusters unless said: latency, put and linearizable get with one
// connection and 1 request in flight to the leader, --latency-total ops a
// run, p50 judged; clients1000, put and linearizable get with 1,000 in
// flight over --clients1000-conns (100) connections; values, put of 4 KiB
// and of 64 KiB values, at most --values-bytes-per-run of values a run,
// history compacted before each; watchers, --fanout-watchers (10,000)
// watchers on one prefix over --fanout-conns (100) connections, all
// created before --fanout-puts (100) puts via the leader,
// --fanout-put-interval (50 ms) apart, every (put, watcher) delivery timed
// from the put's send and checked to arrive once in revision order within
// --fanout-timeout; members5, put on a second pair of 5-member clusters
// started after the 3-member ones are stopped. Last it loads --mem-keys
// distinct keys into a fresh cluster of each and reads every member's
// VmRSS; restart then stops a follower of each loaded cluster with
// SIGTERM, starts it with the same flags and data dir and times it until a
// linearizable get on its own endpoint succeeds, --restart-rounds (3)
// times per system, alternating. --mem-only runs only the memory phase and
// restart. It writes reports/bench/<UTC timestamp>/report.md,
// report.html (a targets table with ✓/✗, inline-SVG bar charts of the
// kvd/etcd ratios, median with min–max whiskers) and results.json, and
// prints the ratios and the targets table. It stops only the processes it
// started, by their PIDs.
package main
