package query

import (
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"
)

// rec is a fake Record.
type rec map[string]any

func (r rec) Field(name string) (any, bool) {
	v, ok := r[name]
	return v, ok
}

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t
}

var sample = rec{
	"id":             "id-1",
	"name":           "Hello World",
	"type":           "Device",
	"age":            int64(42),
	"score":          2.5,
	"count32":        int32(7),
	"isAdmin":        true,
	"disabled":       false,
	"createdAt":      mustTime("2032-09-03T15:36:50Z"),
	"roleAttributes": []string{"blue", "green"},
	"emptySet":       []string{},
	"nothing":        nil,
	"tags.env":       "prod",
	"tags.n":         int64(5),
	"serial":         "123456789",
	"long":           int64(123456789),
	"path":           `a"b\c`,
}

func TestMatch(t *testing.T) {
	tests := []struct {
		filter string
		want   bool
	}{
		// = and != on strings, numbers, bools, datetimes
		{`name = "Hello World"`, true},
		{`name = "hello world"`, false}, // case-sensitive
		{`name != "x"`, true},
		{`name != "Hello World"`, false},
		{`age = 42`, true},
		{`age = 42.0`, true},
		{`age = 43`, false},
		{`age != 43`, true},
		{`score = 2.5`, true},
		{`score = 2`, false},
		{`count32 = 7`, true},
		{`isAdmin = true`, true},
		{`isAdmin = false`, false},
		{`isAdmin != false`, true},
		{`disabled = false`, true},
		{`createdAt = datetime(2032-09-03T15:36:50Z)`, true},
		{`createdAt = datetime(2032-09-03T17:36:50+02:00)`, true}, // same instant
		{`createdAt != datetime(2032-09-03T15:36:51Z)`, true},
		// ordering
		{`age < 43`, true},
		{`age < 42`, false},
		{`age <= 42`, true},
		{`age > 41.5`, true},
		{`age > 42`, false},
		{`age >= 42`, true},
		{`score < 3`, true},
		{`score >= 2.6`, false},
		{`name > "Hello"`, true},
		{`name < "Hello"`, false},
		{`name >= "Hello World"`, true},
		{`createdAt < datetime(2032-09-03T15:36:55Z)`, true},
		{`createdAt > datetime(2032-09-03T15:36:55Z)`, false},
		{`createdAt >= datetime(2032-09-03T15:36:50Z)`, true},
		{`createdAt <= datetime(2032-09-03T15:36:49.999Z)`, false},
		// substring operators
		{`name contains "World"`, true},
		{`name contains "world"`, false},
		{`name icontains "WORLD"`, true},
		{`name icontains "planet"`, false},
		{`name not contains "planet"`, true},
		{`name not contains "World"`, false},
		{`name not icontains "world"`, false},
		{`name not icontains "planet"`, true},
		{`name startsWith "Hello"`, true},
		{`name startsWith "World"`, false},
		{`name not startsWith "World"`, true},
		{`name endsWith "World"`, true},
		{`name endsWith "Hello"`, false},
		{`name not endsWith "Hello"`, true},
		{`serial contains 345`, true},   // number operand on a string
		{`long contains 345`, true},     // number field as text
		{`long contains "9"`, true},     // string operand on a number field
		{`long not contains 999`, true}, // as OpenZiti's tests
		{`score contains "2.5"`, true},
		{`path = "a\"b\\c"`, true},
		// in / not in
		{`type in ["Router", "Device"]`, true},
		{`type in ["Router"]`, false},
		{`type not in ["Router"]`, true},
		{`type not in ["Device", "x"]`, false},
		{`age in [1, 42.0, 3]`, true},
		{`age in [1, 2]`, false},
		{`age not in [1, 2]`, true},
		{`createdAt in [datetime(2032-09-03T15:36:50Z), datetime(2000-01-01T00:00:00Z)]`, true},
		{`createdAt not in [datetime(2000-01-01T00:00:00Z)]`, true},
		// between: lower bound included, upper excluded (as OpenZiti)
		{`age between 40 and 50`, true},
		{`age between 42 and 43`, true},
		{`age between 40 and 42`, false},
		{`age between 42 and 42`, false},
		{`age not between 40 and 42`, true},
		{`age not between 42 and 43`, false},
		{`score between 2.5 and 2.6`, true},
		{`createdAt between datetime(2032-09-03T15:36:50Z) and datetime(2032-09-03T15:36:52Z)`, true},
		{`createdAt between datetime(2032-09-03T15:36:45Z) and datetime(2032-09-03T15:36:50Z)`, false},
		{`createdAt not between datetime(2032-09-03T15:36:45Z) and datetime(2032-09-03T15:36:50Z)`, true},
		// null and absent
		{`nothing = null`, true},
		{`missing = null`, true},
		{`name = null`, false},
		{`name != null`, true},
		{`missing != null`, false},
		{`missing = "x"`, false},
		{`missing != "x"`, false}, // null compares false, as OpenZiti
		{`missing contains "x"`, false},
		{`missing not contains "x"`, false}, // as OpenZiti
		{`missing in ["x"]`, false},
		{`missing not in ["x"]`, true},
		{`missing between 1 and 2`, false},
		{`missing not between 1 and 2`, true},
		{`missing = false`, true}, // null boolean reads as false, as OpenZiti
		{`missing != true`, true},
		{`missing = true`, false},
		// kind mismatch: no match, no error
		{`tags.n = "5"`, false},
		{`tags.n = 5`, true},
		{`tags.env = "prod"`, true},
		{`name = 5`, false},
		{`age = "42"`, false},
		// bare boolean fields and constants
		{`isAdmin`, true},
		{`disabled`, false},
		{`missing`, false},
		{`name`, false},
		{`true`, true},
		{`false`, false},
		// not
		{`not (name = "x")`, true},
		{`not name = "x"`, true},
		{`not (name = "Hello World")`, false},
		{`not isAdmin`, false},
		{`not not isAdmin`, true},
		{`not (isAdmin or disabled)`, false},
		// and / or / parentheses
		{`age = 42 and type = "Device"`, true},
		{`age = 42 and type = "Router"`, false},
		{`age = 1 or type = "Device"`, true},
		{`age = 1 or type = "Router"`, false},
		{`(age = 1 or age = 42) and (type = "Router" or type = "Device")`, true},
		{`age = 1 or (age = 42 and type = "Router")`, false},
		// set functions
		{`anyOf(roleAttributes) = "blue"`, true},
		{`anyOf(roleAttributes) = "red"`, false},
		{`anyOf(roleAttributes) != "blue"`, true}, // green != blue
		{`anyOf(roleAttributes) contains "ree"`, true},
		{`anyOf(roleAttributes) icontains "BLU"`, true},
		{`anyOf(roleAttributes) startsWith "gr"`, true},
		{`anyOf(roleAttributes) in ["red", "green"]`, true},
		{`anyOf(roleAttributes) in ["red", "pink"]`, false},
		{`anyOf(roleAttributes) not in ["red", "green"]`, false}, // negates the whole anyOf
		{`anyOf(roleAttributes) not in ["red", "pink"]`, true},
		{`anyOf(roleAttributes) > "c"`, true},
		{`anyOf(emptySet) = "x"`, false},
		{`anyOf(missing) = "x"`, false},
		{`allOf(roleAttributes) = "blue"`, false},
		{`allOf(roleAttributes) != "red"`, true},
		{`allOf(roleAttributes) in ["blue", "green", "x"]`, true},
		{`allOf(roleAttributes) not in ["blue", "green"]`, false},
		{`allOf(roleAttributes) contains "e"`, true},
		{`allOf(emptySet) = "x"`, true}, // vacuously, as OpenZiti
		{`allOf(missing) = "x"`, true},
		{`count(roleAttributes) = 2`, true},
		{`count(roleAttributes) > 2`, false},
		{`count(roleAttributes) in [1, 2]`, true},
		{`count(roleAttributes) between 2 and 3`, true},
		{`count(roleAttributes) not between 2 and 3`, false},
		{`count(emptySet) = 0`, true},
		{`count(missing) = 0`, true},
		{`isEmpty(emptySet)`, true},
		{`isEmpty(missing)`, true},
		{`isEmpty(roleAttributes)`, false},
		{`not isEmpty(roleAttributes)`, true},
		// clauses do not affect matching
		{`name = "x" sort by name limit 5`, false},
		{`sort by name skip 1`, true},
		{`limit 5`, true},
		{``, true},
		{`   `, true},
	}
	for _, tt := range tests {
		q, err := Parse(tt.filter)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.filter, err)
			continue
		}
		got, err := q.Match(sample)
		if err != nil {
			t.Errorf("Match(%q): %v", tt.filter, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Match(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestMatchErrors(t *testing.T) {
	for _, f := range []string{
		`roleAttributes = "blue"`,        // set used as a plain field
		`roleAttributes contains "blue"`, // likewise (OpenZiti rejects it too)
		`roleAttributes`,
		`roleAttributes = null`,
		`anyOf(name) = "x"`, // plain value given to a set function
		`count(name) = 1`,
		`isEmpty(name)`,
		`odd = 1`, // unsupported Go type
	} {
		q, err := Parse(f)
		if err != nil {
			t.Fatalf("Parse(%q): %v", f, err)
		}
		r := rec{"roleAttributes": []string{"blue"}, "name": "x", "odd": struct{}{}}
		if ok, err := q.Match(r); err == nil {
			t.Errorf("Match(%q) = %v, want an error", f, ok)
		}
	}
}

func TestCaseInsensitiveKeywords(t *testing.T) {
	for _, f := range []string{
		`NAME_X = 1 OR name CONTAINS "World" AND NOT (age > 50)`,
		`name IContains "world" And age BETWEEN 40 AND 50`,
		`type NOT IN ["Router"] or FALSE`,
		`ANYOF(roleAttributes) = "blue" and AllOf(roleAttributes) != "x" and COUNT(roleAttributes) = 2`,
		`NOT ISEMPTY(roleAttributes) and nothing = NULL and isAdmin = TRUE`,
		`createdAt = DateTime(2032-09-03T15:36:50Z)`,
		`name STARTSWITH "Hel" and name ENDSWITH "rld" and name Not Contains "zz"`,
		`TRUE SORT BY name DESC, age ASC SKIP 1 LIMIT NONE`,
	} {
		q, err := Parse(f)
		if err != nil {
			t.Errorf("Parse(%q): %v", f, err)
			continue
		}
		ok, err := q.Match(sample)
		if err != nil || !ok {
			t.Errorf("Match(%q) = %v, %v; want true", f, ok, err)
		}
	}
	q, err := Parse(`TRUE SORT BY name DESC, age ASC SKIP 1 LIMIT NONE`)
	if err != nil {
		t.Fatal(err)
	}
	if got := q.String(); got != `true sort by name desc, age asc skip 1 limit none` {
		t.Errorf("String() = %q", got)
	}
}

func TestPrecedence(t *testing.T) {
	tests := []struct{ filter, want string }{
		// and binds tighter than or
		{`a = 1 or b = 2 and c = 3`, `a = 1 or b = 2 and c = 3`},
		{`a = 1 and b = 2 or c = 3`, `a = 1 and b = 2 or c = 3`},
		{`(a = 1 or b = 2) and c = 3`, `(a = 1 or b = 2) and c = 3`},
		// not binds tighter than and
		{`not a = 1 and b = 2`, `not (a = 1) and b = 2`},
		{`not (a = 1 and b = 2)`, `not (a = 1 and b = 2)`},
		// flattening of associative operators
		{`((a = 1 and b = 2) and c = 3)`, `a = 1 and b = 2 and c = 3`},
		{`a = 1 or (b = 2 or c = 3)`, `a = 1 or b = 2 or c = 3`},
	}
	for _, tt := range tests {
		q, err := Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		if got := q.String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.filter, got, tt.want)
		}
	}
	// Structure of a = 1 or b = 2 and c = 3: Or{a, And{b, c}}.
	q, _ := Parse(`a = 1 or b = 2 and c = 3`)
	or, ok := q.Where.(*Or)
	if !ok || len(or.Terms) != 2 {
		t.Fatalf("want Or of 2 terms, got %#v", q.Where)
	}
	if and, ok := or.Terms[1].(*And); !ok || len(and.Terms) != 2 {
		t.Fatalf("want And on the right, got %#v", or.Terms[1])
	}
	// Truth: a=1 true → whole true even though c fails.
	r := rec{"a": int64(1), "b": int64(0), "c": int64(0)}
	if ok, _ := q.Match(r); !ok {
		t.Error("a = 1 or b = 2 and c = 3 should match a=1")
	}
	q, _ = Parse(`a = 1 and b = 2 or c = 3`)
	if ok, _ := q.Match(rec{"a": int64(0), "b": int64(0), "c": int64(3)}); !ok {
		t.Error("a = 1 and b = 2 or c = 3 should match c=3")
	}
}

func i64(n int64) *int64 { return &n }

func TestParseClauses(t *testing.T) {
	tests := []struct {
		filter    string
		where     string
		sort      []SortField
		skip, lim *int64
	}{
		{`name = "x" sort by name`, `name = "x"`, []SortField{{Field: "name"}}, nil, nil},
		{`sort by name desc, createdAt`, ``, []SortField{{"name", true}, {"createdAt", false}}, nil, nil},
		{`sort by name asc,createdAt desc skip 10 limit 5`, ``, []SortField{{"name", false}, {"createdAt", true}}, i64(10), i64(5)},
		{`skip 0 limit 10`, ``, nil, i64(0), i64(10)},
		{`skip 10`, ``, nil, i64(10), nil},
		{`limit 5`, ``, nil, nil, i64(5)},
		{`limit none`, ``, nil, nil, i64(LimitNone)},
		{`true limit 5`, `true`, nil, nil, i64(5)},
		{`a = 1 skip 2`, `a = 1`, nil, i64(2), nil},
		{`'sort' = 1 sort by 'sort'`, `'sort' = 1`, []SortField{{Field: "sort"}}, nil, nil},
		{``, ``, nil, nil, nil},
		{" \t\r\n", ``, nil, nil, nil},
	}
	for _, tt := range tests {
		q, err := Parse(tt.filter)
		if err != nil {
			t.Errorf("Parse(%q): %v", tt.filter, err)
			continue
		}
		where := ""
		if q.Where != nil {
			where = q.Where.String()
		}
		if where != tt.where {
			t.Errorf("Parse(%q).Where = %q, want %q", tt.filter, where, tt.where)
		}
		if !reflect.DeepEqual(q.Sort, tt.sort) {
			t.Errorf("Parse(%q).Sort = %v, want %v", tt.filter, q.Sort, tt.sort)
		}
		if !reflect.DeepEqual(q.Skip, tt.skip) || !reflect.DeepEqual(q.Limit, tt.lim) {
			t.Errorf("Parse(%q) skip/limit = %v/%v, want %v/%v", tt.filter, q.Skip, q.Limit, tt.skip, tt.lim)
		}
	}
}

func TestLiterals(t *testing.T) {
	q, err := Parse(`s = "q\"b\\s\f\n\r\t é" and i = -12 and f = -1.5e3 and big = 99999999999999999999 and d = datetime(2019-10-12T07:20:50.52+07:00)`)
	if err != nil {
		t.Fatal(err)
	}
	terms := q.Where.(*And).Terms
	want := []Value{
		{Kind: KindString, Str: "q\"b\\s\f\n\r\t é"},
		{Kind: KindInt, Int: -12},
		{Kind: KindFloat, Float: -1500},
		{Kind: KindFloat, Float: 1e20},
	}
	for i, w := range want {
		got := terms[i].(*Compare).Values[0]
		got.pos = 0
		if !reflect.DeepEqual(got, w) {
			t.Errorf("literal %d = %#v, want %#v", i, got, w)
		}
	}
	d := terms[4].(*Compare).Values[0]
	if d.Kind != KindDatetime || !d.Time.Equal(mustTime("2019-10-12T00:20:50.52Z")) {
		t.Errorf("datetime literal = %v", d.Time)
	}
	if _, off := d.Time.Zone(); off != 7*3600 {
		t.Errorf("datetime offset = %d", off)
	}
	if got := terms[4].String(); got != `d = datetime(2019-10-12T07:20:50.52+07:00)` {
		t.Errorf("datetime String() = %q", got)
	}
	// lower-case t and z, as RFC 3339 allows
	if _, err := Parse(`d = datetime(2020-01-02t03:04:05z)`); err != nil {
		t.Error(err)
	}
}

func TestSyntaxErrors(t *testing.T) {
	deep := strings.Repeat("(", MaxDepth+1) + "a = 1" + strings.Repeat(")", MaxDepth+1)
	tests := []struct {
		filter string
		pos    int
		msg    string
	}{
		{`name = "abc`, 7, "unterminated string"},
		{`name = `, 7, `expected value after "="`},
		{`name =`, 6, `expected value after "="`},
		{`name in "x"`, 8, `expected "[" after "in"`},
		{`name in []`, 9, "empty list"},
		{`name in ["a", 1]`, 14, "must not mix"},
		{`name in ["a",]`, 13, `expected value after "in"`},
		{`lower(name) = "x"`, 0, `unknown function "lower"`},
		{`name = "x" garbage`, 11, `unexpected "garbage"`},
		{`name = "x")`, 10, `unexpected ")"`},
		{`limit -1`, 6, "limit must not be negative"},
		{`skip x`, 5, `expected a number after "skip"`},
		{`skip 1.5`, 5, "skip must be a whole number"},
		{`limit 5 skip 2`, 8, `"skip" must come before "limit"`},
		{`limit 5 limit 6`, 8, `"limit" given twice`},
		{`skip 1 sort by name`, 7, `"sort by" must come before "skip"`},
		{`sort name`, 5, `expected "by" after "sort"`},
		{`sort by name dsc`, 13, `unexpected "dsc"`},
		{deep, MaxDepth, "nests too deeply"},
		{strings.Repeat("not ", MaxDepth+1) + "a", 4 * MaxDepth, "nests too deeply"},
		{`(a = 1`, 6, `expected ")" to close "(" at position 0`},
		{`a = 1 and`, 9, "expected a condition, found end of filter"},
		{`and a = 1`, 0, `expected a condition, found "and"`},
		{`"x" = name`, 0, `expected a field name before string "x"`},
		{`name == "x"`, 6, `expected value after "="`},
		{`name <> "x"`, 6, `expected value after "<"`},
		{`name ! "x"`, 5, `unexpected "!"`},
		{`name not = "x"`, 9, `after "not"`},
		{`name like "x"`, 5, `unexpected "like"`},
		{`name = "a\qb"`, 9, "invalid escape"},
		{"name = \"a\nb\"", 9, "control character"},
		{`age = 01`, 6, "malformed number"},
		{`age = 1.`, 6, "malformed number"},
		{`age = 1e999`, 6, "out of range"},
		{`age = -x`, 6, `unexpected "-"`},
		{`d = datetime(2020-13-01T00:00:00Z)`, 13, "invalid datetime"},
		{`d = datetime("2020-01-01T00:00:00Z")`, 13, "invalid datetime"},
		{`d = datetime(2020-01-01)`, 13, "invalid datetime"},
		{`d = datetime(2020-01-01T00:00:00Z`, 4, "unterminated datetime"},
		{`age between 1 or 2`, 14, `expected "and"`},
		{`age between "a" and "b"`, 12, "needs numbers or datetimes"},
		{`age between 1 and datetime(2020-01-01T00:00:00Z)`, 18, "both be numbers or both datetimes"},
		{`age < true`, 6, `"<" takes a string, number or datetime`},
		{`name contains true`, 14, `"contains" takes a string or number`},
		{`name startsWith 1`, 16, `"startsWith" takes a string`},
		{`count(x) = "a"`, 11, "count() compares only with numbers"},
		{`anyOf(x) = null`, 11, "null can be compared only with a plain field"},
		{`anyOf x = 1`, 6, `expected "(" after anyOf`},
		{`anyOf(x = 1`, 8, `expected ")" after anyOf(x`},
		{`anyOf(x)`, 8, "expected an operator after anyOf(x)"},
		{`count(from identities where name = "x") > 1`, 6, "subqueries"},
		{`tags. = 1`, 5, `expected a letter after "."`},
		{`'name = 1`, 0, "unterminated quoted field name"},
		{`name = "x" # comment`, 11, "unexpected character '#'"},
		{"name = \"\xff\"", 8, "invalid UTF-8"},
		{`limit`, 5, `expected a number after "limit"`},
		{`limit 1.5`, 6, "limit must be a whole number"},
	}
	for _, tt := range tests {
		q, err := Parse(tt.filter)
		if err == nil {
			t.Errorf("Parse(%q) = %q, want an error", tt.filter, q)
			continue
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) error %T, want *SyntaxError", tt.filter, err)
			continue
		}
		if se.Pos != tt.pos || !strings.Contains(se.Msg, tt.msg) {
			t.Errorf("Parse(%q) = %v; want position %d and %q", tt.filter, err, tt.pos, tt.msg)
		}
		if !strings.HasPrefix(err.Error(), "filter: position ") {
			t.Errorf("Error() = %q", err.Error())
		}
	}
	// The deepest allowed nesting parses.
	ok := strings.Repeat("(", MaxDepth) + "a = 1" + strings.Repeat(")", MaxDepth)
	if _, err := Parse(ok); err != nil {
		t.Errorf("nesting of %d: %v", MaxDepth, err)
	}
	_, err := Parse(`name = `)
	if err.Error() != `filter: position 7: expected value after "="` {
		t.Errorf("Error() = %q", err.Error())
	}
}

