package sim

import (
	"fmt"
	"reflect"
)

// fataler is what both *testing.T and *rapid.T offer.
type fataler interface {
	Helper()
	Fatalf(format string, args ...any)
}

func equal(t fataler, want, got any, why ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("%s\nwant %v\n got %v", fmt.Sprint(why...), want, got)
	}
}

func notEqual(t fataler, a, b any, why ...any) {
	t.Helper()
	if reflect.DeepEqual(a, b) {
		t.Fatalf("%s: both are %v", fmt.Sprint(why...), a)
	}
}

func check(t fataler, ok bool, why ...any) {
	t.Helper()
	if !ok {
		t.Fatalf("check failed: %s", fmt.Sprint(why...))
	}
}

func noError(t fataler, err error, why ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", fmt.Sprint(why...), err)
	}
}

// panicValue runs fn and returns what it panicked with, failing if it
// did not panic.
func panicValue(t fataler, fn func()) (v any) {
	t.Helper()
	panicked := true
	func() {
		defer func() { v = recover() }()
		fn()
		panicked = false
	}()
	if !panicked {
		t.Fatalf("did not panic")
	}
	return v
}

// panics fails unless fn panics with a value whose text is want.
func panics(t fataler, want string, fn func()) {
	t.Helper()
	got := fmt.Sprint(panicValue(t, fn))
	if got != want {
		t.Fatalf("panicked with %q, want %q", got, want)
	}
}
