package mvcc

import (
	"encoding/binary"
	"errors"
	"hash/crc32"
	"strings"
	"testing"
)

// snapshotV2 lays out a format version 2 snapshot from its parts, for
// tests that need one no store would write.
type snapshotV2 struct {
	rev, compactRev int64
	records         []version
	history         []struct {
		v            version
		supersededAt int64
	}
}

func put(key, value string, modRev, createRev, ver int64) version {
	return version{kv: key + value, keyLen: int32(len(key)), modRev: modRev, createRev: createRev, ver: ver}
}

func (sn snapshotV2) bytes() []byte {
	b := []byte(snapshotMagic)
	b = binary.LittleEndian.AppendUint32(b, snapshotVersion)
	b = binary.LittleEndian.AppendUint64(b, uint64(sn.rev))
	b = binary.LittleEndian.AppendUint64(b, uint64(sn.compactRev))
	b = binary.AppendUvarint(b, uint64(len(sn.records)))
	for i := range sn.records {
		b = appendSnapshotRecord(b, &sn.records[i])
	}
	b = binary.AppendUvarint(b, uint64(len(sn.history)))
	for _, h := range sn.history {
		b = appendSnapshotHistory(b, &h.v, h.supersededAt)
	}
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
}

// Restore checks a history entry against its key's record and the entries
// before it, not only each version alone: every way the two parts of the
// format can disagree fails as corrupt, with what disagreed.
func TestRestoreChecksHistoryAgainstRecords(t *testing.T) {
	type hist = struct {
		v            version
		supersededAt int64
	}
	a2, a3, a4 := put("a", "x", 2, 2, 1), put("a", "y", 3, 2, 2), put("a", "z", 4, 2, 3)
	for _, tc := range []struct {
		name string
		sn   snapshotV2
		want string // "" restores
	}{
		{"whole", snapshotV2{rev: 4, records: []version{a4}, history: []hist{{a2, 3}, {a3, 4}}}, ""},
		{"no record", snapshotV2{rev: 4, records: []version{a4}, history: []hist{{put("b", "x", 2, 2, 1), 3}}}, `key "b" has no record`},
		{"superseded after the snapshot", snapshotV2{rev: 4, records: []version{a4}, history: []hist{{a2, 3}, {a3, 5}}}, "past revision 4"},
		{"a version missing between two", snapshotV2{rev: 4, records: []version{a4}, history: []hist{{a2, 4}, {a3, 4}}}, "follows one superseded at 4"},
		{"record not what superseded the last", snapshotV2{rev: 4, records: []version{a4}, history: []hist{{a2, 3}}}, "version at 4 follows one superseded at 3"},
		{"a later version without its history", snapshotV2{rev: 4, records: []version{a4}}, "lost its predecessor"},
		{"history out of order", snapshotV2{rev: 4, records: []version{a4}, history: []hist{{a3, 4}, {a2, 3}}}, "version 2 at 3 lost its predecessor"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := Restore(tc.sn.bytes(), Options{})
			if tc.want == "" {
				if err != nil {
					t.Fatalf("restore: %v", err)
				}
				if got := readAllHistory(t, s); len(got) != 3 || got[0].Value != "x" || got[2].Value != "z" {
					t.Fatalf("restored %v", got)
				}
				return
			}
			if err == nil || !errors.Is(err, ErrSnapshotCorrupt) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("restore: %v, want corrupt and %q", err, tc.want)
			}
		})
	}
}