var listFields = map[string]FieldType{
	"id":             String,
	"name":           String,
	"age":            Number,
	"isAdmin":        Bool,
	"createdAt":      Datetime,
	"roleAttributes": StringSet,
	"tags.*":         Any,
	"tags.fixed":     Number,
}

func TestValidate(t *testing.T) {
	okFilters := []string{
		`name = "x" and age > 3 and isAdmin and createdAt < datetime(2020-01-01T00:00:00Z)`,
		`name contains 12 and age contains "4" and age startsWith "4"`,
		`anyOf(roleAttributes) = "a" and allOf(roleAttributes) in ["a"] and count(roleAttributes) > 1 and isEmpty(roleAttributes)`,
		`tags.env = "prod" and tags.n > 3 and tags.a.b = true and tags.flag`,
		`name = null and age != null and createdAt = null and tags.x = null`,
		`age between 1 and 2 and createdAt between datetime(2020-01-01T00:00:00Z) and datetime(2021-01-01T00:00:00Z)`,
		`sort by name desc, tags.env skip 1 limit 2`,
		``,
	}
	for _, f := range okFilters {
		q, err := Parse(f)
		if err != nil {
			t.Fatalf("Parse(%q): %v", f, err)
		}
		if err := q.Validate(listFields); err != nil {
			t.Errorf("Validate(%q): %v", f, err)
		}
	}
	bad := []struct {
		filter string
		pos    int
		field  string
		msg    string
	}{
		{`nope = 1`, 0, "nope", `unknown field "nope"`},
		{`name = "x" and other.thing = 1`, 15, "other.thing", "unknown field"},
		{`name > 3`, 7, "name", "cannot be compared with a number"},
		{`age = "3"`, 6, "age", "cannot be compared with a string"},
		{`isAdmin = "yes"`, 10, "isAdmin", "cannot be compared with a string"},
		{`isAdmin contains "t"`, 17, "isAdmin", `"contains" does not apply`},
		{`createdAt > "2020"`, 12, "createdAt", "write datetime("},
		{`createdAt contains "2020"`, 19, "createdAt", `"contains" does not apply`},
		{`name between 1 and 2`, 13, "name", "cannot be compared with a number"},
		{`name`, 0, "name", "not a boolean"},
		{`roleAttributes = "a"`, 0, "roleAttributes", "is a set"},
		{`roleAttributes contains "a"`, 0, "roleAttributes", "is a set"},
		{`roleAttributes`, 0, "roleAttributes", "is a set"},
		{`anyOf(name) = "a"`, 0, "name", "applies only to set fields"},
		{`count(age) = 1`, 0, "age", "applies only to set fields"},
		{`isEmpty(name)`, 0, "name", "applies only to set fields"},
		{`anyOf(roleAttributes) = 3`, 24, "roleAttributes", "cannot be compared with a number"},
		{`tags.fixed = "x"`, 13, "tags.fixed", "cannot be compared with a string"},
		{`name = "x" sort by nope`, 19, "nope", `unknown sort field "nope"`},
		{`sort by name, roleAttributes`, 14, "roleAttributes", "cannot sort by"},
	}
	for _, tt := range bad {
		q, err := Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		err = q.Validate(listFields)
		var ve *ValidationError
		if !errors.As(err, &ve) {
			t.Errorf("Validate(%q) = %v, want *ValidationError", tt.filter, err)
			continue
		}
		if ve.Pos != tt.pos || ve.Field != tt.field || !strings.Contains(ve.Msg, tt.msg) {
			t.Errorf("Validate(%q) = %+v; want pos %d field %q msg %q", tt.filter, ve, tt.pos, tt.field, tt.msg)
		}
	}
}

