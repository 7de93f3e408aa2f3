package wal

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"go.etcd.io/raft/v3/raftpb"
)

// fuzzRecordSizeBytesMax keeps fuzzed length prefixes meaningful: most
// random lengths are above it and must be refused without allocating.
const fuzzRecordSizeBytesMax = 1 << 20

// FuzzDecodeRecord feeds arbitrary bytes to the record decoder. It must
// never panic, never read past the buffer, and anything it accepts must
// re-encode to exactly the bytes it came from.
func FuzzDecodeRecord(f *testing.F) {
	for _, seed := range recordSeeds() {
		f.Add(seed.buf, seed.seed)
	}
	f.Fuzz(func(t *testing.T, buf []byte, seed uint32) {
		rec, n, err := decodeRecord(buf, seed, fuzzRecordSizeBytesMax)
		if err != nil {
			return
		}
		if n < recordHeaderBytes || n > len(buf) {
			t.Fatalf("decoded %d bytes of %d", n, len(buf))
		}
		re, crc := appendRecord(nil, seed, rec.typ, func(b []byte) []byte { return append(b, rec.payload...) })
		if !bytes.Equal(re, buf[:n]) || crc != rec.crc {
			t.Fatalf("re-encoding differs:\n got %x\nwant %x", re, buf[:n])
		}
		// The payload decoders must cope with whatever passed the checksum.
		switch rec.typ {
		case recordEntry:
			if e, err := decodeEntry(rec.payload); err == nil {
				again, _ := appendEntry(nil, seed, e)
				if !bytes.Equal(again, buf[:n]) {
					t.Fatalf("entry %v re-encodes differently", e)
				}
			}
		case recordHardState:
			_, _ = decodeHardState(rec.payload)
		case recordSnapshotMarker:
			_, _ = decodeSnapshotMarker(rec.payload)
		case recordSegmentHeader:
			_, _ = decodeSegmentHeader(rec.payload)
		}
	})
}

// FuzzOpen recovers a WAL whose only segment holds arbitrary bytes. Open
// must not panic; when it succeeds, the WAL must take new writes and reopen
// to exactly what it recovered plus them.
func FuzzOpen(f *testing.F) {
	for _, seg := range segmentSeeds() {
		f.Add(seg)
	}
	opts := Options{RecordSizeBytesMax: fuzzRecordSizeBytesMax}
	segName := "wal/" + segmentName(0, 1)
	f.Fuzz(func(t *testing.T, segment []byte) {
		fs := newMemFS()
		noErr(t, fs.MkdirAll("wal"))
		fs.files[segName] = bytes.Clone(segment)
		w, rec, err := Open(fs, "wal", opts)
		if err != nil {
			return
		}
		next := uint64(1)
		if n := len(rec.Entries); n > 0 {
			next = rec.Entries[n-1].GetIndex() + 1
		} else if rec.Snapshot != nil {
			next = rec.Snapshot.GetMetadata().GetIndex() + 1
		} else if w.lastIndex > 0 {
			next = w.lastIndex + 1
		}
		hs := rec.HardState
		noErr(t, w.Save(hardStateOfValues(hs.GetTerm()+1, hs.GetVote(), hs.GetCommit()), []*raftpb.Entry{entry(next, hs.GetTerm()+1, "fuzz")}))
		noErr(t, w.Close())
		_, again, err := Open(fs, "wal", opts)
		if err != nil {
			t.Fatalf("reopen after a good open and one save: %v", err)
		}
		want := append(append([]*raftpb.Entry(nil), rec.Entries...), entry(next, hs.GetTerm()+1, "fuzz"))
		sameEntries(t, want, again.Entries)
		if again.TornTailBytes != 0 {
			t.Fatalf("torn tail %d after a clean close", again.TornTailBytes)
		}
	})
}

type recordSeed struct {
	buf  []byte
	seed uint32
}

func recordSeeds() []recordSeed {
	hdr, hcrc := appendSegmentHeader(nil, segmentHeader{sequence: 3, firstIndex: 40, metadata: []byte("meta")})
	ent, _ := appendEntry(nil, hcrc, entry(41, 2, "some data"))
	hs, _ := appendHardState(nil, hcrc, hardStateOfValues(2, 1, 40))
	mk, _ := appendSnapshotMarker(nil, hcrc, snapshotMarker{index: 39, term: 2})
	torn := bytes.Clone(ent[:len(ent)-3])
	flipped := bytes.Clone(ent)
	flipped[12] ^= 4
	return []recordSeed{
		{hdr, 0}, {ent, hcrc}, {hs, hcrc}, {mk, hcrc}, {torn, hcrc}, {flipped, hcrc},
		{make([]byte, 32), 0}, {[]byte{0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 2}, 0},
	}
}

func segmentSeeds() [][]byte {
	fs := newMemFS()
	w, err := Create(fs, "wal", []byte("cluster=1"), Options{})
	if err != nil {
		panic(err)
	}
	_ = w.Save(hardStateOfValues(1, 1, 0), entries(1, 3, 1))
	_ = w.SaveSnapshot(snapshotAt(2, 1, "s"))
	_ = w.Save(hardStateOfValues(2, 1, 3), entries(3, 5, 2))
	full := fs.files["wal/"+segmentName(0, 1)]
	torn := bytes.Clone(full[:len(full)-5])
	zeroTail := append(bytes.Clone(full), make([]byte, 64)...)
	flipped := bytes.Clone(full)
	flipped[len(flipped)/2] ^= 1
	return [][]byte{full, torn, zeroTail, flipped, full[:40], nil}
}

// TestWriteFuzzCorpus regenerates testdata/fuzz when KVD_WRITE_FUZZ_CORPUS
// is set; otherwise it checks the checked-in corpus is there, so the fuzz
// targets always start from real WAL bytes.
func TestWriteFuzzCorpus(t *testing.T) {
	write := os.Getenv("KVD_WRITE_FUZZ_CORPUS") != ""
	corpus := map[string][]string{}
	for i, s := range recordSeeds() {
		corpus[filepath.Join("FuzzDecodeRecord", fmt.Sprintf("seed-%d", i))] = []string{
			"[]byte(" + strconv.Quote(string(s.buf)) + ")", fmt.Sprintf("uint32(%d)", s.seed)}
	}
	for i, s := range segmentSeeds() {
		corpus[filepath.Join("FuzzOpen", fmt.Sprintf("seed-%d", i))] = []string{"[]byte(" + strconv.Quote(string(s)) + ")"}
	}
	for name, lines := range corpus {
		p := filepath.Join("testdata", "fuzz", name)
		content := "go test fuzz v1\n"
		for _, l := range lines {
			content += l + "\n"
		}
		if write {
			noErr(t, os.MkdirAll(filepath.Dir(p), 0o755))
			noErr(t, os.WriteFile(p, []byte(content), 0o644))
			continue
		}
		got, err := os.ReadFile(p)
		if err != nil {
			t.Fatalf("seed corpus file missing (regenerate with KVD_WRITE_FUZZ_CORPUS=1): %v", err)
		}
		if string(got) != content {
			t.Fatalf("seed corpus %s is stale (regenerate with KVD_WRITE_FUZZ_CORPUS=1)", p)
		}
	}
}
