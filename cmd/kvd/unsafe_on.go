//go:build kvdunsafe

package main

import (
	"flag"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"

	"github.com/kvdlabs/kvd/core/node"
)

// unsafeFlags is --unsafe, which only a kvd built with the kvdunsafe tag
// has: it switches on the planted bugs of node.Unsafe by kvsim's names,
// so kvsim real can prove it catches on real processes what it catches in
// simulation. The kvd people deploy is built without the tag and has
// neither the flag nor the table of names (unsafe_off.go).
type unsafeFlags struct {
	// names are the comma-separated lists given, in order; repeating the
	// flag adds to them.
	names []string
	// on is what names switch on, set by validate.
	on node.Unsafe
	// enabled are the known names given, in the order given, once each.
	enabled []string
}

func (u *unsafeFlags) register(fs *flag.FlagSet) {
	var help strings.Builder
	help.WriteString("UNSAFE, test builds only: comma-separated `variants` to switch on, planted protocol bugs kvsim must catch:")
	for _, v := range node.UnsafeVariants() {
		fmt.Fprintf(&help, " %s (%s);", v.Name, v.About)
	}
	// kvsim's other variants break the simulated disk or client, not the
	// member, so a real process has nothing to switch.
	help.WriteString(" kvsim's ack-before-fsync and range-stream-unpinned are not member options and are not offered")
	fs.Func("unsafe", help.String(), func(s string) error {
		u.names = append(u.names, s)
		return nil
	})
}

// validate resolves the names; an unknown one is an error listing the
// known ones.
func (u *unsafeFlags) validate() []error {
	variants := node.UnsafeVariants()
	var errs []error
	for _, list := range u.names {
		for _, name := range strings.Split(list, ",") {
			if name = strings.TrimSpace(name); name == "" {
				continue
			}
			i := slices.IndexFunc(variants, func(v node.UnsafeVariant) bool { return v.Name == name })
			if i < 0 {
				known := make([]string, len(variants))
				for j, v := range variants {
					known[j] = v.Name
				}
				errs = append(errs, fmt.Errorf("--unsafe %q: unknown variant, want one or more of %s (ack-before-fsync and range-stream-unpinned are simulator-only)", name, strings.Join(known, ", ")))
				continue
			}
			variants[i].Enable(&u.on)
			if !slices.Contains(u.enabled, name) {
				u.enabled = append(u.enabled, name)
			}
		}
	}
	return errs
}

// options is node.Config.Unsafe as the flags ask.
func (u *unsafeFlags) options() node.Unsafe { return u.on }

// warn says, at every start, that this member is deliberately broken. It
// writes through its own logger so that no --log-level hides it.
func (u *unsafeFlags) warn(stderr io.Writer) {
	if len(u.enabled) == 0 {
		return
	}
	slog.New(slog.NewJSONHandler(stderr, nil)).Warn(
		"UNSAFE KVD: known-unsafe protocol variants are ON; this member is broken on purpose, for kvsim to catch, and must never hold data anyone needs",
		"unsafe", u.enabled)
}
