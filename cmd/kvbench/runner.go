package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// preloadTimeout bounds writing the keyspace before a read load.
const preloadTimeout = 10 * time.Minute

// preloadAttemptsMax bounds the tries of one preload put: a leader change
// during a long load is survivable, a dead cluster is not.
const preloadAttemptsMax = 10

// preloadConcurrencyMin is the fewest puts a preload keeps in flight: a
// run with 1 request in flight (the latency configuration) would
// otherwise spend longer writing its keyspace one key at a time than
// measuring.
const preloadConcurrencyMin = 64

// errorSamplesMax bounds the distinct error messages a result keeps.
const errorSamplesMax = 5

// dialClients opens o.Clients connections, connection i to endpoint i mod
// len(endpoints).
func dialClients(o *Options) ([]*clientv3.Client, error) {
	var clients []*clientv3.Client
	for i := range o.Clients {
		ep := o.Endpoints[i%len(o.Endpoints)]
		c, err := clientv3.New(clientv3.Config{
			Endpoints:   []string{ep},
			DialTimeout: 5 * time.Second,
			Logger:      zap.NewNop(),
		})
		if err != nil {
			closeClients(clients)
			return nil, fmt.Errorf("dial client %d to %s: %w", i, ep, err)
		}
		clients = append(clients, c)
	}
	return clients, nil
}

func closeClients(cs []*clientv3.Client) {
	for _, c := range cs {
		c.Close()
	}
}

// Run prepares and runs one benchmark, reporting progress on status.
func Run(ctx context.Context, o Options, status io.Writer) (Result, error) {
	o.EnsureDefaults()
	if err := o.Validate(); err != nil {
		return Result{}, err
	}
	clients, err := dialClients(&o)
	if err != nil {
		return Result{}, err
	}
	defer closeClients(clients)
	if needsPreload(o.Load) {
		if err := preload(ctx, clients, &o, status); err != nil {
			return Result{}, err
		}
	}
	var wf *watchFanout
	if o.Load == "watch-latency" {
		var stopWatchers context.CancelFunc
		if wf, stopWatchers, err = startWatchers(ctx, clients, o.Watchers, o.RequestTimeout); err != nil {
			return Result{}, err
		}
		defer stopWatchers()
	}
	return measure(ctx, clients, &o, wf, status)
}

// preload writes every key of the keyspace once, unmeasured.
func preload(ctx context.Context, clients []*clientv3.Client, o *Options, status io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, preloadTimeout)
	defer cancel()
	value := string(make([]byte, o.ValueSizeBytes))
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	p := newProgress(status, "preload "+o.Load, o.Keyspace)
	for w := range min(max(o.Concurrency, preloadConcurrencyMin), o.Keyspace) {
		c := clients[w%len(clients)]
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= o.Keyspace || ctx.Err() != nil {
					return
				}
				err := putRetrying(ctx, c, keyOf(i, o.KeySizeBytes), value, o.RequestTimeout)
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("preload key %d via %v: %w", i, c.Endpoints(), err); cancel() })
					return
				}
				p.add(1)
			}
		})
	}
	wg.Wait()
	p.finish()
	if firstErr == nil && ctx.Err() != nil {
		return fmt.Errorf("preload of %d keys: %w", o.Keyspace, ctx.Err())
	}
	return firstErr
}

// putRetrying puts key, trying again after a failure, at most
// preloadAttemptsMax times.
func putRetrying(ctx context.Context, c *clientv3.Client, key, value string, timeout time.Duration) error {
	var err error
	for attempt := range preloadAttemptsMax {
		if attempt > 0 {
			select {
			case <-time.After(time.Duration(attempt) * 100 * time.Millisecond):
			case <-ctx.Done():
				return errors.Join(err, ctx.Err())
			}
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		_, err = c.Put(rctx, key, value)
		cancel()
		if err == nil {
			return nil
		}
	}
	return fmt.Errorf("%d attempts: %w", preloadAttemptsMax, err)
}

// measure runs o.Total operations (or until o.Duration) with o.Concurrency
// workers and merges their histograms.
func measure(ctx context.Context, clients []*clientv3.Client, o *Options, wf *watchFanout, status io.Writer) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Duration)
	defer cancel()
	var issued atomic.Int64
	hists := make([]Histogram, o.Concurrency)
	errCounts := make([]int, o.Concurrency)
	var mu sync.Mutex
	samples := map[string]bool{}
	var order []string
	p := newProgress(status, o.Load, o.Total)
	start := time.Now()
	if o.MeasureStarted != nil {
		o.MeasureStarted()
	}
	var wg sync.WaitGroup
	for id := range o.Concurrency {
		w := newWorker(id, clients[id%len(clients)], o, wf)
		wg.Go(func() {
			for issued.Add(1) <= int64(o.Total) && ctx.Err() == nil {
				f := w.op(o.Load)
				rctx, rcancel := context.WithTimeout(ctx, o.RequestTimeout)
				t0 := time.Now()
				err := f(rctx)
				d := time.Since(t0)
				rcancel()
				p.add(1)
				if err == nil {
					hists[id].Record(d)
					continue
				}
				if ctx.Err() != nil && errors.Is(err, context.DeadlineExceeded) {
					// Cut off by the run's own duration cap, not a failure.
					return
				}
				errCounts[id]++
				mu.Lock()
				if msg := err.Error(); !samples[msg] && len(order) < errorSamplesMax {
					samples[msg] = true
					order = append(order, msg)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	p.finish()
	var h Histogram
	errs := 0
	for i := range hists {
		h.Merge(&hists[i])
		errs += errCounts[i]
	}
	return newResult(o, &h, errs, elapsed, order), nil
}
