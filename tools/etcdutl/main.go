// Command etcdutl is etcd's own etcdutl v3.7.3, built from the Go module
// proxy for the interop tests (snapshot status and restore of kvd's
// snapshots). etcdutl's main package cannot be imported and its go.mod
// carries replace directives, so this module wires its public commands
// into a root command of its own: snapshot, defrag, hashkv, version and
// migrate, with its persistent flags -w and --timeout.
package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"go.etcd.io/etcd/etcdutl/v3/etcdutl"
)

func main() {
	root := &cobra.Command{Use: "etcdutl", Short: "etcd's etcdutl v3.7.3 (kvd tools build)", SilenceUsage: true}
	root.PersistentFlags().StringVarP(&etcdutl.OutputFormat, "write-out", "w", "simple", "output format: fields, json, protobuf, simple or table")
	root.PersistentFlags().DurationVar(&etcdutl.FlockTimeout, "timeout", 10*time.Second, "how long to wait for the db file lock; 0 waits forever")
	root.AddCommand(etcdutl.NewSnapshotCommand(), etcdutl.NewDefragCommand(), etcdutl.NewHashKVCommand(),
		etcdutl.NewVersionCommand(), etcdutl.NewMigrateCommand())
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "Error:", err)
		os.Exit(1)
	}
}
