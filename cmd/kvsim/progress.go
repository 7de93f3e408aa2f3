package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// progress reports a campaign as it runs: a redrawn bar when stderr is a
// terminal, a plain line every plainEvery otherwise (CI logs).
type progress struct {
	mu       sync.Mutex
	out      io.Writer // seed lines
	status   io.Writer // the bar or the periodic lines
	tty      bool
	total    int
	done     int
	failed   int
	virtual  time.Duration
	started  time.Time
	lastLine time.Time
	stop     chan struct{}
	stopped  chan struct{}
}

const (
	plainEvery = 10 * time.Second
	barEvery   = 250 * time.Millisecond
	barWidth   = 30
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func newProgress(out, status io.Writer, total int) *progress {
	p := &progress{out: out, status: status, tty: isTerminal(status), total: total,
		started: time.Now(), lastLine: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	go p.loop()
	return p
}

func (p *progress) loop() {
	defer close(p.stopped)
	every := plainEvery
	if p.tty {
		every = barEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.mu.Lock()
			p.draw()
			p.mu.Unlock()
		}
	}
}

// seed records one finished seed and prints its line.
func (p *progress) seed(r reports.Result) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.done++
	if r.Failed() {
		p.failed++
	}
	p.virtual += time.Duration(r.Virtual)
	if p.tty {
		fmt.Fprint(p.status, "\r\033[K")
	}
	fmt.Fprintln(p.out, describe(r))
	if p.tty {
		p.draw()
	}
}

func (p *progress) draw() {
	elapsed := time.Since(p.started)
	rate := p.virtual.Seconds() / max(elapsed.Seconds(), 1e-9)
	eta := "?"
	if p.done > 0 {
		eta = (elapsed * time.Duration(p.total-p.done) / time.Duration(p.done)).Round(time.Second).String()
	}
	if p.tty {
		filled := barWidth * p.done / max(p.total, 1)
		fmt.Fprintf(p.status, "\r\033[K[%s%s] %d/%d seeds · %d failed · %.0f simulated s per s · eta %s",
			strings.Repeat("#", filled), strings.Repeat(".", barWidth-filled), p.done, p.total, p.failed, rate, eta)
		return
	}
	fmt.Fprintf(p.status, "kvsim: %d/%d seeds done, %d failed, %.0f simulated s per wall s, %v elapsed, eta %s\n",
		p.done, p.total, p.failed, rate, elapsed.Round(time.Second), eta)
}

func (p *progress) finish() {
	close(p.stop)
	<-p.stopped
	if p.tty {
		p.mu.Lock()
		fmt.Fprint(p.status, "\r\033[K")
		p.mu.Unlock()
	}
}
