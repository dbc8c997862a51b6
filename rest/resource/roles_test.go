package resource

import "testing"

func TestRoleFilterParse(t *testing.T) {
	for _, c := range []struct {
		roles    []string
		semantic string
		id       string
		attrs    []string
		want     bool
	}{
		{[]string{"#a", "#b"}, "", "x", []string{"a", "b", "c"}, true},
		{[]string{"#a", "#b"}, "AllOf", "x", []string{"a"}, false},
		{[]string{"#a", "#b"}, "AnyOf", "x", []string{"b"}, true},
		{[]string{"#a"}, "AnyOf", "x", nil, false},
		{[]string{"@x"}, "", "x", nil, true},
		{[]string{"@y"}, "", "x", []string{"a"}, false},
		{[]string{"#all"}, "", "x", nil, true},
	} {
		rf, err := parseRoleFilter(c.roles, c.semantic)
		if err != nil {
			t.Fatalf("%v %s: %v", c.roles, c.semantic, err)
		}
		if got := rf.Matches(c.id, c.attrs); got != c.want {
			t.Errorf("%v %s on %s %v: %v, want %v", c.roles, c.semantic, c.id, c.attrs, got, c.want)
		}
	}
	for _, bad := range [][]string{{"a"}, {"#"}, {"@"}, {""}, {"#a\x00"}} {
		if _, err := parseRoleFilter(bad, ""); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if _, err := parseRoleFilter(make([]string, maxRoles+1), ""); err == nil {
		t.Error("too many roles accepted")
	}
}

// FuzzParseRoleFilter: any roles and semantic either parse or are refused,
// without panics, and a parsed filter can be matched.
func FuzzParseRoleFilter(f *testing.F) {
	for _, s := range []string{"#a", "@id", "#all", "", "plain", "#a\x00", "@"} {
		f.Add(s, "#b", "AllOf")
		f.Add(s, "@x", "AnyOf")
	}
	f.Fuzz(func(t *testing.T, a, b, semantic string) {
		rf, err := parseRoleFilter([]string{a, b}, semantic)
		if err != nil {
			return
		}
		rf.Matches("x", []string{"a", "b"})
		if rf.All && !rf.Matches("nobody", nil) {
			t.Errorf("#all did not match everything")
		}
	})
}
