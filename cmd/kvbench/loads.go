package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// keyPrefix starts every key the benchmark writes, so its data is easy to
// tell apart (and range-prefix ranges stay inside it).
const keyPrefix = "b/"

// watchKeyPrefix holds watch-latency's keys, one per worker.
const watchKeyPrefix = "w/"

// leaseTTLSeconds is long enough that granted leases do not expire (and
// cause revoke traffic) during the loads that follow.
const leaseTTLSeconds = 3600

// rangePrefixDigits is how many trailing key digits range-prefix leaves
// open: one range covers up to 10^rangePrefixDigits keys.
const rangePrefixDigits = 2

// keyOf is key i of the keyspace, zero-padded to sizeBytes.
func keyOf(i, sizeBytes int) string {
	digits := strconv.Itoa(i)
	pad := sizeBytes - len(keyPrefix) - len(digits)
	if pad < 0 {
		panic(fmt.Sprintf("kvbench: key %d does not fit in %d bytes", i, sizeBytes))
	}
	b := make([]byte, 0, sizeBytes)
	b = append(b, keyPrefix...)
	for range pad {
		b = append(b, '0')
	}
	return string(append(b, digits...))
}

// needsPreload reports whether a load reads keys it expects to exist.
func needsPreload(load string) bool {
	switch load {
	case "get", "get-serializable", "txn-cas", "range-prefix", "mixed":
		return true
	}
	return false
}

// op is one operation of a load; it returns the error the client saw.
type op func(ctx context.Context) error

// worker is one in-flight slot: its own client, randomness and state.
type worker struct {
	id    int
	c     *clientv3.Client
	o     *Options
	rng   *rand.Rand
	value string
	// casRev remembers the mod revision txn-cas last saw per key.
	casRev map[string]int64
	watch  *watchFanout
	seq    int
}

func newWorker(id int, c *clientv3.Client, o *Options, wf *watchFanout) *worker {
	return &worker{
		id: id, c: c, o: o, watch: wf,
		rng:    rand.New(rand.NewPCG(o.Seed, uint64(id))),
		value:  string(bytes.Repeat([]byte{'v'}, o.ValueSizeBytes)),
		casRev: map[string]int64{},
	}
}

func (w *worker) randomKey() string { return keyOf(w.rng.IntN(w.o.Keyspace), w.o.KeySizeBytes) }

// op returns the worker's next operation of the load.
func (w *worker) op(load string) op {
	switch load {
	case "put":
		k := w.randomKey()
		return func(ctx context.Context) error { _, err := w.c.Put(ctx, k, w.value); return err }
	case "get":
		k := w.randomKey()
		return func(ctx context.Context) error { return expectFound(w.c.Get(ctx, k)) }
	case "get-serializable":
		k := w.randomKey()
		return func(ctx context.Context) error { return expectFound(w.c.Get(ctx, k, clientv3.WithSerializable())) }
	case "mixed":
		k := w.randomKey()
		if w.rng.IntN(100) < 80 {
			return func(ctx context.Context) error { return expectFound(w.c.Get(ctx, k)) }
		}
		return func(ctx context.Context) error { _, err := w.c.Put(ctx, k, w.value); return err }
	case "range-prefix":
		k := w.randomKey()
		prefix := k[:len(k)-rangePrefixDigits]
		return func(ctx context.Context) error { return expectFound(w.c.Get(ctx, prefix, clientv3.WithPrefix())) }
	case "txn-cas":
		return w.casOp()
	case "lease-grant":
		return func(ctx context.Context) error { _, err := w.c.Grant(ctx, leaseTTLSeconds); return err }
	case "watch-latency":
		return w.watchOp()
	}
	panic(fmt.Sprintf("kvbench: load %q has no operation", load))
}

// expectFound turns an empty read of a preloaded key into an error, so a
// server that answers fast but wrong does not look good.
func expectFound(resp *clientv3.GetResponse, err error) error {
	if err != nil {
		return err
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("read found nothing (revision %d)", resp.Header.GetRevision())
	}
	return nil
}

// casOp is a compare-and-swap: put if the key's mod revision is still the
// one this worker last saw, else read the current one. Both branches are a
// served transaction; a lost race only refreshes what the worker knows.
func (w *worker) casOp() op {
	k := w.randomKey()
	return func(ctx context.Context) error {
		rev, known := w.casRev[k]
		if !known {
			rev = math.MaxInt64 // never equal: the first txn learns the revision
		}
		resp, err := w.c.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(k), "=", rev)).
			Then(clientv3.OpPut(k, w.value)).
			Else(clientv3.OpGet(k)).
			Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			w.casRev[k] = resp.Header.GetRevision()
			return nil
		}
		if len(resp.Responses) != 1 || len(resp.Responses[0].GetResponseRange().GetKvs()) != 1 {
			return fmt.Errorf("txn-cas on %s: failed compare without the current value", k)
		}
		w.casRev[k] = resp.Responses[0].GetResponseRange().GetKvs()[0].ModRevision
		return nil
	}
}

