package query

import (
	"fmt"
	"strings"
)

// FieldType is the type of a field a list can be filtered on.
type FieldType int

// The field types.
const (
	// String is a text field: compared as text; contains, icontains,
	// startsWith, endsWith; in a list of strings.
	String FieldType = iota + 1
	// Number is an integer or floating-point field. As in OpenZiti, the
	// substring operators also apply, to its decimal text.
	Number
	// Bool is a true/false field: "= true", "!= false", or bare ("isAdmin").
	Bool
	// Datetime is a point in time, compared with datetime(...) literals.
	Datetime
	// StringSet is a set of strings (roleAttributes): usable only through
	// anyOf(), allOf(), count() and isEmpty(), as in OpenZiti.
	StringSet
	// Any is a field whose values may be of any scalar kind, such as a
	// tag (OpenZiti's "any" type for tags.*): every scalar use is allowed,
	// and a value of another kind than the literal simply does not match.
	Any
)

func (t FieldType) String() string {
	switch t {
	case String:
		return "string"
	case Number:
		return "number"
	case Bool:
		return "boolean"
	case Datetime:
		return "datetime"
	case StringSet:
		return "set of strings"
	case Any:
		return "any"
	}
	return fmt.Sprintf("FieldType(%d)", int(t))
}

// lookupField finds name in fields. A key ending in ".*" (such as "tags.*")
// stands for every field below that prefix, at any depth; an exact key wins
// over a pattern, and a longer pattern over a shorter one.
func lookupField(fields map[string]FieldType, name string) (FieldType, bool) {
	if t, ok := fields[name]; ok {
		return t, true
	}
	for i := strings.LastIndexByte(name, '.'); i > 0; i = strings.LastIndexByte(name[:i], '.') {
		if t, ok := fields[name[:i]+".*"]; ok {
			return t, true
		}
	}
	return 0, false
}

// Validate checks q's field names and the values and operators used with
// them against the fields a list allows, as OpenZiti type-checks a filter
// against its store's symbols before running it. It reports the first
// problem as a *ValidationError:
//   - an unknown field (in the condition or in "sort by");
//   - a set field used as a plain field, or a plain field given to anyOf(),
//     allOf(), count() or isEmpty();
//   - a literal of another type than the field ("name > 3" on a string
//     field, a string compared with a datetime field);
//   - an operator the field's type lacks (between on a string, contains on
//     a datetime or boolean, a bare non-boolean field as a condition);
//   - sorting by a set field.
func (q *Query) Validate(fields map[string]FieldType) error {
	if q == nil {
		return nil
	}
	if q.Where != nil {
		if err := validateNode(q.Where, fields); err != nil {
			return err
		}
	}
	for i, s := range q.Sort {
		pos := 0
		if i < len(q.sortPos) {
			pos = q.sortPos[i]
		}
		t, ok := lookupField(fields, s.Field)
		if !ok {
			return &ValidationError{Pos: pos, Field: s.Field, Msg: fmt.Sprintf("unknown sort field %q", s.Field)}
		}
		if t == StringSet {
			return &ValidationError{Pos: pos, Field: s.Field, Msg: fmt.Sprintf("cannot sort by %q: it is a set", s.Field)}
		}
	}
	return nil
}

func validateNode(n Node, fields map[string]FieldType) error {
	switch n := n.(type) {
	case *And:
		for _, t := range n.Terms {
			if err := validateNode(t, fields); err != nil {
				return err
			}
		}
	case *Or:
		for _, t := range n.Terms {
			if err := validateNode(t, fields); err != nil {
				return err
			}
		}
	case *Not:
		return validateNode(n.X, fields)
	case *Const:
	case *BoolField:
		t, err := fieldType(fields, n.Field, n.pos)
		if err != nil {
			return err
		}
		switch t {
		case Bool, Any:
		case StringSet:
			return setMisuseErr(n.Field, n.pos)
		default:
			return &ValidationError{Pos: n.pos, Field: n.Field,
				Msg: fmt.Sprintf("field %q is a %s, not a boolean: compare it with a value", n.Field, t)}
		}
	case *IsEmpty:
		t, err := fieldType(fields, n.Field, n.pos)
		if err != nil {
			return err
		}
		if t != StringSet {
			return notSetErr("isEmpty", n.Field, t, n.pos)
		}
	case *Compare:
		return validateCompare(n, fields)
	default:
		return &ValidationError{Pos: n.Pos(), Msg: fmt.Sprintf("unknown condition %T", n)}
	}
	return nil
}

func fieldType(fields map[string]FieldType, name string, pos int) (FieldType, error) {
	t, ok := lookupField(fields, name)
	if !ok {
		return 0, &ValidationError{Pos: pos, Field: name, Msg: fmt.Sprintf("unknown field %q", name)}
	}
	return t, nil
}

func setMisuseErr(field string, pos int) error {
	return &ValidationError{Pos: pos, Field: field,
		Msg: fmt.Sprintf("field %q is a set: use anyOf(%s), allOf(%s), count(%s) or isEmpty(%s)", field, field, field, field, field)}
}

func notSetErr(fn, field string, t FieldType, pos int) error {
	return &ValidationError{Pos: pos, Field: field,
		Msg: fmt.Sprintf("%s() applies only to set fields, and %q is a %s", fn, field, t)}
}

func validateCompare(c *Compare, fields map[string]FieldType) error {
	t, err := fieldType(fields, c.Field, c.pos)
	if err != nil {
		return err
	}
	elem := t
	switch c.Func {
	case NoFunc:
		if t == StringSet {
			return setMisuseErr(c.Field, c.pos)
		}
	case AnyOf, AllOf:
		if t != StringSet {
			return notSetErr(c.Func.String(), c.Field, t, c.pos)
		}
		elem = String
	case Count:
		if t != StringSet {
			return notSetErr("count", c.Field, t, c.pos)
		}
		return nil // the parser let only numbers through
	}
	for _, v := range c.Values {
		if ok, why := operandFits(elem, c.Op, v); !ok {
			return &ValidationError{Pos: v.pos, Field: c.Field, Msg: fmt.Sprintf("field %q is a %s: %s", c.Field, elem, why)}
		}
	}
	return nil
}

// operandFits reports whether a literal v may be used with op on a field of
// type t (OpenZiti's typing rules); why says what is wrong when it may not.
func operandFits(t FieldType, op Op, v Value) (bool, string) {
	if v.Kind == KindNull || t == Any {
		return true, ""
	}
	kind := kindName(v.Kind)
	mismatch := fmt.Sprintf("it cannot be compared with a %s", kind)
	switch t {
	case String:
		if v.Kind == KindString {
			return true, ""
		}
		if v.isNumber() && op.isText() {
			return true, "" // contains 123, as OpenZiti's grammar allows
		}
		return false, mismatch
	case Number:
		if op.isText() {
			return true, "" // OpenZiti matches numeric fields as text
		}
		if v.isNumber() {
			return true, ""
		}
		return false, mismatch
	case Bool:
		if v.Kind == KindBool {
			return true, ""
		}
		if op.isText() {
			return false, fmt.Sprintf("%q does not apply to it", op.String())
		}
		return false, mismatch
	case Datetime:
		if op.isText() {
			return false, fmt.Sprintf("%q does not apply to it", op.String())
		}
		if v.Kind == KindDatetime {
			return true, ""
		}
		return false, mismatch + " (write datetime(2020-01-02T03:04:05Z))"
	}
	return false, mismatch
}
