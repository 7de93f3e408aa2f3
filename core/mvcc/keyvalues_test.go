package mvcc

import (
	"fmt"
	"testing"

	"google.golang.org/protobuf/proto"
)

// keyValues must give what keyValue gives one version at a time, and no
// two of its key-values may reach into each other's bytes.
func TestKeyValuesAgreeWithKeyValue(t *testing.T) {
	var vs []*version
	for i := range 5 {
		key, value := fmt.Sprintf("key-%d", i), fmt.Sprintf("value %d", i*i)
		if i == 3 {
			value = "" // an empty value stays empty, not nil
		}
		vs = append(vs, &version{kv: key + value, keyLen: int32(len(key)), modRev: int64(10 + i), createRev: int64(i + 1), ver: int64(i), lease: int64(7 * i)})
	}
	for _, keysOnly := range []bool{false, true} {
		got := keyValues(vs, keysOnly)
		if len(got) != len(vs) {
			t.Fatalf("keysOnly=%v: %d key-values for %d versions", keysOnly, len(got), len(vs))
		}
		for i, v := range vs {
			want := v.keyValue(keysOnly)
			if !proto.Equal(got[i], want) || (got[i].Value == nil) != (want.Value == nil) {
				t.Errorf("keysOnly=%v, version %d: %v, want %v", keysOnly, i, got[i], want)
			}
		}
		// Growing one key-value's slices must not write into the next's.
		_ = append(got[0].Key, 'X')
		_ = append(got[0].Value, 'X')
		if k := string(got[1].Key); k != "key-1" {
			t.Errorf("keysOnly=%v: appending to the first key-value changed the second's key to %q", keysOnly, k)
		}
	}
	if got := keyValues(nil, false); len(got) != 0 {
		t.Errorf("no versions gave %d key-values", len(got))
	}
}
