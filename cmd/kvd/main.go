package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kvdlabs/kvd/core/api"
	"github.com/kvdlabs/kvd/core/disk"
	"github.com/kvdlabs/kvd/core/mvcc"
	"github.com/kvdlabs/kvd/core/node"
	"github.com/kvdlabs/kvd/core/transport"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	tuneGC(ctx, os.Getenv("GOGC") == "")
	code := run(ctx, os.Args[1:], os.Stderr)
	stop()
	os.Exit(code)
}

// drainTimeout bounds how long a graceful shutdown waits for calls in flight.
const drainTimeout = 2 * time.Second

// run is kvd's main: 0 after a graceful shutdown, 2 for bad flags, 1 for
// any failure, a storage failure included.
func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "snapshot" {
		return runSnapshot(args[1:], os.Stdout, stderr) // snapshot.go
	}
	f, err := parseFlags(args, stderr)
	if errors.Is(err, errHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "kvd: %v\n", err)
		return 2
	}
	level, _ := f.level()
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	if f.memoryLimitBytes > 0 {
		// Overrides GOMEMLIMIT, as a flag overrides its environment.
		setMemoryLimit(f.memoryLimitBytes)
	}
	if f.idleMemoryRelease {
		idleCtx, stopIdle := context.WithCancel(ctx)
		defer stopIdle()
		go releaseWhenIdle(idleCtx)
	}
	f.unsafe.warn(stderr)
	if err := serve(ctx, f, log); errors.Is(err, node.ErrRemoved) {
		// etcd's words: the member stops for good and says why.
		log.Warn("the member has been permanently removed from the cluster", "err", err.Error())
		return 0
	} else if err != nil {
		log.Error("kvd stopped", "err", err.Error())
		return 1
	}
	log.Info("kvd stopped gracefully")
	return 0
}

func serve(ctx context.Context, f *flags, log *slog.Logger) error {
	walDir := filepath.Join(f.dataDir, "member")
	mtls, err := setupTLS(f, log)
	if err != nil {
		return err
	}
	id, err := identify(ctx, f, walDir, mtls, log)
	if err != nil {
		return err
	}
	selfID, clusterID, infos := id.self, id.cluster, id.infos
	log = log.With("member", fmt.Sprintf("%x", selfID), "name", f.name)

	// The member's series, the Go runtime's and the process's (api.New
	// adds those) and the peer links' (etcd_network_peer_*).
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kvd_memory_idle_releases_total",
			Help: "Times the member, quiet, collected and returned its free heap to the OS (--idle-memory-release).",
		}, func() float64 { return float64(idleReleases.Load()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kvd_mvcc_history_spilled_bytes",
			Help: "History the store keeps in its spill file, in the kernel's page cache rather than the member's memory (--history-spill).",
		}, func() float64 { return float64(mvcc.SpilledHistoryBytes()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kvd_mvcc_history_mapped_bytes",
			Help: "History the store keeps in the member's memory outside the Go heap (mapped; the kernel backs the pages written).",
		}, func() float64 { return float64(mvcc.MappedHistoryBytes()) }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "kvd_mvcc_history_spill_failures_total",
			Help: "History chunks that stayed in memory because the spill file could not be made or written.",
		}, func() float64 { return float64(mvcc.HistorySpillFailures()) }),
	)
	var srv *api.Server // set before the peer listener serves
	tr, err := transport.New(transport.Options{
		ID: selfID, ClusterID: clusterID, Logger: log.With("component", "transport"),
		Members:   func() []byte { return srv.MembershipJSON() },
		HashKV:    func(rev int64) ([]byte, error) { return srv.HashKVBytes(rev) },
		ServerTLS: mtls.peerServer(), ClientTLS: mtls.peerDial(),
		Metrics: api.NewPeerMetrics(reg, selfID),
	})
	if err != nil {
		return err
	}
	defer tr.Close()

	autoCompaction, err := f.autoCompaction() // validated with the flags
	if err != nil {
		return err
	}
	jwtOpts, err := f.jwtOptions() // validated with the flags
	if err != nil {
		return err
	}
	autoCompaction.OnPropose = func(rev int64) { log.Info("auto compaction", "revision", rev) }
	srv, err = api.New(api.Config{
		Node: node.Config{
			ID: selfID, ClusterID: clusterID, Peers: id.peers, Join: id.join,
			FS: disk.OSFS{}, Dir: walDir, HistorySpillDir: f.historySpillDir(),
			TickInterval: f.tickInterval(), ElectionTicks: f.electionTicks(), HeartbeatTicks: 1,
			SnapshotEntries:        f.snapshotCount,
			SnapshotCatchUpEntries: min(5000, f.snapshotCount),
			RequestBytesMax:        int(f.maxRequestBytes),
			TxnOpsMax:              int(f.maxTxnOps),
			AutoCompaction:         autoCompaction,
			AuthTokenTTL:           f.tokenTTL(),
			Unsafe:                 f.unsafe.options(), // zero unless built with kvdunsafe
		},
		Transport:                   tr,
		Self:                        api.MemberInfo{Name: f.name, PeerURLs: f.initialAdvertisePeerURLs, ClientURLs: f.advertiseClientURLs},
		Bootstrap:                   infos,
		QuotaBackendBytes:           f.quotaBackendBytes,
		CorruptCheckInterval:        f.corruptCheckTime,
		StopSnapshotTimeout:         cmp.Or(f.stopSnapshotTimeout, -1), // 0 from the flag: never wait
		WatchProgressNotifyInterval: f.watchProgressNotify,
		DataDir:                     f.dataDir,
		Registry:                    reg,
		Logger:                      log,
		EnablePprof:                 f.enablePprof,
		BcryptCost:                  int(f.bcryptCost),
		JWT:                         jwtOpts,
		ClientTLS:                   mtls.clientDial(),
	})
	if err != nil {
		return err
	}

	var listeners []net.Listener
	closeAll := func() {
		for _, ln := range listeners {
			ln.Close()
		}
	}
	listen := func(urls []string) ([]net.Listener, error) {
		var out []net.Listener
		for _, u := range urls {
			hp, err := transport.HostPort(u)
			if err != nil {
				return nil, err
			}
			ln, err := net.Listen("tcp", hp)
			if err != nil {
				return nil, fmt.Errorf("listen on %s: %w", u, err)
			}
			ln = markHTTPS(ln, u)
			listeners = append(listeners, ln)
			out = append(out, ln)
		}
		return out, nil
	}
	peerLns, err := listen(f.listenPeerURLs)
	if err == nil {
		var clientLns, metricsLns []net.Listener
		if clientLns, err = listen(f.listenClientURLs); err == nil {
			if metricsLns, err = listen(f.listenMetricsURLs); err == nil {
				return runMember(ctx, srv, tr, mtls, clusterID, peerLns, clientLns, metricsLns, log, f)
			}
		}
	}
	closeAll()
	runCtx, cancel := context.WithCancel(context.Background())
	cancel()
	srv.Run(runCtx) // closes the member's WAL
	return err
}

