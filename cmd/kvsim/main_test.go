package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kvdlabs/kvd/reports"
)

// TestMain lets the test binary serve as its own worker process, as the
// kvsim binary does: the campaign re-executes os.Args[0] with "worker".
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "worker" {
		if err := workerMain(os.Stdin, os.Stdout); err != nil {
			os.Stderr.WriteString(err.Error() + "\n")
			os.Exit(exitHarness)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// testConfig is a short run of the stand-in workload.
func testConfig(workload, profile string) reports.Config {
	return reports.Config{
		Workload: workload, Nemesis: profile, Nodes: 3, Duration: reports.Duration(30 * time.Second),
		Clients: 3, OpsMax: 1000, LivenessBound: reports.Duration(10 * time.Second),
		CheckTimeout: reports.Duration(10 * time.Second),
	}
}

// runCLI runs a kvsim command line in this process.
func runCLI(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = kvsim(args, strings.NewReader(""), &out, &errOut)
	return code, out.String(), errOut.String()
}

// workerBinary makes the campaign start this test binary as its workers.
func useTestWorkers(t *testing.T) {
	t.Helper()
	old := workerCommand
	workerCommand = func() *exec.Cmd { return exec.Command(os.Args[0], "worker") }
	t.Cleanup(func() { workerCommand = old })
}