func TestHints(t *testing.T) {
	tests := []struct {
		filter string
		want   []Hint
	}{
		{`name = "x"`, []Hint{{"name", "eq", []string{"x"}}}},
		{`name = "x" and type in ["a", "b"] and name startsWith "pre" and anyOf(roleAttributes) = "blue"`, []Hint{
			{"name", "eq", []string{"x"}},
			{"type", "in", []string{"a", "b"}},
			{"name", "prefix", []string{"pre"}},
			{"roleAttributes", "anyOf", []string{"blue"}},
		}},
		{`anyOf(roleAttributes) in ["a", "b"] and age > 3`, []Hint{{"roleAttributes", "anyOf", []string{"a", "b"}}}},
		{`(id = "1" and age = 3) and (name = "a" or name = "b")`, []Hint{{"id", "eq", []string{"1"}}}},
		{`name = "x" or type = "y"`, nil},          // top-level or: none
		{`name = "x" or name = "y"`, nil},          // even on one field
		{`not (name = "x")`, nil},                  // negation: none
		{`name != "x" and name contains "y"`, nil}, // not indexable
		{`allOf(roleAttributes) = "x"`, nil},       // holds for empty sets
		{`anyOf(roleAttributes) != "x"`, nil},      // not an equality
		{`age = 3 and age in [1, 2]`, nil},         // only string literals
		{`name not in ["x"] and name not startsWith "y"`, nil},
		{`sort by name limit 5`, nil},
		{``, nil},
	}
	for _, tt := range tests {
		q, err := Parse(tt.filter)
		if err != nil {
			t.Fatalf("Parse(%q): %v", tt.filter, err)
		}
		if got := q.Hints(); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("Hints(%q) = %v, want %v", tt.filter, got, tt.want)
		}
	}
}

