package query

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// scalar is a record value normalised for comparison.
type scalar struct {
	k scalarKind
	s string
	i int64
	f float64
	b bool
	t time.Time
}

type scalarKind uint8

const (
	sNull scalarKind = iota
	sBool
	sInt
	sFloat
	sString
	sTime
	sSet
)

// normalize turns a record value into a scalar, or a set (k == sSet, with
// the elements returned separately).
func normalize(v any) (scalar, []string, error) {
	switch x := v.(type) {
	case nil:
		return scalar{}, nil, nil
	case string:
		return scalar{k: sString, s: x}, nil, nil
	case *string:
		if x == nil {
			return scalar{}, nil, nil
		}
		return scalar{k: sString, s: *x}, nil, nil
	case bool:
		return scalar{k: sBool, b: x}, nil, nil
	case *bool:
		if x == nil {
			return scalar{}, nil, nil
		}
		return scalar{k: sBool, b: *x}, nil, nil
	case int:
		return scalar{k: sInt, i: int64(x)}, nil, nil
	case int8:
		return scalar{k: sInt, i: int64(x)}, nil, nil
	case int16:
		return scalar{k: sInt, i: int64(x)}, nil, nil
	case int32:
		return scalar{k: sInt, i: int64(x)}, nil, nil
	case int64:
		return scalar{k: sInt, i: x}, nil, nil
	case *int64:
		if x == nil {
			return scalar{}, nil, nil
		}
		return scalar{k: sInt, i: *x}, nil, nil
	case uint:
		return fromUint(uint64(x)), nil, nil
	case uint8:
		return fromUint(uint64(x)), nil, nil
	case uint16:
		return fromUint(uint64(x)), nil, nil
	case uint32:
		return fromUint(uint64(x)), nil, nil
	case uint64:
		return fromUint(x), nil, nil
	case float32:
		return scalar{k: sFloat, f: float64(x)}, nil, nil
	case float64:
		return scalar{k: sFloat, f: x}, nil, nil
	case *float64:
		if x == nil {
			return scalar{}, nil, nil
		}
		return scalar{k: sFloat, f: *x}, nil, nil
	case time.Time:
		return scalar{k: sTime, t: x}, nil, nil
	case *time.Time:
		if x == nil {
			return scalar{}, nil, nil
		}
		return scalar{k: sTime, t: *x}, nil, nil
	case []string:
		if x == nil {
			return scalar{}, nil, nil
		}
		return scalar{k: sSet}, x, nil
	}
	return scalar{}, nil, fmt.Errorf("unsupported value type %T", v)
}

func fromUint(u uint64) scalar {
	if u <= math.MaxInt64 {
		return scalar{k: sInt, i: int64(u)}
	}
	return scalar{k: sFloat, f: float64(u)}
}

func evalErr(field string, err error) error {
	return fmt.Errorf("filter: field %q: %w", field, err)
}

func setMisuse(field string) error {
	return fmt.Errorf("filter: field %q holds a set; use anyOf(), allOf(), count() or isEmpty()", field)
}

// setElems reads a set field: absent or null is the empty set.
func setElems(r Record, field, fn string) ([]string, error) {
	raw, _ := r.Field(field)
	s, elems, err := normalize(raw)
	if err != nil {
		return nil, evalErr(field, err)
	}
	switch s.k {
	case sSet:
		return elems, nil
	case sNull:
		return nil, nil
	}
	return nil, fmt.Errorf("filter: %s() needs a set, but field %q holds a single value", fn, field)
}

// Eval holds when every term holds; it stops at the first that does not.
func (n *And) Eval(r Record) (bool, error) {
	for _, t := range n.Terms {
		ok, err := t.Eval(r)
		if err != nil || !ok {
			return false, err
		}
	}
	return true, nil
}

