package sim

import (
	cryptorand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
)

// cryptoRandInstalled guards against two simulations sharing the process's
// one crypto/rand.Reader: their draws would interleave and neither would
// replay. It is mutex-guarded so that parallel tests which both install
// get a panic, not a data race that merely breaks replay.
var cryptoRandInstalled struct {
	sync.Mutex
	on bool
}

// InstallCryptoRand replaces crypto/rand.Reader with a ChaCha8 stream keyed
// by seed and returns a function that puts the previous reader back.
// Installing twice without restoring panics.
//
// Why: go.etcd.io/raft v3.7.0 draws its randomized election timeout with
// crypto/rand.Int(crypto/rand.Reader, n). What Go 1.26 honours:
//   - crypto/rand.Int(r, n) reads from the r it is given, so raft's call
//     reads the installed stream: deterministic, no GODEBUG needed;
//   - crypto/rand.Read and crypto/rand.Text read the package variable
//     Reader when it is not the default one: deterministic too;
//   - crypto/rand.Prime and key generation in crypto/... ignore any custom
//     reader since Go 1.26 (unless GODEBUG=cryptocustomrand=1) and stay
//     truly random. Simulated code must not depend on them.
//
// The reader is safe for concurrent use, but only a single goroutine
// drawing from it makes a run replayable.
func InstallCryptoRand(seed uint64) (restore func()) {
	cryptoRandInstalled.Lock()
	defer cryptoRandInstalled.Unlock()
	if cryptoRandInstalled.on {
		panic("sim: InstallCryptoRand called while a seeded crypto/rand.Reader is installed")
	}
	cryptoRandInstalled.on = true
	previous := cryptorand.Reader
	cryptorand.Reader = &seededReader{chacha: rand.NewChaCha8(streamKey(seed, "crypto/rand.Reader"))}
	return func() {
		cryptoRandInstalled.Lock()
		defer cryptoRandInstalled.Unlock()
		if !cryptoRandInstalled.on {
			panic("sim: crypto/rand.Reader restored twice")
		}
		cryptorand.Reader = previous
		cryptoRandInstalled.on = false
	}
}

// seededReader is an io.Reader over a ChaCha8 stream.
type seededReader struct {
	mu     sync.Mutex
	chacha *rand.ChaCha8
}

var _ io.Reader = (*seededReader)(nil)

func (r *seededReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, err := r.chacha.Read(p)
	if err != nil || n != len(p) {
		// ChaCha8.Read is documented never to fail or read short.
		panic(fmt.Sprintf("sim: ChaCha8 read %d of %d bytes: %v", n, len(p), err))
	}
	return n, nil
}
