package main

import (
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// progress shows a run as it goes: a redrawn bar when the status writer is
// a terminal, a plain line every progressPlainEvery otherwise (logs).
type progress struct {
	w       io.Writer
	label   string
	total   int64
	done    atomic.Int64
	started time.Time
	ticker  *reports.Progress
}

const (
	progressBarEvery   = 200 * time.Millisecond
	progressPlainEvery = 5 * time.Second
	progressBarWidth   = 30
)

// newProgress starts reporting on w; a nil w reports nothing.
func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: int64(total), started: time.Now()}
	if w != nil {
		p.ticker = reports.StartProgress(w, progressBarEvery, progressPlainEvery, func(tty bool) { p.draw(tty, false) })
	}
	return p
}

func (p *progress) add(n int) { p.done.Add(int64(n)) }

// finish stops the reporter and prints the final state.
func (p *progress) finish() {
	if p.ticker == nil {
		return
	}
	p.ticker.Stop()
	p.draw(p.ticker.TTY(), true)
}

func (p *progress) draw(tty, final bool) {
	done := min(p.done.Load(), p.total)
	elapsed := time.Since(p.started)
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	if !tty {
		fmt.Fprintf(p.w, "%s: %d/%d ops, %.0f ops/s, %s\n", p.label, done, p.total, rate, elapsed.Round(time.Millisecond))
		return
	}
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r%-18s [%s] %d/%d %.0f ops/s %s\x1b[K%s", p.label, reports.Bar(done, p.total, progressBarWidth, "=", " "), done, p.total, rate, elapsed.Round(100*time.Millisecond), end)
}
