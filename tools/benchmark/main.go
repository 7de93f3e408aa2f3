// Command benchmark is etcd's own benchmark tool (tools/benchmark in etcd's
// repository), built from the Go module proxy so kvbench vs can drive kvd
// and etcd with a load generator that is not ours. It comes from etcd's
// root module go.etcd.io/etcd/v3 at v3.6.8, the newest version of that
// module on the proxy (v3.7.3's root module is not published there); its
// client is v3.6.8's, which speaks the same v3 API. Built with
// tools/build.sh benchmark OUT, as etcd itself is.
package main

import (
	"fmt"
	"os"

	"go.etcd.io/etcd/v3/tools/benchmark/cmd"
)

func main() {
	if err := cmd.RootCmd.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
