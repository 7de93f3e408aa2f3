package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
)

// jobLineBytesMax bounds one job line a worker reads: a job carries at most
// one schedule (nemesis.FaultsMax faults).
const jobLineBytesMax = 64 << 20

// workerMain is the hidden "kvsim worker" subcommand: it reads one job per
// line on in, runs it, and writes its Result as one JSON line on out. One
// simulation runs at a time: raft reads the process-wide crypto/rand.
func workerMain(in io.Reader, out io.Writer) error {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), jobLineBytesMax)
	enc := json.NewEncoder(out)
	for sc.Scan() {
		var j job
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return fmt.Errorf("worker: decoding job: %w", err)
		}
		if err := enc.Encode(execute(j)); err != nil {
			return fmt.Errorf("worker: writing seed %d's result: %w", j.Seed, err)
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("worker: reading jobs: %w", err)
	}
	return nil
}