// runMember serves until ctx is done or the member loop fails.
func runMember(ctx context.Context, srv *api.Server, tr *transport.Transport, mtls *memberTLS, clusterID uint64, peerLns, clientLns, metricsLns []net.Listener, log *slog.Logger, f *flags) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errc := make(chan error, 2+len(peerLns)+len(clientLns)+len(metricsLns))
	wg.Go(func() {
		if err := srv.Run(ctx); err != nil {
			errc <- err
		}
		cancel()
	})
	wg.Go(func() {
		if err := watchRemoval(ctx, srv, srv.ID(), clusterID, mtls); err != nil {
			errc <- err
			cancel()
		}
	})
	for _, ln := range peerLns {
		go func() {
			if err := servePeer(tr, ln); err != nil {
				errc <- err
				cancel()
			}
		}()
	}
	if f.gates["InitialCorruptCheck"] {
		// etcd's initial check: data that differs from the peers' is
		// never served. Peers are served meanwhile; clients not yet.
		if err := srv.InitialCorruptCheck(ctx); err != nil {
			cancel()
			wg.Wait()
			tr.Close()
			return err
		}
	}
	// As etcd (ReadyNotify): clients are answered once this member's name
	// and client URLs are in the replicated membership. The listeners are
	// bound already, so a client that connects earlier waits, not refused.
	wg.Go(func() {
		select {
		case <-srv.Published():
		case <-ctx.Done():
			return
		}
		log.Info("ready to serve client requests")
		for _, ln := range clientLns {
			wg.Go(func() {
				if err := mtls.serveClient(ctx, srv, ln); err != nil {
					errc <- fmt.Errorf("client listener %s: %w", ln.Addr(), err)
					cancel()
				}
			})
		}
	})
	for _, ln := range metricsLns {
		wg.Go(func() {
			if err := mtls.serveMetrics(ctx, srv, ln); err != nil {
				errc <- fmt.Errorf("metrics listener %s: %w", ln.Addr(), err)
				cancel()
			}
		})
	}
	log.Info("serving", "clientURLs", f.listenClientURLs, "peerURLs", f.listenPeerURLs,
		"metricsURLs", f.listenMetricsURLs, "dataDir", f.dataDir)
	<-ctx.Done()
	log.Info("shutting down")
	wg.Wait()
	tr.Close()
	select {
	case err := <-errc:
		return err
	default:
		return nil
	}
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
