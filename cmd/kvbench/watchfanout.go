package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// The watchers configuration: many watchers on one prefix, a few puts,
// and for every (put, watcher) pair the time from sending the put to the
// watcher receiving its event. watch-latency (loads.go) asks a different
// question — how long until the last of W watchers has seen a put, under
// a steady put load — and shares only the opening of watchers
// (openWatchers).

// fanoutLoad is the load name of a fan-out run's Result.
const fanoutLoad = "watch-fanout"

// fanoutKeyPrefix holds the fan-out's keys, apart from every other load's:
// put i writes fanoutKeyPrefix + i.
const fanoutKeyPrefix = "kvbench/fanout/"

// fanoutDeliveryPoll is how often the run checks whether every event has
// arrived after the last put. It only decides when the run ends: arrival
// times are taken by the watchers themselves.
const fanoutDeliveryPoll = 5 * time.Millisecond

// FanoutOptions configures the watchers configuration. Zero fields take
// the defaults of ConfigOptions.EnsureDefaults.
type FanoutOptions struct {
	// Watchers is how many watchers watch the one prefix; default 10,000.
	Watchers int
	// Conns is how many gRPC connections (one watch stream each) carry
	// them, watcher i on connection i mod Conns, connection i to member
	// i mod members; default 100, so 100 watchers share a stream.
	Conns int
	// Puts is how many puts are timed; default 100.
	Puts int
	// PutInterval spaces the puts' starts; default 50 ms, so that each
	// put's fan-out is its own rather than a queue behind the previous one.
	// A put still in flight when the next is due delays it: puts go one
	// at a time, so their revisions are in put order.
	PutInterval time.Duration
	// DeliveryTimeout is how long after the last put every event may take
	// to arrive; what has not arrived by then is missing (an error);
	// default 30 s.
	DeliveryTimeout time.Duration
}

// fanoutWatcher is what one watcher saw: per put, the event's revision (0
// for none yet) and when it arrived, since the run's base time. Only the
// watcher's own goroutine writes it, and it is read after that ends.
type fanoutWatcher struct {
	revs     []int64
	arrivals []time.Duration
	lastRev  int64
	// faults counts events that break "every put exactly once, in
	// revision order": duplicates, reordering, foreign keys, deletes, and
	// the watch ending early; firstFault describes the first.
	faults     int
	firstFault string
}

func (w *fanoutWatcher) fault(format string, args ...any) {
	if w.faults == 0 {
		w.firstFault = fmt.Sprintf(format, args...)
	}
	w.faults++
}

// record takes one event received at at; it reports whether the event was
// a delivery of one of the puts not seen before by this watcher.
func (w *fanoutWatcher) record(ev *clientv3.Event, at time.Duration) bool {
	key := string(ev.Kv.Key)
	i, err := strconv.Atoi(strings.TrimPrefix(key, fanoutKeyPrefix))
	switch {
	case !strings.HasPrefix(key, fanoutKeyPrefix) || err != nil || i < 0 || i >= len(w.revs):
		w.fault("event on unexpected key %q", key)
		return false
	case ev.Type != mvccpb.PUT:
		w.fault("%s event on %q, want only puts", ev.Type, key)
		return false
	case w.revs[i] != 0:
		w.fault("put %d delivered twice (revisions %d and %d)", i, w.revs[i], ev.Kv.ModRevision)
		return false
	case ev.Kv.ModRevision <= w.lastRev:
		// Delivered, but out of order: counted as a fault, and the
		// delivery is kept so that the wait for every event can end.
		w.fault("put %d at revision %d arrived after revision %d", i, ev.Kv.ModRevision, w.lastRev)
	}
	w.revs[i], w.arrivals[i] = ev.Kv.ModRevision, at
	w.lastRev = max(w.lastRev, ev.Kv.ModRevision)
	return true
}

// newFanoutWatchers makes n watchers' records of puts puts, on one
// backing array each for revisions and arrivals (10,000 watchers × 100
// puts is 16 MB).
func newFanoutWatchers(n, puts int) []fanoutWatcher {
	revs := make([]int64, n*puts)
	arrivals := make([]time.Duration, n*puts)
	ws := make([]fanoutWatcher, n)
	for i := range ws {
		ws[i].revs = revs[i*puts : (i+1)*puts : (i+1)*puts]
		ws[i].arrivals = arrivals[i*puts : (i+1)*puts : (i+1)*puts]
	}
	return ws
}

