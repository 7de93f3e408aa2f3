package realdriver

import (
	"fmt"
	"math"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// dial makes a client pinned to one member's address. It does not wait
// for the connection: gRPC connects in the background, and a call made
// meanwhile waits for it in its own goroutine (or fails, when failFast).
// extra are added to the connection's dial options.
func (l *Loop) dial(m Member, extra ...grpc.DialOption) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints: []string{m.Addr},
		// One attempt per call: clientv3's interceptor would otherwise
		// retry some failures inside what the checker sees as one call.
		MaxUnaryRetries: 1,
		Logger:          zap.NewNop(),
		DialOptions: append([]grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  100 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   reconnectDelayMax,
			},
			MinConnectTimeout: l.opts.DialTimeout,
		})}, extra...),
	})
	if err != nil {
		return nil, fmt.Errorf("realdriver: client for member %d at %s: %w", m.ID, m.Addr, err)
	}
	return cli, nil
}

// callOptions are every session call's: wait for the member's connection
// (up to the call's timeout) as clientv3 does, so a member that is down
// costs a timeout as a lost message does in simulation; and take any
// answer size, leaving limits to the member.
var callOptions = []grpc.CallOption{
	grpc.WaitForReady(true),
	grpc.MaxCallRecvMsgSize(math.MaxInt32),
	grpc.MaxCallSendMsgSize(math.MaxInt32),
}

// inspectOptions are the inspection calls': they fail at once on a member
// that cannot be reached, since the harness asks them only to compare
// members at the end of a run.
var inspectOptions = []grpc.CallOption{
	grpc.MaxCallRecvMsgSize(math.MaxInt32),
}
