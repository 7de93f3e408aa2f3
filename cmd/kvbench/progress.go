package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"
	"time"
)

// progress shows a run as it goes: a redrawn bar when the status writer is
// a terminal, a plain line every progressPlainEvery otherwise (logs).
type progress struct {
	w       io.Writer
	label   string
	total   int64
	done    atomic.Int64
	tty     bool
	started time.Time
	stop    chan struct{}
	stopped chan struct{}
}

const (
	progressBarEvery   = 200 * time.Millisecond
	progressPlainEvery = 5 * time.Second
	progressBarWidth   = 30
)

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// newProgress starts reporting on w; a nil w reports nothing.
func newProgress(w io.Writer, label string, total int) *progress {
	p := &progress{w: w, label: label, total: int64(total), tty: isTerminal(w), started: time.Now(),
		stop: make(chan struct{}), stopped: make(chan struct{})}
	if w == nil {
		close(p.stopped)
		return p
	}
	go p.loop()
	return p
}

func (p *progress) add(n int) { p.done.Add(int64(n)) }

func (p *progress) loop() {
	defer close(p.stopped)
	every := progressPlainEvery
	if p.tty {
		every = progressBarEvery
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
			p.draw(false)
		}
	}
}

// finish stops the reporter and prints the final state.
func (p *progress) finish() {
	if p.w == nil {
		return
	}
	close(p.stop)
	<-p.stopped
	p.draw(true)
}

func (p *progress) draw(final bool) {
	done := min(p.done.Load(), p.total)
	elapsed := time.Since(p.started)
	rate := float64(done) / max(elapsed.Seconds(), 1e-9)
	if !p.tty {
		fmt.Fprintf(p.w, "%s: %d/%d ops, %.0f ops/s, %s\n", p.label, done, p.total, rate, elapsed.Round(time.Millisecond))
		return
	}
	filled := int(int64(progressBarWidth) * done / max(p.total, 1))
	bar := strings.Repeat("=", filled) + strings.Repeat(" ", progressBarWidth-filled)
	end := ""
	if final {
		end = "\n"
	}
	fmt.Fprintf(p.w, "\r%-18s [%s] %d/%d %.0f ops/s %s\x1b[K%s", p.label, bar, done, p.total, rate, elapsed.Round(100*time.Millisecond), end)
}
