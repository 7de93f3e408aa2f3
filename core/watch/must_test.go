package watch

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// must holds the few assertions the tests use, failing the test at once.
// (The module's testify lacks a go.sum entry for its yaml dependency, and
// go.mod is shared, so the package keeps its own.)
var must assertions

type assertions struct{}

func explain(msgAndArgs []any) string {
	if len(msgAndArgs) == 0 {
		return ""
	}
	if f, ok := msgAndArgs[0].(string); ok {
		return ": " + fmt.Sprintf(f, msgAndArgs[1:]...)
	}
	return fmt.Sprint(msgAndArgs...)
}

func (assertions) True(t testing.TB, cond bool, msgAndArgs ...any) {
	t.Helper()
	if !cond {
		t.Fatalf("condition false%s", explain(msgAndArgs))
	}
}

func (assertions) False(t testing.TB, cond bool, msgAndArgs ...any) {
	t.Helper()
	if cond {
		t.Fatalf("condition true%s", explain(msgAndArgs))
	}
}

func (assertions) Equal(t testing.TB, want, got any, msgAndArgs ...any) {
	t.Helper()
	if !reflect.DeepEqual(want, got) {
		t.Fatalf("want %#v, got %#v%s", want, got, explain(msgAndArgs))
	}
}

func (assertions) Len(t testing.TB, x any, n int, msgAndArgs ...any) {
	t.Helper()
	if l := reflect.ValueOf(x).Len(); l != n {
		t.Fatalf("want length %d, got %d (%v)%s", n, l, x, explain(msgAndArgs))
	}
}

func (assertions) Empty(t testing.TB, x any, msgAndArgs ...any) {
	t.Helper()
	if l := reflect.ValueOf(x).Len(); l != 0 {
		t.Fatalf("want empty, got %d: %v%s", l, x, explain(msgAndArgs))
	}
}

func (assertions) Zero(t testing.TB, x any, msgAndArgs ...any) {
	t.Helper()
	if !reflect.ValueOf(x).IsZero() {
		t.Fatalf("want zero, got %v%s", x, explain(msgAndArgs))
	}
}

func (assertions) Nil(t testing.TB, x any, msgAndArgs ...any) {
	t.Helper()
	if x != nil && !reflect.ValueOf(x).IsNil() {
		t.Fatalf("want nil, got %v%s", x, explain(msgAndArgs))
	}
}

func (assertions) NoError(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if err != nil {
		t.Fatalf("unexpected error %v%s", err, explain(msgAndArgs))
	}
}

func (assertions) Error(t testing.TB, err error, msgAndArgs ...any) {
	t.Helper()
	if err == nil {
		t.Fatalf("want an error%s", explain(msgAndArgs))
	}
}

func (assertions) ErrorIs(t testing.TB, err, target error, msgAndArgs ...any) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("want error %v, got %v%s", target, err, explain(msgAndArgs))
	}
}

func (assertions) Contains(t testing.TB, s, sub string, msgAndArgs ...any) {
	t.Helper()
	if !strings.Contains(s, sub) {
		t.Fatalf("%q does not contain %q%s", s, sub, explain(msgAndArgs))
	}
}

func (assertions) Panics(t testing.TB, fn func(), msgAndArgs ...any) {
	t.Helper()
	panicked := func() (p bool) {
		defer func() { p = recover() != nil }()
		fn()
		return false
	}()
	if !panicked {
		t.Fatalf("want a panic%s", explain(msgAndArgs))
	}
}
