package realdriver

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kvdlabs/kvd/workloads/driver"
)

// Loop is a real cluster as the workloads drive it (driver.Cluster): the
// event loop their callbacks run on, and the sessions they talk through.
//
// Every method, Close included, is to be called from the loop's
// goroutine: the one that calls RunUntil, RunWhile and Step, and runs
// every callback. Only the call goroutines it starts run beside it, and
// they touch nothing of the loop's but the channel they post to.
type Loop struct {
	opts    Options
	members []Member
	// index maps a member id to its place in members.
	index map[uint64]int
	log   *slog.Logger

	// ctx is the parent of every call's context; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc
	// closed is closed by Close: goroutines stop posting, and a
	// goroutine waiting for room in completions gives up.
	closed   chan struct{}
	isClosed bool
	// completions carries the closures call goroutines post; only the
	// loop receives from it.
	completions chan func()
	// goroutines counts the goroutines the loop started, for Close.
	goroutines sync.WaitGroup

	timers   timerHeap
	timerSeq uint64
	// wake is the loop's one timer for waiting until the next due timer
	// or a deadline.
	wake *time.Timer

	// inCallback is set while the loop runs a callback: a callback that
	// runs the loop itself would break the one-at-a-time promise.
	inCallback bool
	// pending counts calls issued and not completed (watch creates
	// included).
	pending   int
	sessions  []*Session
	observers []func(driver.Call)
	// inspectors are the loop's own connections for the synchronous
	// member inspection calls, by member id; dialed on first use.
	inspectors map[uint64]*clientv3.Client
}

var _ driver.Cluster = (*Loop)(nil)

// New prepares a loop over opts.Members. It dials nothing yet: each
// session connects to a member when it first calls it.
func New(opts Options) (*Loop, error) {
	if err := opts.validate(); err != nil {
		return nil, err
	}
	opts.ensureDefaults()
	l := &Loop{
		opts:        opts,
		members:     slices.Clone(opts.Members),
		index:       make(map[uint64]int, len(opts.Members)),
		log:         opts.Logger.With("component", "realdriver"),
		closed:      make(chan struct{}),
		completions: make(chan func(), CompletionsMax),
		inspectors:  map[uint64]*clientv3.Client{},
	}
	for i, m := range l.members {
		l.index[m.ID] = i
	}
	l.ctx, l.cancel = context.WithCancel(context.Background())
	l.wake = time.NewTimer(time.Hour)
	l.wake.Stop()
	return l, nil
}

// Now is the wall clock.
func (l *Loop) Now() time.Time { return time.Now() }

// Epoch is when the run began: Options.Epoch, or when New was called.
func (l *Loop) Epoch() time.Time { return l.opts.Epoch }

// After runs fn on the loop once d has passed. Timers due at the same
// instant run in the order they were set.
func (l *Loop) After(d time.Duration, fn func()) {
	if fn == nil {
		panic("realdriver: After with a nil function")
	}
	if len(l.timers) >= TimersMax {
		panic(fmt.Sprintf("realdriver: %d timers waiting, the limit: a workload schedules without bound", len(l.timers)))
	}
	l.timerSeq++
	l.timers.push(timer{due: time.Now().Add(d), seq: l.timerSeq, fn: fn})
}

// Observe adds fn to the observers every completed call goes to, before
// its own callback, as sim.Cluster.Observe does.
func (l *Loop) Observe(fn func(driver.Call)) { l.observers = append(l.observers, fn) }

// IDs are the members' ids, in Options.Members order.
func (l *Loop) IDs() []uint64 {
	ids := make([]uint64, len(l.members))
	for i, m := range l.members {
		ids[i] = m.ID
	}
	return ids
}

// Up are the members running now, as Options.Up reports them; all when
// it is nil.
func (l *Loop) Up() []uint64 {
	if l.opts.Up == nil {
		return l.IDs()
	}
	return l.opts.Up()
}

// FaultWindows are the faults applied so far, as Options.FaultWindows
// reports them; none when it is nil.
func (l *Loop) FaultWindows() []driver.FaultWindow {
	if l.opts.FaultWindows == nil {
		return nil
	}
	return l.opts.FaultWindows()
}

// ProgressNotify does nothing: a real member runs its own progress ticker
// (start members with --watch-progress-notify-interval 1s, the period the
// workloads' watchdogs assume), where a simulated one leaves it to the
// driver.
func (l *Loop) ProgressNotify() {}

