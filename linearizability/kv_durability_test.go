package linearizability

import (
	"strings"
	"testing"
)

func TestCheckDurability(t *testing.T) {
	history := []KVOperation{
		putOp(0, 0, 10, "x", "a", 2),
		putOp(0, 20, 30, "y", "b", 3),
		putOp(1, 40, 50, "x", "c", 4),
		putUnknown(1, 60, 2060, "y", "d"),
		delOp(0, 70, 80, "z", 0, 4), // deleted nothing: no effect
	}
	for _, tc := range []struct {
		name   string
		finals []MemberRead
		want   Outcome
		detail string
	}{
		{name: "every member has the last acknowledged values", want: OK, finals: []MemberRead{
			allRead(1, 4, kv("x", "c", 2, 4, 2), kv("y", "b", 3, 3, 1)),
			allRead(2, 4, kv("x", "c", 2, 4, 2), kv("y", "b", 3, 3, 1)),
		}},
		{name: "the indeterminate write applied", want: OK, finals: []MemberRead{
			allRead(1, 5, kv("x", "c", 2, 4, 2), kv("y", "d", 3, 5, 2)),
		}},
		{name: "an acknowledged overwrite is lost", want: Violation, detail: `member 2 at revision 3 is behind the acknowledged write at revision 4`, finals: []MemberRead{
			allRead(1, 4, kv("x", "c", 2, 4, 2), kv("y", "b", 3, 3, 1)),
			allRead(2, 3, kv("x", "a", 2, 2, 1), kv("y", "b", 3, 3, 1)),
		}},
		{name: "an acknowledged key is missing", want: Violation, detail: `y="b" at revision 3 lost: key absent`, finals: []MemberRead{
			allRead(1, 4, kv("x", "c", 2, 4, 2)),
		}},
		{name: "a value nobody wrote", want: Violation, detail: `y="zzz"@m5 was never written`, finals: []MemberRead{
			allRead(1, 5, kv("x", "c", 2, 4, 2), kv("y", "zzz", 3, 5, 2)),
		}},
		{name: "a value at the wrong revision", want: Violation, detail: "acknowledged at revision(s) [4]", finals: []MemberRead{
			allRead(1, 5, kv("x", "c", 2, 5, 2), kv("y", "b", 3, 3, 1)),
		}},
		{name: "no reads is unknown", want: Unknown, detail: "no member reads"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := CheckDurability(history, tc.finals)
			if v.Outcome != tc.want || !strings.Contains(v.Detail, tc.detail) {
				t.Fatalf("got %s %q, want %s mentioning %q", v.Outcome, v.Detail, tc.want, tc.detail)
			}
		})
	}
}

func TestCheckDurabilityDeletes(t *testing.T) {
	history := []KVOperation{
		putOp(0, 0, 10, "x", "a", 2),
		delOp(0, 20, 30, "x", 1, 3),
	}
	if v := CheckDurability(history, []MemberRead{allRead(1, 3)}); v.Outcome != OK {
		t.Fatalf("deleted key absent: %s %s", v.Outcome, v.Detail)
	}
	v := CheckDurability(history, []MemberRead{allRead(1, 3, kv("x", "a", 2, 2, 1))})
	if v.Outcome != Violation || !strings.Contains(v.Detail, "survives its acknowledged delete") {
		t.Fatalf("resurrected key: %s %s", v.Outcome, v.Detail)
	}
}

func TestCheckSerializableReads(t *testing.T) {
	base := []KVOperation{
		putOp(0, 0, 10, "x", "a", 2),
		putOp(0, 20, 30, "x", "b", 3),
	}
	stale := append(base[:2:2], serializableGet(1, 40, 50, "x", 2, kv("x", "a", 2, 2, 1)))
	if v := CheckSerializableReads(stale); v.Outcome != OK || v.Operations != 1 {
		t.Fatalf("a stale but consistent serializable read: %s %s (%d ops)", v.Outcome, v.Detail, v.Operations)
	}
	torn := append(base[:2:2], serializableGet(1, 40, 50, "x", 3, kv("x", "a", 2, 2, 1)))
	if v := CheckSerializableReads(torn); v.Outcome != Violation || !strings.Contains(v.Detail, "lost") {
		t.Fatalf("a read at revision 3 missing the write at 3: %s %s", v.Outcome, v.Detail)
	}
}

func TestCheckConvergence(t *testing.T) {
	same := []MemberHash{{1, 10, 0xabc}, {2, 10, 0xabc}, {3, 10, 0xabc}}
	if v := CheckConvergence(same); v.Outcome != OK {
		t.Fatalf("identical members: %s %s", v.Outcome, v.Detail)
	}
	diverged := []MemberHash{{1, 10, 0xabc}, {2, 10, 0xabd}, {3, 9, 0xabc}}
	v := CheckConvergence(diverged)
	if v.Outcome != Violation || !strings.Contains(v.Detail, "member 2 has hash 00000abd") || !strings.Contains(v.Detail, "member 3") {
		t.Fatalf("diverged members: %s %s", v.Outcome, v.Detail)
	}
	if v := CheckConvergence(nil); v.Outcome != Unknown {
		t.Fatalf("no members: %s", v.Outcome)
	}
}