// fanoutTally judges what the watchers saw against the puts: sent[i] is
// when put i was sent and putRevs[i] the revision it committed at (0 when
// it failed; its failure is counted by the caller, and its event, if it
// arrives anyway, is timed but not required). Every acknowledged put's
// event must reach every watcher once, at the put's revision; each miss,
// wrong revision and fault is an error. Latencies of the good deliveries
// go into h.
func fanoutTally(ws []fanoutWatcher, sent []time.Duration, putRevs []int64) (h Histogram, errs int, samples []string) {
	sample := func(format string, args ...any) {
		if len(samples) < errorSamplesMax {
			samples = append(samples, fmt.Sprintf(format, args...))
		}
	}
	missing, watchersShort, wrongRev := 0, 0, 0
	for wi := range ws {
		w := &ws[wi]
		if w.faults > 0 {
			errs += w.faults
			sample("watcher %d: %d faults, first: %s", wi, w.faults, w.firstFault)
		}
		short := false
		for i, want := range putRevs {
			got := w.revs[i]
			switch {
			case got == 0:
				if want != 0 {
					missing++
					short = true
				}
			case want != 0 && got != want:
				wrongRev++
				sample("watcher %d: put %d's event at revision %d, the put committed at %d", wi, i, got, want)
			default:
				h.Record(max(0, w.arrivals[i]-sent[i]))
			}
		}
		if short {
			watchersShort++
		}
	}
	if missing > 0 {
		sample("%d events never arrived (%d of %d watchers missed some)", missing, watchersShort, len(ws))
	}
	return h, errs + missing + wrongRev, samples
}

// runWatchFanout opens f.Watchers watchers on fanoutKeyPrefix over
// f.Conns connections spread over endpoints, waits until every one is
// created, then puts f.Puts keys through putEndpoint (the leader's, so
// neither system's puts take a forwarding hop the other's do not), one at
// a time, f.PutInterval apart, and waits up to f.DeliveryTimeout after the
// last for every event. Its Result: Clients is f.Conns, Concurrency
// f.Watchers, Ops the deliveries timed, latencies put-send-to-receipt over
// every (put, watcher) pair, Errors the failed puts plus fanoutTally's.
// A failure to set the watchers up is a Result with every delivery
// counted as an error, so the comparison goes on; only ctx's end is
// returned as an error.
func runWatchFanout(ctx context.Context, endpoints []string, putEndpoint string, f *FanoutOptions, run *Options, status io.Writer) (Result, error) {
	o := *run
	o.Load, o.Endpoints, o.Clients, o.Concurrency = fanoutLoad, endpoints, f.Conns, f.Watchers
	deliveries := int64(f.Watchers) * int64(f.Puts)
	failed := func(err error) (Result, error) {
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		r := newResult(&o, &Histogram{}, int(deliveries), 0, []string{err.Error()})
		return r, nil
	}
	clients, err := dialClients(&o)
	if err != nil {
		return failed(err)
	}
	defer func() { closeClients(clients) }() // nil once closed below
	putCli, err := clientv3.New(clientv3.Config{Endpoints: []string{putEndpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return failed(fmt.Errorf("dial %s for the puts: %w", putEndpoint, err))
	}
	defer putCli.Close()

	chans, stopWatches, err := openWatchers(ctx, clients, f.Watchers, fanoutKeyPrefix, run.RequestTimeout, status)
	if err != nil {
		return failed(err)
	}
	defer stopWatches()
	var stopped atomic.Bool // set before stopWatches: the watches' end is then no fault
	ws := newFanoutWatchers(f.Watchers, f.Puts)
	var delivered atomic.Int64
	p := newProgress(status, fanoutLoad, int(deliveries))
	base := time.Now()
	var wg sync.WaitGroup
	for i, ch := range chans {
		w := &ws[i]
		wg.Go(func() {
			for resp := range ch {
				at := time.Since(base)
				if resp.Canceled || resp.Err() != nil {
					if !stopped.Load() && ctx.Err() == nil {
						w.fault("watch ended: %v", resp.Err())
					}
					continue
				}
				for _, ev := range resp.Events {
					if w.record(ev, at) {
						delivered.Add(1)
						p.add(1)
					}
				}
			}
		})
	}

	sent := make([]time.Duration, f.Puts)
	putRevs := make([]int64, f.Puts)
	putErrs := 0
	var putSamples []string
	value := strings.Repeat("v", run.ValueSizeBytes)
	for i := range f.Puts {
		if wait := time.Duration(i)*f.PutInterval - time.Since(base); wait > 0 {
			select {
			case <-time.After(wait):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		rctx, cancel := context.WithTimeout(ctx, run.RequestTimeout)
		sent[i] = time.Since(base)
		resp, err := putCli.Put(rctx, fanoutKeyPrefix+strconv.Itoa(i), value)
		cancel()
		if err != nil {
			putErrs++
			if len(putSamples) < errorSamplesMax {
				putSamples = append(putSamples, fmt.Sprintf("put %d via %s: %v", i, putEndpoint, err))
			}
			continue
		}
		putRevs[i] = resp.Header.GetRevision()
	}
	deadline := time.Now().Add(f.DeliveryTimeout)
	for delivered.Load() < deliveries && time.Now().Before(deadline) && ctx.Err() == nil {
		time.Sleep(fanoutDeliveryPoll)
	}
	elapsed := time.Since(base)
	// Ending the watches' context closes their channels; closing the
	// connections makes sure of it before waiting for the readers.
	stopped.Store(true)
	stopWatches()
	closeClients(clients)
	clients = nil
	wg.Wait()
	p.finish()
	if ctx.Err() != nil {
		return Result{}, fmt.Errorf("%s: %w", fanoutLoad, ctx.Err())
	}
	h, errs, samples := fanoutTally(ws, sent, putRevs)
	samples = append(putSamples, samples...)
	return newResult(&o, &h, errs+putErrs, elapsed, samples[:min(len(samples), errorSamplesMax)]), nil
}
