package nemesis

// assert panics when an invariant does not hold. A violated invariant is a
// bug in the nemesis, not a condition to handle: the panic is the bug report.
func assert(ok bool, msg string) {
	if !ok {
		panic("nemesis: invariant violated: " + msg)
	}
}
