package sim

import (
	cryptorand "crypto/rand"
	"math/big"
	"testing"
)

// draws mimics go.etcd.io/raft v3.7.0's election jitter:
// rand.Int(rand.Reader, n), read from the package variable at each call.
func draws() []int64 {
	out := make([]int64, 32)
	for i := range out {
		v, err := cryptorand.Int(cryptorand.Reader, big.NewInt(1000))
		if err != nil {
			panic(err)
		}
		out[i] = v.Int64()
	}
	return out
}

func TestInstallCryptoRandIsDeterministic(t *testing.T) {
	original := cryptorand.Reader
	run := func(seed uint64) ([]int64, []byte) {
		restore := InstallCryptoRand(seed)
		defer restore()
		b := make([]byte, 16)
		_, _ = cryptorand.Read(b) // Read never fails; it crashes instead
		return draws(), b
	}
	a, aBytes := run(1)
	b, bBytes := run(1)
	equal(t, a, b, "rand.Int over the installed reader is a function of the seed")
	equal(t, aBytes, bBytes, "rand.Read honours the installed reader")
	c, _ := run(2)
	notEqual(t, a, c, "seeds 1 and 2 drew the same jitter")
	check(t, cryptorand.Reader == original, "restore put the original reader back")
	notEqual(t, draws(), draws(), "the original reader is random again")
}

func TestInstallCryptoRandTwicePanics(t *testing.T) {
	restore := InstallCryptoRand(1)
	panics(t, "sim: InstallCryptoRand called while a seeded crypto/rand.Reader is installed",
		func() { InstallCryptoRand(2) })
	restore()
	panics(t, "sim: crypto/rand.Reader restored twice", restore)
}
