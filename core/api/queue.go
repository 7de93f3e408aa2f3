package api

import (
	"context"
	"sync"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
)

// callQueue hands client calls from gRPC handlers to the member loop.
// Handlers append under a mutex and wake the loop through a one-slot
// channel only when the queue turns non-empty; the loop takes everything
// waiting at once. Under load that is one lock per call and one wake-up
// per batch, where a channel of calls cost the loop a select per call.
type callQueue struct {
	mu      sync.Mutex
	pending []*call
	// space, when not nil, is closed when the loop next takes the queue:
	// handlers finding it full wait on it.
	space chan struct{}
	wake  chan struct{}
	max   int
}

func newCallQueue(max int) *callQueue {
	return &callQueue{wake: make(chan struct{}, 1), max: max}
}

// push queues c, waiting while the queue holds max calls; it fails with
// ctx's error, or etcd's stopped error when done closes first.
func (q *callQueue) push(ctx context.Context, done <-chan struct{}, c *call) error {
	for {
		q.mu.Lock()
		if len(q.pending) < q.max {
			q.pending = append(q.pending, c)
			first := len(q.pending) == 1
			q.mu.Unlock()
			if first {
				select {
				case q.wake <- struct{}{}:
				default: // a wake-up is pending already
				}
			}
			return nil
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctxErr(ctx)
		case <-done:
			return rpctypes.ErrGRPCStopped
		}
	}
}

// take returns every queued call, oldest first, reusing buf's storage
// for the next batch.
func (q *callQueue) take(buf []*call) []*call {
	q.mu.Lock()
	calls := q.pending
	q.pending = buf[:0]
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
	q.mu.Unlock()
	return calls
}
