package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// stderrTailBytesMax bounds what is kept of a worker's stderr, to explain a
// worker that died.
const stderrTailBytesMax = 64 << 10

// workerCommand is how the campaign starts a worker process: this binary,
// with the hidden worker subcommand. Tests point it at the test binary.
var workerCommand = func() *exec.Cmd {
	return exec.Command(os.Args[0], "worker")
}

// runJobs runs every job and hands each Result to onResult (from one
// goroutine at a time, in completion order). workers 0 runs the jobs one by
// one in this process; otherwise each of workers worker processes runs one
// seed at a time, and a worker that dies or overruns seedTimeout is a crash
// of that seed and is replaced. An error means the harness itself failed.
func runJobs(jobs []job, workers int, seedTimeout time.Duration, onResult func(reports.Result)) error {
	return runJobsOn(workerProgram{}, jobs, workers, seedTimeout, onResult)
}

// workerProgram is what the worker processes run: a kvsim built apart
// (another revision, or instrumented for coverage) and the environment it
// adds; zero: this binary's workerCommand.
type workerProgram struct {
	path string
	env  []string
}

// runJobsOn is runJobs with the worker processes started from prog.
func runJobsOn(prog workerProgram, jobs []job, workers int, seedTimeout time.Duration, onResult func(reports.Result)) error {
	return runJobsUntil(prog, jobs, workers, seedTimeout, nil, onResult)
}

// runJobsUntil is runJobsOn that starts no new job once stop is closed;
// the jobs already running finish and are handed to onResult.
func runJobsUntil(prog workerProgram, jobs []job, workers int, seedTimeout time.Duration, stop <-chan struct{}, onResult func(reports.Result)) error {
	assertf(prog.path == "" || workers > 0, "a worker program %s with no worker processes", prog.path)
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	if workers == 0 {
		for _, j := range jobs {
			if stopped() {
				break
			}
			onResult(execute(j))
		}
		return nil
	}
	queue := make(chan job)
	results := make(chan reports.Result)
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range min(workers, len(jobs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- serveJobs(prog, queue, results, seedTimeout)
		}()
	}
	go func() {
		defer close(queue)
		for _, j := range jobs {
			select {
			case queue <- j:
			case <-stop:
				return
			}
		}
	}()
	go func() { wg.Wait(); close(results) }()
	for r := range results {
		onResult(r)
	}
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}

// serveJobs feeds jobs to one worker process, replacing it when it dies.
func serveJobs(prog workerProgram, queue <-chan job, results chan<- reports.Result, seedTimeout time.Duration) error {
	var p *workerProc
	defer func() {
		if p != nil {
			p.close()
		}
	}()
	for j := range queue {
		if p == nil {
			var err error
			if p, err = startWorker(prog); err != nil {
				// Drain so the other workers finish; this job is lost to a
				// harness error, reported as such.
				for range queue {
				}
				return fmt.Errorf("%w: seed %d: %v", errHarness, j.Seed, err)
			}
		}
		r, err := p.do(j, seedTimeout)
		if err != nil {
			p.kill()
			r = deadWorkerResult(j, err, p.stderr.String())
			p = nil
		}
		results <- r
	}
	return nil
}

// workerProc is one running worker process.
type workerProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stderr *tailBuffer
	// readErr is why lines was closed.
	readErr error
}

func startWorker(prog workerProgram) (*workerProc, error) {
	cmd := workerCommand()
	if prog.path != "" {
		cmd = exec.Command(prog.path, "worker")
	}
	if len(prog.env) > 0 {
		cmd.Env = append(os.Environ(), prog.env...)
	}
	p := &workerProc{cmd: cmd, lines: make(chan []byte), stderr: &tailBuffer{}}
	cmd.Stderr = p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", cmd.Path, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", cmd.Path, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting worker %s: %w", cmd.Path, err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		sc.Buffer(make([]byte, 0, 64<<10), jobLineBytesMax)
		for sc.Scan() {
			p.lines <- append([]byte(nil), sc.Bytes()...)
		}
		p.readErr = sc.Err()
		if p.readErr == nil {
			p.readErr = io.EOF
		}
		close(p.lines)
	}()
	return p, nil
}

// do runs one job on the worker and waits for its result.
func (p *workerProc) do(j job, timeout time.Duration) (reports.Result, error) {
	line, err := json.Marshal(j)
	if err != nil {
		panic(fmt.Sprintf("kvsim: encoding a job: %v", err))
	}
	if _, err := p.stdin.Write(append(line, '\n')); err != nil {
		return reports.Result{}, fmt.Errorf("sending seed %d: %w", j.Seed, err)
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case out, ok := <-p.lines:
		if !ok {
			return reports.Result{}, fmt.Errorf("died running seed %d (%v, %v)", j.Seed, p.readErr, p.wait())
		}
		var r reports.Result
		if err := json.Unmarshal(out, &r); err != nil {
			return reports.Result{}, fmt.Errorf("unreadable result for seed %d: %w", j.Seed, err)
		}
		if r.Seed != j.Seed {
			return reports.Result{}, fmt.Errorf("answered seed %d when asked seed %d", r.Seed, j.Seed)
		}
		return r, nil
	case <-timer.C:
		return reports.Result{}, fmt.Errorf("seed %d ran longer than --seed-timeout %v", j.Seed, timeout)
	}
}

// wait reaps a worker whose output ended and says how it exited.
func (p *workerProc) wait() error {
	err := p.cmd.Wait()
	if err == nil {
		return errors.New("exited 0 mid-seed")
	}
	return err
}

// close ends a healthy worker: closing its stdin ends its job loop.
func (p *workerProc) close() {
	p.stdin.Close()
	for range p.lines {
	}
	p.cmd.Wait()
}

// kill ends a worker that failed, by its own process handle.
func (p *workerProc) kill() {
	if p.cmd.ProcessState == nil {
		p.cmd.Process.Kill()
	}
	p.stdin.Close()
	for range p.lines {
	}
	if p.cmd.ProcessState == nil {
		p.cmd.Wait()
	}
}

// tailBuffer keeps the last stderrTailBytesMax bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - stderrTailBytesMax; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// deadWorkerResult reports a seed whose worker died or overran: a crash,
// with the worker's last stderr as the stack, and a report folder holding
// what the parent can know without the run — its configuration and the
// schedule, which is a pure function of the seed.
func deadWorkerResult(j job, err error, stderr string) reports.Result {
	r := reports.Result{Seed: j.Seed, Config: j.Config, Outcome: reports.Crash,
		Detail: fmt.Sprintf("worker process: %v", err), Stack: stderr}
	sched := scheduleOf(j)
	r.Swarm = sched.Swarm.String()
	if j.OutDir == "" {
		return r
	}
	data, jerr := json.MarshalIndent(sched, "", "  ")
	if jerr != nil {
		panic(fmt.Sprintf("kvsim: encoding seed %d's schedule: %v", j.Seed, jerr))
	}
	dir, werr := reports.WriteSeed(j.OutDir, reports.SeedFiles{Result: r, Schedule: data})
	if werr != nil {
		r.Detail += fmt.Sprintf("\nwriting the seed's report: %v", werr)
	}
	r.ReportDir = dir
	return r
}
