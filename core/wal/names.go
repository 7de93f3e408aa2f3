package wal

import (
	"fmt"
	"path"
	"strings"
)

// File names carry two fixed-width hex numbers so that sorting names sorts
// files: segments by sequence, snapshots by term then index.
const (
	segmentSuffix  = ".wal"
	snapshotSuffix = ".snap"
	tempSuffix     = ".tmp"
	nameHexDigits  = 16
	nameBytes      = 2*nameHexDigits + 1
)

func segmentName(sequence, firstIndex uint64) string {
	return fmt.Sprintf("%016x-%016x%s", sequence, firstIndex, segmentSuffix)
}

func snapshotName(term, index uint64) string {
	return fmt.Sprintf("%016x-%016x%s", term, index, snapshotSuffix)
}

// parseName reads "AAAA...-BBBB...<suffix>"; ok is false for any other name,
// so stray files in the directory are ignored, never misread.
func parseName(name, suffix string) (a, b uint64, ok bool) {
	stem, found := strings.CutSuffix(name, suffix)
	if !found || len(stem) != nameBytes || stem[nameHexDigits] != '-' {
		return 0, 0, false
	}
	a, okA := parseHex(stem[:nameHexDigits])
	b, okB := parseHex(stem[nameHexDigits+1:])
	return a, b, okA && okB
}

// parseHex accepts exactly lower-case hex, the form the names are written
// in, so that one number has one name.
func parseHex(s string) (uint64, bool) {
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case '0' <= c && c <= '9':
			d = c - '0'
		case 'a' <= c && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}

func join(dir, name string) string { return path.Join(dir, name) }
