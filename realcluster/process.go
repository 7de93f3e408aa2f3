package realcluster

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// processExitWaitMax bounds how long a SIGKILLed process may take to be
// reaped; the kernel needs far less.
const processExitWaitMax = 10 * time.Second

// process is one run of a member's binary, from start to exit.
type process struct {
	cmd    *exec.Cmd
	pid    int
	log    *os.File
	exited chan struct{}
	// err is what Wait returned; read after exited closes.
	err error
}

// startProcess starts binary with args, its stdout and stderr appended to
// logPath. The child gets a process group of its own, so a Ctrl-C at the
// terminal reaches only the harness, which then stops it by PID.
func startProcess(binary string, args []string, logPath string) (*process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("realcluster: open log %s: %w", logPath, err)
	}
	fmt.Fprintf(log, "\n=== realcluster: %s start %s %v\n", time.Now().Format(time.RFC3339Nano), binary, args)
	cmd := exec.Command(binary, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		return nil, fmt.Errorf("realcluster: start %s: %w", binary, err)
	}
	p := &process{cmd: cmd, pid: cmd.Process.Pid, log: log, exited: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		log.Close()
		close(p.exited)
	}()
	return p, nil
}

// running reports whether the process has not exited (a stopped one runs).
func (p *process) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// signal sends sig to the process by the PID it was started with (os.Process
// refuses once it was reaped, so a reused PID is never hit).
func (p *process) signal(sig syscall.Signal) error {
	if err := p.cmd.Process.Signal(sig); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("realcluster: signal %v to pid %d: %w", sig, p.pid, err)
	}
	return nil
}

// end resumes the process if it was stopped (so nothing of it lingers in
// the stopped state), sends it sig and waits up to waitMax for it to be
// reaped; exited says whether it was.
func (p *process) end(sig syscall.Signal, waitMax time.Duration) (exited bool, err error) {
	if !p.running() {
		return true, nil
	}
	contErr := p.signal(syscall.SIGCONT)
	if err := p.signal(sig); err != nil {
		return false, errors.Join(contErr, err)
	}
	select {
	case <-p.exited:
		return true, nil
	case <-time.After(waitMax):
		return false, nil
	}
}

// terminate asks the process to stop with SIGTERM, as an operator or a
// service manager does; past waitMax it is killed. It returns once the
// process is reaped.
func (p *process) terminate(waitMax time.Duration) error {
	exited, err := p.end(syscall.SIGTERM, waitMax)
	if err != nil {
		return err
	}
	if !exited {
		return errors.Join(fmt.Errorf("realcluster: pid %d still running %v after SIGTERM: killed", p.pid, waitMax), p.kill())
	}
	// A graceful stop exits 0 (kvd) or dies of the SIGTERM it raises
	// again once it has shut down (etcd); anything else went wrong.
	var exit *exec.ExitError
	if p.err == nil || (errors.As(p.err, &exit) && exit.Sys().(syscall.WaitStatus).Signal() == syscall.SIGTERM) {
		return nil
	}
	return fmt.Errorf("realcluster: pid %d after SIGTERM: %w", p.pid, p.err)
}

// kill SIGKILLs the process and waits until it is reaped.
func (p *process) kill() error {
	exited, err := p.end(syscall.SIGKILL, processExitWaitMax)
	if err == nil && !exited {
		err = fmt.Errorf("realcluster: pid %d still not reaped %v after SIGKILL", p.pid, processExitWaitMax)
	}
	return err
}
