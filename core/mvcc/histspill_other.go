//go:build !linux

package mvcc

// spillSupported: history stays in memory on this platform.
const spillSupported = false

type spillFile struct{}

func openSpill(string) (*spillFile, error)         { return nil, nil }
func (*spillFile) spill([]byte, int) (int64, bool) { return 0, false }
func (*spillFile) release(int64, int)              {}
func (*spillFile) close()                          {}
func dropPages([]byte)                             {}
