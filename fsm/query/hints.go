package query

import (
	"strings"
	"time"
)

// Hint is a constraint on one field that an index can serve. Every record
// the query matches satisfies every hint, so a store may scan only the
// records an index gives for a hint; it must still Match each of them.
type Hint struct {
	Field string
	// Op is one of:
	//   "eq"     the field equals Values[0]
	//   "in"     the field equals one of Values
	//   "prefix" the field starts with Values[0]
	//   "anyOf"  the set field holds at least one of Values
	Op     string
	Values []string
}

// Hints extracts index hints from the top-level conjunction of q's
// condition (the condition itself when it is not an "and"). Only string
// literals give hints: field = "x", field in ["x", "y"], field startsWith
// "x", anyOf(field) = "x" and anyOf(field) in [...]. A top-level "or", a
// "not", and anything else give none; allOf gives none, since it also holds
// for an empty set. Hints come in the order of the filter.
func (q *Query) Hints() []Hint {
	if q == nil || q.Where == nil {
		return nil
	}
	terms := []Node{q.Where}
	if a, ok := q.Where.(*And); ok {
		terms = a.Terms
	}
	var hints []Hint
	for _, t := range terms {
		c, ok := t.(*Compare)
		if !ok || len(c.Values) == 0 {
			continue
		}
		strs, allStrings := stringValues(c.Values)
		if !allStrings {
			continue
		}
		switch c.Func {
		case NoFunc:
			switch c.Op {
			case OpEq:
				hints = append(hints, Hint{Field: c.Field, Op: "eq", Values: strs})
			case OpIn:
				hints = append(hints, Hint{Field: c.Field, Op: "in", Values: strs})
			case OpStartsWith:
				hints = append(hints, Hint{Field: c.Field, Op: "prefix", Values: strs})
			}
		case AnyOf:
			if c.Op == OpEq || c.Op == OpIn {
				hints = append(hints, Hint{Field: c.Field, Op: "anyOf", Values: strs})
			}
		}
	}
	return hints
}

func stringValues(vals []Value) ([]string, bool) {
	out := make([]string, len(vals))
	for i, v := range vals {
		if v.Kind != KindString {
			return nil, false
		}
		out[i] = v.Str
	}
	return out, true
}

// Less reports whether a sorts before b under q's "sort by" fields (the
// first MaxSortFields of them). Records equal on every sort field are not
// less either way: the caller breaks ties, by id ascending as OpenZiti
// always does, and chooses the order when q has no "sort by" (OpenZiti's
// default is id ascending).
//
// As in OpenZiti, a null or absent value sorts first in ascending order and
// last in descending order; strings compare byte-wise, numbers by value,
// false before true, datetimes by instant. Values of different kinds (only
// possible in an Any field) order null < boolean < number < string <
// datetime < set.
func (q *Query) Less(a, b Record) bool {
	if q == nil {
		return false
	}
	sorts := q.Sort
	if len(sorts) > MaxSortFields {
		sorts = sorts[:MaxSortFields]
	}
	for _, s := range sorts {
		av, _ := a.Field(s.Field)
		bv, _ := b.Field(s.Field)
		c := compareValues(av, bv)
		if c == 0 {
			continue
		}
		if s.Desc {
			return c > 0
		}
		return c < 0
	}
	return false
}

func kindRank(k scalarKind) int {
	switch k {
	case sNull:
		return 0
	case sBool:
		return 1
	case sInt, sFloat:
		return 2
	case sString:
		return 3
	case sTime:
		return 4
	}
	return 5
}

// compareValues orders two record values for sorting. Unsupported types
// sort as null.
func compareValues(a, b any) int {
	sa, ea, err := normalize(a)
	if err != nil {
		sa = scalar{}
	}
	sb, eb, err := normalize(b)
	if err != nil {
		sb = scalar{}
	}
	ra, rb := kindRank(sa.k), kindRank(sb.k)
	if ra != rb {
		return cmpInt(int64(ra), int64(rb))
	}
	switch sa.k {
	case sNull:
		return 0
	case sBool:
		switch {
		case sa.b == sb.b:
			return 0
		case !sa.b:
			return -1
		}
		return 1
	case sInt, sFloat:
		if sa.k == sInt && sb.k == sInt {
			return cmpInt(sa.i, sb.i)
		}
		c, ok := cmpFloat(asFloat(sa), asFloat(sb))
		if !ok {
			return 0
		}
		return c
	case sString:
		return strings.Compare(sa.s, sb.s)
	case sTime:
		return compareTime(sa.t, sb.t)
	case sSet:
		for i := 0; i < len(ea) && i < len(eb); i++ {
			if c := strings.Compare(ea[i], eb[i]); c != 0 {
				return c
			}
		}
		return cmpInt(int64(len(ea)), int64(len(eb)))
	}
	return 0
}

func asFloat(s scalar) float64 {
	if s.k == sInt {
		return float64(s.i)
	}
	return s.f
}

func compareTime(a, b time.Time) int { return a.Compare(b) }