// Step runs at most one event: a due timer, or else the next completion a
// call goroutine posted, waiting for one until deadline. It reports
// whether it ran one; false once deadline has passed with nothing to run,
// or the loop is closed.
func (l *Loop) Step(deadline time.Time) bool {
	if l.inCallback {
		panic("realdriver: the loop was run from inside one of its callbacks")
	}
	for !l.isClosed {
		now := time.Now()
		if t, ok := l.timers.popDue(now); ok {
			l.run(t.fn)
			return true
		}
		select {
		case fn := <-l.completions:
			l.run(fn)
			return true
		default:
		}
		if !now.Before(deadline) {
			return false
		}
		until := deadline
		if due, ok := l.timers.next(); ok && due.Before(until) {
			until = due
		}
		l.wake.Reset(until.Sub(now))
		select {
		case fn := <-l.completions:
			l.stopWake()
			l.run(fn)
			return true
		case <-l.wake.C:
			// A timer is due or the deadline passed: look again.
		}
	}
	return false
}

// stopWake stops the wake timer, draining a tick that fired meanwhile so
// the next Reset starts clean.
func (l *Loop) stopWake() {
	if !l.wake.Stop() {
		select {
		case <-l.wake.C:
		default:
		}
	}
}

// RunUntil runs events until t (timers due by t included) or until the
// loop is closed.
func (l *Loop) RunUntil(t time.Time) {
	for l.Step(t) {
	}
}

// RunWhile runs events while cond holds, until deadline. It reports
// whether cond stopped holding (false: deadline passed, or the loop was
// closed, with cond still true).
func (l *Loop) RunWhile(cond func() bool, deadline time.Time) bool {
	for cond() {
		if !l.Step(deadline) {
			return !cond()
		}
	}
	return true
}

// run runs one callback of the loop's.
func (l *Loop) run(fn func()) {
	l.inCallback = true
	defer func() { l.inCallback = false }()
	fn()
}

// spawn runs fn in a goroutine of its own, counted for Close.
func (l *Loop) spawn(fn func()) {
	l.goroutines.Add(1)
	go func() {
		defer l.goroutines.Done()
		fn()
	}()
}

// post hands fn to the loop; from call goroutines only. It reports false
// when the loop closed first (fn will never run).
func (l *Loop) post(fn func()) bool {
	select {
	case l.completions <- fn:
		return true
	case <-l.closed:
		return false
	}
}

// Close cancels every call in flight, closes every connection, and waits
// up to CloseWaitMax for the call goroutines to return. Nothing posted
// after runs; a call still in flight never completes. Closing twice is a
// no-op.
func (l *Loop) Close() error {
	if l.isClosed {
		return nil
	}
	l.isClosed = true
	l.cancel()
	close(l.closed)
	done := make(chan struct{})
	go func() {
		l.goroutines.Wait()
		close(done)
	}()
	var err error
	select {
	case <-done:
	case <-time.After(CloseWaitMax):
		err = fmt.Errorf("realdriver: call goroutines still running %v after their calls were canceled", CloseWaitMax)
		l.log.Warn("close: goroutines did not return", "wait", CloseWaitMax)
	}
	for _, s := range l.sessions {
		s.closeConns()
	}
	for _, id := range l.IDs() {
		if c := l.inspectors[id]; c != nil {
			c.Close()
		}
	}
	l.stopWake()
	return err
}

// member returns member id's place in members; an unknown id is the
// caller's bug.
func (l *Loop) member(id uint64) int {
	i, ok := l.index[id]
	if !ok {
		panic(fmt.Sprintf("realdriver: no member %d (members %v)", id, l.IDs()))
	}
	return i
}

// CallsInFlight counts the sessions' calls (watch creates included) not
// yet completed.
func (l *Loop) CallsInFlight() int { return l.pending }

// callStarted counts a call in flight, asserting the bound.
func (l *Loop) callStarted() {
	if l.pending >= PendingCallsMax {
		panic(fmt.Sprintf("realdriver: %d calls in flight, the limit: a workload issues calls without waiting for them", l.pending))
	}
	l.pending++
}

// callEnded uncounts a completed call.
func (l *Loop) callEnded() {
	if l.pending <= 0 {
		panic("realdriver: a call completed that was never counted as started")
	}
	l.pending--
}

// finish hands a completed call to the observers, then to its callback.
func (l *Loop) finish(call driver.Call, done func(driver.Call)) {
	for _, fn := range l.observers {
		fn(call)
	}
	if done != nil {
		done(call)
	}
}
