//go:build !kvdunsafe

package main

import (
	"flag"
	"io"

	"github.com/kvdlabs/kvd/core/node"
)

// unsafeFlags is empty in the kvd people deploy: there is no --unsafe
// flag, and nothing here refers to node.UnsafeVariants, so the planted
// bugs cannot be switched on and their names are not linked. A kvd built
// with the kvdunsafe tag has the flag (unsafe_on.go).
type unsafeFlags struct{}

func (*unsafeFlags) register(*flag.FlagSet) {}

func (*unsafeFlags) validate() []error { return nil }

// options is the zero node.Unsafe: every protocol variant safe.
func (*unsafeFlags) options() node.Unsafe { return node.Unsafe{} }

func (*unsafeFlags) warn(io.Writer) {}
