package reports

import (
	"io"
	"os"
	"strings"
	"time"
)

// Progress redraws a run's status while it goes: in place every barEvery
// when the writer is a terminal, as a plain line every plainEvery
// otherwise (CI logs). The caller owns the status and says how to draw it.
type Progress struct {
	tty     bool
	stop    chan struct{}
	stopped chan struct{}
}

// StartProgress calls draw(tty) on its period until Stop. draw runs on the
// Progress's own goroutine: it must guard what it reads.
func StartProgress(w io.Writer, barEvery, plainEvery time.Duration, draw func(tty bool)) *Progress {
	p := &Progress{tty: IsTerminal(w), stop: make(chan struct{}), stopped: make(chan struct{})}
	every := plainEvery
	if p.tty {
		every = barEvery
	}
	go func() {
		defer close(p.stopped)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-p.stop:
				return
			case <-t.C:
				draw(p.tty)
			}
		}
	}()
	return p
}

// TTY reports whether the status goes to a terminal.
func (p *Progress) TTY() bool { return p.tty }

// Stop ends the redraws and waits for the last one to finish.
func (p *Progress) Stop() {
	close(p.stop)
	<-p.stopped
}

// IsTerminal reports whether w is a character device (a terminal).
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// Bar renders done of total as width cells of fill then empty.
func Bar(done, total int64, width int, fill, empty string) string {
	filled := int(int64(width) * min(done, total) / max(total, 1))
	return strings.Repeat(fill, filled) + strings.Repeat(empty, width-filled)
}
