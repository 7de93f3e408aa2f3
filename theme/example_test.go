package theme_test

import (
	"fmt"

	"github.com/kvdlabs/kvd/theme"
)

// A page names a member with its chip class and colour, the same in a
// kvsim report and on a member's live dashboard.
func ExampleMemberClass() {
	fmt.Println(theme.MemberClass(1), theme.MemberColor(1))
	// Output: member m1 #f58518
}
