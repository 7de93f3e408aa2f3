package procs_test

import (
	"fmt"
	"os/exec"

	"github.com/kvdlabs/kvd/internal/procs"
)

// A child writes its output to an Output while the parent reads it; its
// ports come from FreeLoopbackPorts.
func Example() {
	ports, err := procs.FreeLoopbackPorts(2)
	if err != nil || len(ports) != 2 || ports[0] == ports[1] {
		fmt.Println("no ports:", err)
		return
	}
	out := &procs.Output{}
	cmd := exec.Command("echo", "listening")
	cmd.Stdout = out
	if err := cmd.Run(); err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(out.String())
	// Output: listening
}
