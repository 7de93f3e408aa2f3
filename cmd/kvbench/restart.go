package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// The restart configuration: on the memory phase's clusters, with their
// keys loaded, stop a follower with SIGTERM, start it again with the same
// flags and data dir, and time from the start until a linearizable Get on
// its own endpoint succeeds — replaying its state, rejoining the cluster
// and catching up included.

// restartPollInterval is both how often the timing client tries to
// connect to the restarted member (gRPC's reconnect backoff, 1 s and
// growing by default, would otherwise be most of what is measured) and
// how long it waits between failed reads: the resolution of ServeMs.
const restartPollInterval = 10 * time.Millisecond

// restartReadTimeout bounds one read of the poll; a member that accepts
// connections before it can serve may hold a read until it can.
const restartReadTimeout = 2 * time.Second

// RestartResult is one restart of one member.
type RestartResult struct {
	System string `json:"system"`
	Round  int    `json:"round"`
	Member string `json:"member"`
	// Keys and ValueBytes are what the memory phase loaded.
	Keys       int `json:"keys"`
	ValueBytes int `json:"valueBytes"`
	// StopMs is from SIGTERM until the process exited.
	StopMs float64 `json:"stopMs"`
	// ServeMs is from starting the process until a linearizable Get on its
	// own endpoint succeeded; meaningless when Error is set.
	ServeMs float64 `json:"serveMs"`
	// Killed is set when the process outlived memberStopTimeout after
	// SIGTERM and was killed: the restart then recovered from a crash.
	Killed bool `json:"killed,omitempty"`
	// Error is why the member did not serve again, empty when it did.
	Error string `json:"error,omitempty"`
}

// measureRestarts restarts a follower of each system's cluster,
// alternating over v.Systems, for v.Configs.RestartRounds rounds. A
// restart that fails is recorded as such and the rounds go on; only ctx's
// end is an error.
func measureRestarts(ctx context.Context, v *VsOptions, clusters map[string]*cluster, status io.Writer) ([]RestartResult, error) {
	var out []RestartResult
	for round := 1; round <= v.Configs.RestartRounds; round++ {
		for _, sys := range v.Systems {
			fmt.Fprintf(status, "round %d/%d restart on %s\n", round, v.Configs.RestartRounds, sys)
			r := restartFollower(ctx, clusters[sys], v.Configs.RestartTimeout)
			if ctx.Err() != nil {
				return out, fmt.Errorf("restart on %s, round %d: %w", sys, round, ctx.Err())
			}
			r.System, r.Round, r.Keys, r.ValueBytes = sys, round, v.MemKeys, v.MemValueSizeBytes
			out = append(out, r)
			if r.Error != "" {
				fmt.Fprintf(status, "restart: %s %s did not serve again: %s\n", sys, r.Member, r.Error)
			} else {
				fmt.Fprintf(status, "restart: %s %s stopped in %.0f ms, served %.0f ms after its start\n", sys, r.Member, r.StopMs, r.ServeMs)
			}
		}
	}
	return out, nil
}

// restartTarget is the member to restart: the one after the leader, so a
// follower whenever there is one (a 1-member cluster restarts its only
// member).
func restartTarget(leader, members int) int { return (leader + 1) % members }

// restartFollower stops a follower of c with SIGTERM (SIGKILL past
// memberStopTimeout), starts it again with the same binary, flags and data
// dir, and times it until it serves, at most timeout.
func restartFollower(ctx context.Context, c *cluster, timeout time.Duration) RestartResult {
	leader, err := c.leaderIndex(ctx)
	if err != nil {
		return RestartResult{Error: err.Error()}
	}
	m := c.members[restartTarget(leader, len(c.members))]
	r := RestartResult{Member: m.name}
	t := time.Now()
	r.Killed = m.stopOne()
	r.StopMs = ms(time.Since(t))

	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{m.clientURL},
		Logger:    zap.NewNop(),
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{BaseDelay: restartPollInterval, Multiplier: 1, MaxDelay: restartPollInterval},
			// A member may accept the TCP connection before it serves
			// gRPC (etcd does): let that handshake wait for it.
			MinConnectTimeout: timeout,
		})},
	})
	if err != nil {
		r.Error = fmt.Sprintf("dial %s: %v", m.clientURL, err)
		return r
	}
	defer cli.Close()

	start := time.Now()
	if err := m.start(); err != nil {
		r.Error = err.Error()
		return r
	}
	served, err := pollServes(ctx, cli, m, start.Add(timeout))
	if err != nil {
		r.Error = err.Error()
		return r
	}
	r.ServeMs = ms(served.Sub(start))
	return r
}

// pollServes reads a key with a linearizable Get through cli until one
// succeeds, the member's process exits, or deadline passes; it returns
// when the read succeeded.
func pollServes(ctx context.Context, cli *clientv3.Client, m *member, deadline time.Time) (time.Time, error) {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	var last error
	for ctx.Err() == nil {
		select {
		case <-m.exited:
			return time.Time{}, fmt.Errorf("%s (pid %d) exited after its restart; see %s", m.name, m.pid, m.logPath)
		default:
		}
		rctx, rcancel := context.WithTimeout(ctx, restartReadTimeout)
		_, err := cli.Get(rctx, "kvbench/ready")
		rcancel()
		if err == nil {
			return time.Now(), nil
		}
		last = err
		select {
		case <-time.After(restartPollInterval):
		case <-ctx.Done():
		}
	}
	return time.Time{}, fmt.Errorf("%s did not serve a linearizable get within its restart timeout: %w", m.name, errors.Join(last, ctx.Err()))
}
