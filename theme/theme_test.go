package theme

import (
	"strings"
	"testing"
)

// TestCSSDefinesTheConstants keeps the Go constants and the stylesheet's
// custom properties one palette: a colour changed in one place only would
// make the dashboard and the reports disagree.
func TestCSSDefinesTheConstants(t *testing.T) {
	for prop, c := range map[string]string{"--ok": OK, "--bad": Bad, "--warn": Warn, "--dead": Dead,
		"--series-read": SeriesRead, "--series-write": SeriesWrite, "--series-failed": SeriesFailed} {
		if !strings.Contains(CSS, prop+":"+c+";") {
			t.Errorf("theme.css does not define %s:%s", prop, c)
		}
	}
	for i := range 10 {
		prop := "--m" + MemberClass(i)[len("member m"):]
		if !strings.Contains(CSS, prop+":"+MemberColor(i)+";") {
			t.Errorf("member %d: theme.css does not define %s:%s", i, prop, MemberColor(i))
		}
	}
	if MemberColor(8) != MemberColor(0) || MemberClass(9) != "member m1" {
		t.Errorf("member colours must repeat past eight: %s %s", MemberColor(8), MemberClass(9))
	}
}
