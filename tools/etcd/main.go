// Command etcd is etcd v3.7.3 itself, built from the Go module proxy so
// kvbench can run it side by side with kvd; etcd's own go.mod carries
// replace directives, so it is built from this tiny module instead of
// `go install`.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
