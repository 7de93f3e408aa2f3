package lease

// idMask keeps generated ids inside the positive int64 range.
const idMask = 1<<63 - 1

// idGenerator hands out lease ids for grants that ask for id 0.
//
// Ids come from a counter passed through a bijection of the 63-bit space,
// so they look scattered (unlikely to collide with small ids chosen by
// clients) while distinct counters can never yield the same id. The counter
// is the whole state: members that applied the same grants hold the same
// counter and pick the same ids, and the counter travels in the snapshot.
type idGenerator struct {
	// counter is the input of the next id; it starts at 1 because the
	// bijection maps 0 to 0, and 0 means "no lease".
	counter uint64
}

func newIDGenerator() idGenerator { return idGenerator{counter: 1} }

// next returns the next id and advances the generator.
func (g *idGenerator) next() int64 {
	assert(g.counter != 0 && g.counter <= idMask, "lease id generator counter out of range")
	id := mix63(g.counter)
	g.counter++
	assert(id != 0, "lease id generator produced id 0")
	return int64(id)
}

// mix63 is a bijection on [0, 2^63): each step (xor with a right shift,
// multiplication by an odd constant modulo 2^63) is invertible on 63-bit
// values, so the composition is too.
func mix63(x uint64) uint64 {
	x &= idMask
	x ^= x >> 31
	x = (x * 0x7fb5d329728ea185) & idMask
	x ^= x >> 27
	x = (x * 0x81dadef4bc2dd44d) & idMask
	x ^= x >> 33
	return x
}
