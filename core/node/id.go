package node

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path"

	"github.com/kvdlabs/kvd/core/disk"
)

// requestIDs hands out request ids unique across members and across every
// restart of one member, whatever its clock does: the member id's low 16
// bits, a 16-bit boot epoch, and a 32-bit counter. The boot epoch is read,
// incremented and made durable (bootEpochs) before the first id of a life
// is handed out, so an entry of an earlier life re-applied or delivered
// late can never complete, or be deduplicated against, a new request.
// (etcd derives its ids from the clock; a clock jumped back by a fault
// would make a restarted member reuse ids.)
type requestIDs struct {
	prefix  uint64
	counter uint64
}

const (
	idCounterBits = 32
	idEpochBits   = 16
)

func newRequestIDs(memberID uint64, epoch uint16) requestIDs {
	return requestIDs{prefix: memberID<<(idEpochBits+idCounterBits) | uint64(epoch)<<idCounterBits}
}

func (g *requestIDs) next() uint64 {
	g.counter++
	if g.counter >= 1<<idCounterBits {
		// Four billion requests in one life: restart for a new epoch
		// rather than reuse an id.
		panic(fmt.Sprintf("node: request id counter of epoch prefix %x exhausted", g.prefix))
	}
	return g.prefix | g.counter
}

// bootEpochFile holds the boot epoch: 2 bytes big-endian and their CRC32C.
const bootEpochFile = "boot-epoch"

// ErrBadBootEpoch reports a damaged boot epoch file.
var ErrBadBootEpoch = errors.New("node: bad boot epoch file")

// nextBootEpoch reads the last boot epoch in dir (0 if none), writes the
// next one durably (temp file, sync, rename, sync dir) and returns it.
func nextBootEpoch(fsys disk.FS, dir string) (uint16, error) {
	name := path.Join(dir, bootEpochFile)
	var epoch uint16
	b, err := fsys.ReadFile(name)
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return 0, fmt.Errorf("read %s: %w", name, err)
	case len(b) != 6 || crc32.Checksum(b[:2], castagnoli) != binary.BigEndian.Uint32(b[2:]):
		return 0, fmt.Errorf("%w: %s holds %x", ErrBadBootEpoch, name, b)
	default:
		epoch = binary.BigEndian.Uint16(b[:2])
	}
	epoch++ // wraps after 65535 restarts, far beyond any applied-id window
	out := binary.BigEndian.AppendUint16(nil, epoch)
	out = binary.BigEndian.AppendUint32(out, crc32.Checksum(out, castagnoli))
	tmp := name + ".tmp"
	f, err := fsys.Create(tmp)
	if err != nil {
		return 0, fmt.Errorf("create %s: %w", tmp, err)
	}
	if _, err := f.Write(out); err != nil {
		f.Close()
		return 0, fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return 0, fmt.Errorf("sync %s: %w", tmp, err)
	}
	if err := f.Close(); err != nil {
		return 0, fmt.Errorf("close %s: %w", tmp, err)
	}
	if err := fsys.Rename(tmp, name); err != nil {
		return 0, fmt.Errorf("rename %s: %w", tmp, err)
	}
	if err := fsys.SyncDir(dir); err != nil {
		return 0, fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return epoch, nil
}