func TestLess(t *testing.T) {
	recs := []rec{
		{"id": "1", "name": "b", "age": int64(3)},
		{"id": "2", "name": "a", "age": int64(5)},
		{"id": "3", "name": "b", "age": 1.5},
		{"id": "4", "age": int64(9)}, // no name
		{"id": "5", "name": "c", "age": nil},
	}
	ids := func(filter string) string {
		q, err := Parse(filter)
		if err != nil {
			t.Fatal(err)
		}
		rs := append([]rec(nil), recs...)
		sort.SliceStable(rs, func(i, j int) bool { return q.Less(rs[i], rs[j]) })
		var b strings.Builder
		for _, r := range rs {
			b.WriteString(r["id"].(string))
		}
		return b.String()
	}
	tests := []struct{ filter, want string }{
		{`sort by name`, "42135"},           // null first
		{`sort by name desc`, "51324"},      // null last
		{`sort by age`, "53124"},            // int and float together
		{`sort by name, age desc`, "42135"}, // ties on name broken by age desc
		{`sort by name desc, age`, "53124"},
		{`name = "x"`, "12345"}, // no sort: stable, caller's order
	}
	for _, tt := range tests {
		if got := ids(tt.filter); got != tt.want {
			t.Errorf("order for %q = %s, want %s", tt.filter, got, tt.want)
		}
	}
	// Datetimes and booleans.
	q, _ := Parse(`sort by at, ok`)
	early := rec{"at": mustTime("2020-01-01T00:00:00Z"), "ok": true}
	late := rec{"at": mustTime("2020-01-01T01:00:00+02:00"), "ok": false} // 23:00Z the day before
	if !q.Less(late, early) || q.Less(early, late) {
		t.Error("datetime order wrong")
	}
	same1 := rec{"at": mustTime("2020-01-01T00:00:00Z"), "ok": false}
	if !q.Less(same1, early) {
		t.Error("false should sort before true")
	}
	if q.Less(early, early) {
		t.Error("a record is not less than itself")
	}
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []string{
		`name = "a\"b\\c\n" and age >= -3 or not (x in [1.5, 2, 1e+300]) sort by name desc limit none`,
		`anyOf(roleAttributes) not in ["a", "b"] and allOf(r) icontains 3 and count(r) between 1 and 4.0`,
		`not not not x and isEmpty(s) and true or false`,
		`'limit' = 1 and 'not' = null and tags.sort = "x" sort by 'limit' skip 3 limit 4`,
		`d between datetime(2020-01-02T03:04:05.123456789-05:30) and datetime(2020-01-02T03:04:05z)`,
		`f = 100.0 and g = 1e-7 and h = 0.000001 and i = -0.0 and j = 123456789012345678901234567890`,
		`((a = 1))`,
		`limit 0`,
	} {
		checkRoundTrip(t, f)
	}
}

