// Command etcdctl is etcd's own etcdctl v3.7.3, built from the Go module
// proxy; its upstream go.mod carries replace directives, so it cannot be
// `go install`ed and is built from this two-line module instead.
package main

import "go.etcd.io/etcd/etcdctl/v3/ctlv3"

func main() { ctlv3.MustStart() }
