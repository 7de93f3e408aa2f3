package main

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// progress reports a campaign as it runs: a redrawn bar when stderr is a
// terminal, a plain line every plainEvery otherwise (CI logs).
type progress struct {
	mu      sync.Mutex
	out     io.Writer // seed lines
	status  io.Writer // the bar or the periodic lines
	tty     bool
	total   int
	done    int
	failed  int
	virtual time.Duration
	started time.Time
	ticker  *reports.Progress
}

const (
	plainEvery = 10 * time.Second
	barEvery   = 250 * time.Millisecond
	barWidth   = 30
)

func newProgress(out, status io.Writer, total int) *progress {
	p := &progress{out: out, status: status, total: total, started: time.Now()}
	p.ticker = reports.StartProgress(status, barEvery, plainEvery, func(bool) {
		p.mu.Lock()
		defer p.mu.Unlock()
		p.draw()
	})
	p.tty = p.ticker.TTY()
	return p
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
		fmt.Fprintf(p.status, "\r\033[K[%s] %d/%d seeds · %d failed · %.0f simulated s per s · eta %s",
			reports.Bar(int64(p.done), int64(p.total), barWidth, "#", "."), p.done, p.total, p.failed, rate, eta)
		return
	}
	fmt.Fprintf(p.status, "kvsim: %d/%d seeds done, %d failed, %.0f simulated s per wall s, %v elapsed, eta %s\n",
		p.done, p.total, p.failed, rate, elapsed.Round(time.Second), eta)
}

func (p *progress) finish() {
	p.ticker.Stop()
	if p.tty {
		p.mu.Lock()
		fmt.Fprint(p.status, "\r\033[K")
		p.mu.Unlock()
	}
}