func checkRoundTrip(t *testing.T, filter string) {
	t.Helper()
	q, err := Parse(filter)
	if err != nil {
		return
	}
	s := q.String()
	q2, err := Parse(s)
	if err != nil {
		t.Fatalf("Parse(%q) ok, but its String() %q does not parse: %v", filter, s, err)
	}
	if s2 := q2.String(); s2 != s {
		t.Fatalf("String() not stable for %q: %q then %q", filter, s, s2)
	}
	if !reflect.DeepEqual(normalizeQuery(q), normalizeQuery(q2)) {
		t.Fatalf("round trip of %q via %q changed the query:\n%#v\n%#v", filter, s, q.Where, q2.Where)
	}
}

// normalizeQuery clears positions and makes times comparable, so two parses
// of equivalent text compare equal.
func normalizeQuery(q *Query) *Query {
	c := *q
	c.sortPos = nil
	c.Where = normalizeNode(q.Where)
	return &c
}

func normalizeNode(n Node) Node {
	switch n := n.(type) {
	case nil:
		return nil
	case *And:
		out := &And{}
		for _, t := range n.Terms {
			out.Terms = append(out.Terms, normalizeNode(t))
		}
		return out
	case *Or:
		out := &Or{}
		for _, t := range n.Terms {
			out.Terms = append(out.Terms, normalizeNode(t))
		}
		return out
	case *Not:
		return &Not{X: normalizeNode(n.X)}
	case *Const:
		return &Const{Value: n.Value}
	case *BoolField:
		return &BoolField{Field: n.Field}
	case *IsEmpty:
		return &IsEmpty{Field: n.Field}
	case *Compare:
		out := &Compare{Func: n.Func, Field: n.Field, Op: n.Op}
		for _, v := range n.Values {
			v.pos = 0
			if v.Kind == KindDatetime {
				_, off := v.Time.Zone()
				v.Str = time.Duration(off * int(time.Second)).String() // keep the offset in the comparison
				v.Time = v.Time.UTC()
			}
			out.Values = append(out.Values, v)
		}
		return out
	}
	panic("unknown node")
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`name = "x"`,
		`name = "a\"b\\c\n" and age >= -3 or not (x in [1.5, 2, 1e+300]) sort by name desc limit none`,
		`anyOf(roleAttributes) not in ["a", "b"] and allOf(r) icontains 3 and count(r) between 1 and 4.0`,
		`not not not x and isEmpty(s) and true or false`,
		`'limit' = 1 and tags.sort = "x" sort by 'limit' skip 3 limit 4`,
		`d between datetime(2020-01-02T03:04:05.123456789-05:30) and datetime(2020-01-02T03:04:05z)`,
		`f = 100.0 and g = 1e-7 and h = 0.000001 and i = -0.0`,
		`name startsWith "a" and name not endsWith "b" or name not icontains "c"`,
		`((a = 1)) limit 0`,
		`sort by a, b desc`,
		`true limit 5`,
		`name = `,
		`(((((`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := Parse(s)
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Pos < 0 || se.Pos > len(s) {
				t.Fatalf("Parse(%q): bad error %v", s, err)
			}
			return
		}
		checkRoundTrip(t, s)
		// Evaluation, validation, hints and sorting must not panic either.
		_, _ = q.Match(sample)
		_ = q.Validate(listFields)
		_ = q.Hints()
		_ = q.Less(sample, rec{})
	})
}
