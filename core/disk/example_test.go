package disk_test

import (
	"fmt"
	"os"

	"github.com/kvdlabs/kvd/core/disk"
)

// A file becomes durable in two steps: Sync for its bytes, SyncDir for its
// name. Writing to a temporary name and renaming it over the real one makes
// the replacement atomic.
func ExampleOSFS() {
	root, err := os.MkdirTemp("", "disk-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(root)

	var fsys disk.FS = disk.OSFS{Root: root}
	if err := fsys.MkdirAll("member"); err != nil {
		panic(err)
	}
	f, err := fsys.Create("member/state.tmp")
	if err != nil {
		panic(err)
	}
	if _, err := f.Write([]byte("term=3")); err != nil {
		panic(err)
	}
	if err := f.Sync(); err != nil {
		panic(err)
	}
	if err := f.Close(); err != nil {
		panic(err)
	}
	if err := fsys.Rename("member/state.tmp", "member/state"); err != nil {
		panic(err)
	}
	if err := fsys.SyncDir("member"); err != nil {
		panic(err)
	}

	names, _ := fsys.List("member")
	data, _ := fsys.ReadFile("member/state")
	fmt.Println(names, string(data))
	// Output: [state] term=3
}
