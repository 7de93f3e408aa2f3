// Package bugs is the catalogue of planted bugs: small, realistic mistakes
// (an off-by-one, a wrong comparison, a step out of order, a missed
// persist, a lost error) written into the core at the place a developer
// would make them, each behind a named switch, so the harness can measure
// its own power: a bug the unit tests and the default campaign do not
// catch is a blind spot of the harness (kvsim mutation, make mutation).
//
// A bug site reads
//
//	if bugs.On(bugs.MVCCRangeLimitOffByOne) {
//		// the mistake
//	}
//
// Built without the kvdbugs tag (kvd, kvsim, every release), On is a
// constant false: the compiler drops the mistake and the bug's name, and
// no flag, variable or environment can switch one on. Built with the tag
// (go test -tags kvdbugs, the mutation worker), the one bug named by the
// environment variable KVD_BUG at start, or by Set, is on. At most one bug
// is on at a time, so a failure names its cause.
package bugs
