package node

import (
	"reflect"
	"testing"
)

// Every field of Unsafe has exactly one name, so a new planted bug cannot
// be added without kvsim and kvd being able to switch it on.
func TestUnsafeVariantsNameEveryField(t *testing.T) {
	typ := reflect.TypeFor[Unsafe]()
	byField := map[string]string{}
	names := map[string]bool{}
	for _, v := range UnsafeVariants() {
		if v.Name == "" || v.About == "" || v.Enable == nil {
			t.Fatalf("variant %+v: want a name, an about and an Enable", v)
		}
		if names[v.Name] {
			t.Fatalf("variant name %q listed twice", v.Name)
		}
		names[v.Name] = true
		var u Unsafe
		v.Enable(&u)
		val := reflect.ValueOf(u)
		var set []string
		for i := range typ.NumField() {
			if !val.Field(i).IsZero() {
				set = append(set, typ.Field(i).Name)
			}
		}
		if len(set) != 1 {
			t.Fatalf("variant %q sets fields %v of Unsafe, want exactly one", v.Name, set)
		}
		if other, dup := byField[set[0]]; dup {
			t.Fatalf("variants %q and %q both set Unsafe.%s", other, v.Name, set[0])
		}
		byField[set[0]] = v.Name
	}
	for i := range typ.NumField() {
		if _, ok := byField[typ.Field(i).Name]; !ok {
			t.Errorf("Unsafe.%s has no variant name in UnsafeVariants", typ.Field(i).Name)
		}
	}
}