// Eval holds when a term holds; it stops at the first that does.
func (n *Or) Eval(r Record) (bool, error) {
	for _, t := range n.Terms {
		ok, err := t.Eval(r)
		if err != nil {
			return false, err
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// Eval negates X.
func (n *Not) Eval(r Record) (bool, error) {
	ok, err := n.X.Eval(r)
	if err != nil {
		return false, err
	}
	return !ok, nil
}

// Eval gives the constant.
func (n *Const) Eval(Record) (bool, error) { return n.Value, nil }

// Eval holds when the field is true; null, absent or a non-boolean value
// does not hold.
func (n *BoolField) Eval(r Record) (bool, error) {
	raw, _ := r.Field(n.Field)
	s, _, err := normalize(raw)
	if err != nil {
		return false, evalErr(n.Field, err)
	}
	if s.k == sSet {
		return false, setMisuse(n.Field)
	}
	return s.k == sBool && s.b, nil
}

// Eval holds when the set field is empty or absent.
func (n *IsEmpty) Eval(r Record) (bool, error) {
	elems, err := setElems(r, n.Field, "isEmpty")
	if err != nil {
		return false, err
	}
	return len(elems) == 0, nil
}

// Eval evaluates the comparison; see Compare for the rules.
func (n *Compare) Eval(r Record) (bool, error) {
	if len(n.Values) == 0 {
		return false, fmt.Errorf("filter: comparison of %q has no value", n.Field)
	}
	switch n.Func {
	case AnyOf, AllOf:
		elems, err := setElems(r, n.Field, n.Func.String())
		if err != nil {
			return false, err
		}
		op, neg := n.Op, false
		if op == OpNotIn {
			op, neg = OpIn, true
		} else if op == OpNotBetween {
			op, neg = OpBetween, true
		}
		res := n.Func == AllOf
		for _, e := range elems {
			if compareScalar(scalar{k: sString, s: e}, op, n.Values) != (n.Func == AllOf) {
				res = !res
				break
			}
		}
		return res != neg, nil
	case Count:
		elems, err := setElems(r, n.Field, "count")
		if err != nil {
			return false, err
		}
		return compareScalar(scalar{k: sInt, i: int64(len(elems))}, n.Op, n.Values), nil
	}
	raw, _ := r.Field(n.Field)
	s, _, err := normalize(raw)
	if err != nil {
		return false, evalErr(n.Field, err)
	}
	if s.k == sSet {
		return false, setMisuse(n.Field)
	}
	if n.Values[0].Kind == KindNull {
		isNull := s.k == sNull
		if n.Op == OpNe {
			return !isNull, nil
		}
		return isNull, nil
	}
	return compareScalar(s, n.Op, n.Values), nil
}

// compareScalar applies op to one value. It never fails: a value that is
// null, or of a kind the literal cannot be compared with, does not match
// (except through the negation of "not in" and "not between").
func compareScalar(v scalar, op Op, vals []Value) bool {
	switch op {
	case OpNotIn:
		return !compareScalar(v, OpIn, vals)
	case OpNotBetween:
		return !compareScalar(v, OpBetween, vals)
	case OpIn:
		for _, lit := range vals {
			if c, ok := cmp(v, lit); ok && c == 0 {
				return true
			}
		}
		return false
	case OpBetween:
		if len(vals) != 2 {
			return false
		}
		lo, ok1 := cmp(v, vals[0])
		hi, ok2 := cmp(v, vals[1])
		return ok1 && ok2 && lo >= 0 && hi < 0
	}
	if op.isText() {
		hay, ok := text(v)
		if !ok {
			return false
		}
		needle, ok := literalText(vals[0])
		if !ok {
			return false
		}
		switch op {
		case OpContains:
			return strings.Contains(hay, needle)
		case OpNotContains:
			return !strings.Contains(hay, needle)
		case OpIContains:
			return strings.Contains(strings.ToLower(hay), strings.ToLower(needle))
		case OpNotIContains:
			return !strings.Contains(strings.ToLower(hay), strings.ToLower(needle))
		case OpStartsWith:
			return strings.HasPrefix(hay, needle)
		case OpNotStartsWith:
			return !strings.HasPrefix(hay, needle)
		case OpEndsWith:
			return strings.HasSuffix(hay, needle)
		case OpNotEndsWith:
			return !strings.HasSuffix(hay, needle)
		}
		return false
	}
	lit := vals[0]
	if lit.Kind == KindBool {
		// A null boolean reads as false, as in OpenZiti.
		b := false
		switch v.k {
		case sBool:
			b = v.b
		case sNull:
		default:
			return false
		}
		switch op {
		case OpEq:
			return b == lit.Bool
		case OpNe:
			return b != lit.Bool
		}
		return false
	}
	c, ok := cmp(v, lit)
	if !ok {
		return false
	}
	switch op {
	case OpEq:
		return c == 0
	case OpNe:
		return c != 0
	case OpLt:
		return c < 0
	case OpLe:
		return c <= 0
	case OpGt:
		return c > 0
	case OpGe:
		return c >= 0
	}
	return false
}

// cmp orders v against a string, number or datetime literal; ok is false
// when they cannot be compared (null, different kinds, NaN).
func cmp(v scalar, lit Value) (int, bool) {
	switch lit.Kind {
	case KindString:
		if v.k != sString {
			return 0, false
		}
		return strings.Compare(v.s, lit.Str), true
	case KindInt, KindFloat:
		switch v.k {
		case sInt:
			if lit.Kind == KindInt {
				return cmpInt(v.i, lit.Int), true
			}
			return cmpFloat(float64(v.i), lit.Float)
		case sFloat:
			if lit.Kind == KindInt {
				return cmpFloat(v.f, float64(lit.Int))
			}
			return cmpFloat(v.f, lit.Float)
		}
		return 0, false
	case KindDatetime:
		if v.k != sTime {
			return 0, false
		}
		return v.t.Compare(lit.Time), true
	}
	return 0, false
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) (int, bool) {
	switch {
	case a < b:
		return -1, true
	case a > b:
		return 1, true
	case a == b:
		return 0, true
	}
	return 0, false // NaN
}

// text is a value as the substring operators see it: a string, or a number
// written in decimal (as OpenZiti reads numeric fields as strings).
func text(v scalar) (string, bool) {
	switch v.k {
	case sString:
		return v.s, true
	case sInt:
		return strconv.FormatInt(v.i, 10), true
	case sFloat:
		return strconv.FormatFloat(v.f, 'f', -1, 64), true
	}
	return "", false
}

func literalText(v Value) (string, bool) {
	switch v.Kind {
	case KindString:
		return v.Str, true
	case KindInt:
		return strconv.FormatInt(v.Int, 10), true
	case KindFloat:
		return strconv.FormatFloat(v.Float, 'f', -1, 64), true
	}
	return "", false
}