// watchOp puts the worker's own watch key with a fresh value and waits
// until every watcher has seen that value.
func (w *worker) watchOp() op {
	w.seq++
	k := watchKeyPrefix + strconv.Itoa(w.id)
	v := fmt.Sprintf("%d/%s", w.seq, w.value)
	return func(ctx context.Context) error {
		p := w.watch.expect(k, v)
		defer w.watch.forget(k)
		if _, err := w.c.Put(ctx, k, v); err != nil {
			return err
		}
		select {
		case <-p.done:
			return nil
		case <-ctx.Done():
			return fmt.Errorf("put of %s: %d of %d watchers never saw it: %w", k, p.remaining.Load(), w.watch.watchers, ctx.Err())
		}
	}
}

// watchFanout follows watch-latency's W watchers and tells each waiting
// put when all of them have seen its value.
type watchFanout struct {
	watchers int
	mu       sync.Mutex
	pending  map[string]*pendingEvent
}

type pendingEvent struct {
	value     string
	remaining atomic.Int32
	done      chan struct{}
}

func (f *watchFanout) expect(key, value string) *pendingEvent {
	p := &pendingEvent{value: value, done: make(chan struct{})}
	p.remaining.Store(int32(f.watchers))
	f.mu.Lock()
	f.pending[key] = p
	f.mu.Unlock()
	return p
}

func (f *watchFanout) forget(key string) {
	f.mu.Lock()
	delete(f.pending, key)
	f.mu.Unlock()
}

// seen is called by a watcher for every event it receives.
func (f *watchFanout) seen(key, value []byte) {
	f.mu.Lock()
	p := f.pending[string(key)]
	f.mu.Unlock()
	if p == nil || p.value != string(value) {
		return
	}
	if p.remaining.Add(-1) == 0 {
		close(p.done)
	}
}

// startWatchers opens W watchers spread over the clients, waits until each
// is created, and feeds their events to the fanout until stop is called
// or ctx ends.
func startWatchers(ctx context.Context, clients []*clientv3.Client, watchers int, createTimeout time.Duration) (f *watchFanout, stop context.CancelFunc, err error) {
	f = &watchFanout{watchers: watchers, pending: map[string]*pendingEvent{}}
	chans, stop, err := openWatchers(ctx, clients, watchers, watchKeyPrefix, createTimeout, nil)
	if err != nil {
		return nil, nil, err
	}
	for _, ch := range chans {
		go func() {
			for resp := range ch {
				for _, ev := range resp.Events {
					f.seen(ev.Kv.Key, ev.Kv.Value)
				}
			}
		}()
	}
	return f, stop, nil
}

// openWatchers opens n watchers on prefix, watcher i on clients[i mod
// len(clients)], each one Watch call, and returns once the server has
// created every one (WithCreatedNotify), so that no event is missed for
// a watcher still being set up. Watchers of one connection open one after
// the other (clientv3 sends one create request at a time per stream in
// any case), connections in parallel. The watchers last until stop is
// called or ctx ends; a watcher that loses its leader ends too
// (WithRequireLeader), rather than waiting quietly on a partitioned
// member. A watcher not created within createTimeout — clientv3's Watch
// itself waits for the stream, so a dead server would hold it for ever —
// ends them all, and is an error.
func openWatchers(ctx context.Context, clients []*clientv3.Client, n int, prefix string, createTimeout time.Duration, status io.Writer) (chans []clientv3.WatchChan, stop context.CancelFunc, err error) {
	wctx, stop := context.WithCancel(ctx)
	chans = make([]clientv3.WatchChan, n)
	// The first failure ends every watcher, so the other connections stop
	// opening theirs; only it is reported.
	var firstErr error
	var once sync.Once
	fail := func(err error) { once.Do(func() { firstErr = err; stop() }) }
	p := newProgress(status, "open watchers", n)
	var wg sync.WaitGroup
	for ci, c := range clients {
		wg.Go(func() {
			for i := ci; i < n; i += len(clients) {
				timer := time.AfterFunc(createTimeout, func() {
					fail(fmt.Errorf("watcher %d on %v: not created within %v", i, c.Endpoints(), createTimeout))
				})
				ch := c.Watch(clientv3.WithRequireLeader(wctx), prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
				first, ok := <-ch
				timer.Stop()
				if !ok || !first.Created {
					fail(fmt.Errorf("watcher %d on %v: not created (err %v)", i, c.Endpoints(), errors.Join(first.Err(), wctx.Err())))
					return
				}
				chans[i] = ch
				p.add(1)
			}
		})
	}
	wg.Wait()
	p.finish()
	if wctx.Err() != nil {
		stop()
		return nil, nil, fmt.Errorf("open %d watchers on %q over %d connections: %w", n, prefix, len(clients), errors.Join(firstErr, ctx.Err()))
	}
	return chans, stop, nil
}
