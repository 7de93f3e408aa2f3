package backup

import (
	"testing"
)

// FuzzDecodeEntries feeds arbitrary bytes to every bucket entry decoder:
// none may panic, and what one accepts must encode back to the same entry
// (for the key bucket, whose values etcd writes with a deterministic
// marshal) or decode again to the same value.
func FuzzDecodeEntries(f *testing.F) {
	_, snap := sample(f)
	for _, v := range snap.Versions {
		k, val, err := encodeVersion(v)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(k, val)
	}
	for _, l := range snap.Leases {
		k, v := encodeLease(l)
		f.Add(k, v)
	}
	for _, m := range snap.Members {
		k, v, _ := encodeMember(m)
		f.Add(k, v)
	}
	f.Add([]byte("0123456789abcdef"), []byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, k, v []byte) {
		if kv, err := decodeVersion(k, v); err == nil {
			if _, _, err := encodeVersion(kv); err != nil {
				t.Fatalf("decoded %+v does not encode: %v", kv, err)
			}
			k2, v2, _ := encodeVersion(kv)
			again, err := decodeVersion(k2, v2)
			if err != nil || again != kv {
				t.Fatalf("version %+v decodes again as %+v, %v", kv, again, err)
			}
		}
		if l, err := decodeLease(k, v); err == nil {
			k2, v2 := encodeLease(l)
			if again, err := decodeLease(k2, v2); err != nil || again != l {
				t.Fatalf("lease %+v decodes again as %+v, %v", l, again, err)
			}
		}
		if m, err := decodeMember(k, v); err == nil {
			k2, v2, err := encodeMember(m)
			if err != nil {
				t.Fatalf("member %+v does not encode: %v", m, err)
			}
			if again, err := decodeMember(k2, v2); err != nil || again.ID != m.ID || again.Name != m.Name {
				t.Fatalf("member %+v decodes again as %+v, %v", m, again, err)
			}
		}
		decodeAlarm(k)
		var into int64
		compactRev("fuzz", v, &into)
		parseRevision(k)
	})
}
