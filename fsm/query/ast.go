package query

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Node is a condition of the filter's AST: *And, *Or, *Not, *Const,
// *BoolField, *IsEmpty or *Compare.
type Node interface {
	// Eval reports whether r satisfies the condition; see Query.Match for
	// when it fails.
	Eval(r Record) (bool, error)
	// Pos is the 0-based byte offset in the filter where the condition
	// starts.
	Pos() int
	// String renders the condition canonically.
	String() string

	node()
}

// And holds when every term holds. Nested conjunctions are flattened into
// one And, so its terms are never *And.
type And struct {
	Terms []Node
	pos   int
}

// Or holds when any term holds. Nested disjunctions are flattened into one
// Or, so its terms are never *Or.
type Or struct {
	Terms []Node
	pos   int
}

// Not negates X ("not (x)", "not x").
type Not struct {
	X   Node
	pos int
}

// Const is the condition "true" or "false" (OpenZiti's BoolConst), which
// lets a filter that only pages be written "true limit 5".
type Const struct {
	Value bool
	pos   int
}

// BoolField is a bare field name used as a condition ("isAdmin"): it holds
// when the field's value is true (OpenZiti's BoolSymbol).
type BoolField struct {
	Field string
	pos   int
}

// IsEmpty is isEmpty(field): it holds when the set field has no elements or
// is absent (as OpenZiti's isEmpty does).
type IsEmpty struct {
	Field string
	pos   int
}

// SetFunc is the function, if any, applied to a Compare's field.
type SetFunc int

const (
	// NoFunc compares the field's own value.
	NoFunc SetFunc = iota
	// AnyOf holds when some element of the set satisfies the comparison;
	// an empty or absent set does not (as OpenZiti does).
	AnyOf
	// AllOf holds when every element of the set satisfies the comparison;
	// an empty or absent set does, vacuously (as OpenZiti does).
	AllOf
	// Count compares the number of elements of the set (0 when absent).
	Count
)

func (f SetFunc) String() string {
	switch f {
	case AnyOf:
		return "anyOf"
	case AllOf:
		return "allOf"
	case Count:
		return "count"
	}
	return ""
}

// Op is a comparison operator.
type Op int

// The operators. The "not" forms of contains, icontains, startsWith and
// endsWith are evaluated per value (on a set, per element) and, as in
// OpenZiti, never hold for a null field. "not in" and "not between" negate the
// whole comparison, quantifier included, as OpenZiti does: a null field is
// "not in" every list, and anyOf(x) not in [...] means no element is in it.
const (
	OpEq Op = iota + 1
	OpNe
	OpLt
	OpLe
	OpGt
	OpGe
	OpContains
	OpNotContains
	OpIContains
	OpNotIContains
	OpStartsWith
	OpNotStartsWith
	OpEndsWith
	OpNotEndsWith
	OpIn
	OpNotIn
	OpBetween
	OpNotBetween
)

var opNames = [...]string{
	OpEq:            "=",
	OpNe:            "!=",
	OpLt:            "<",
	OpLe:            "<=",
	OpGt:            ">",
	OpGe:            ">=",
	OpContains:      "contains",
	OpNotContains:   "not contains",
	OpIContains:     "icontains",
	OpNotIContains:  "not icontains",
	OpStartsWith:    "startsWith",
	OpNotStartsWith: "not startsWith",
	OpEndsWith:      "endsWith",
	OpNotEndsWith:   "not endsWith",
	OpIn:            "in",
	OpNotIn:         "not in",
	OpBetween:       "between",
	OpNotBetween:    "not between",
}

func (o Op) String() string {
	if o > 0 && int(o) < len(opNames) {
		return opNames[o]
	}
	return "?"
}

// isText reports whether o is one of the substring operators.
func (o Op) isText() bool { return o >= OpContains && o <= OpNotEndsWith }

// Compare is a comparison of a field, or of a set function of a field, with
// one value (=, !=, <, <=, >, >=, contains, ...), a list (in, not in) or two
// bounds (between, not between).
//
// Semantics, as OpenZiti's evaluator has them unless noted:
//   - A comparison with a null or absent field is false, "!=" and
//     "not contains" included; only "= null", "!= null", "not in" and
//     "not between" say otherwise.
//   - "= null" holds for a null or absent field, "!= null" for any other.
//   - A boolean comparison reads a null field as false: "flag = false" and
//     "flag != true" match a record without flag.
//   - Strings compare byte-wise and case-sensitively; icontains compares
//     case-insensitively (Unicode lower case).
//   - Numbers compare by value: two integers exactly, otherwise as float64.
//   - contains and icontains given a number compare decimal text: a number
//     field's value is written out, and so is a number operand (OpenZiti
//     lets numeric fields use contains).
//   - Datetimes compare as instants, whatever their offsets.
//   - "x between a and b" is a <= x < b: the upper bound is excluded, as in
//     OpenZiti.
type Compare struct {
	Func   SetFunc
	Field  string
	Op     Op
	Values []Value // one value; the list for in; the two bounds for between
	pos    int
}

// ValueKind is the kind of a literal in a filter.
type ValueKind int

// The kinds of literal.
const (
	KindString ValueKind = iota + 1
	KindInt
	KindFloat
	KindBool
	KindNull
	KindDatetime
)

// Value is a literal of the filter. Only the field of its kind is set.
type Value struct {
	Kind  ValueKind
	Str   string
	Int   int64
	Float float64
	Bool  bool
	Time  time.Time
	pos   int
}

// Pos is the 0-based byte offset of the literal in the filter.
func (v Value) Pos() int { return v.pos }

func (v Value) isNumber() bool { return v.Kind == KindInt || v.Kind == KindFloat }

// String renders the literal as the filter language writes it.
func (v Value) String() string {
	switch v.Kind {
	case KindString:
		return quoteString(v.Str)
	case KindInt:
		return strconv.FormatInt(v.Int, 10)
	case KindFloat:
		return formatFloat(v.Float)
	case KindBool:
		if v.Bool {
			return "true"
		}
		return "false"
	case KindNull:
		return "null"
	case KindDatetime:
		return "datetime(" + v.Time.Format(time.RFC3339Nano) + ")"
	}
	return "?"
}

func (n *And) Pos() int       { return n.pos }
func (n *Or) Pos() int        { return n.pos }
func (n *Not) Pos() int       { return n.pos }
func (n *Const) Pos() int     { return n.pos }
func (n *BoolField) Pos() int { return n.pos }
func (n *IsEmpty) Pos() int   { return n.pos }
func (n *Compare) Pos() int   { return n.pos }

func (*And) node()       {}
func (*Or) node()        {}
func (*Not) node()       {}
func (*Const) node()     {}
func (*BoolField) node() {}
func (*IsEmpty) node()   {}
func (*Compare) node()   {}

func (n *And) String() string {
	parts := make([]string, len(n.Terms))
	for i, t := range n.Terms {
		if _, ok := t.(*Or); ok {
			parts[i] = "(" + t.String() + ")"
		} else {
			parts[i] = t.String()
		}
	}
	return strings.Join(parts, " and ")
}

func (n *Or) String() string {
	parts := make([]string, len(n.Terms))
	for i, t := range n.Terms {
		parts[i] = t.String()
	}
	return strings.Join(parts, " or ")
}

func (n *Not) String() string { return "not (" + n.X.String() + ")" }

func (n *Const) String() string {
	if n.Value {
		return "true"
	}
	return "false"
}

func (n *BoolField) String() string { return formatIdent(n.Field) }

func (n *IsEmpty) String() string { return "isEmpty(" + formatIdent(n.Field) + ")" }

func (n *Compare) String() string {
	var b strings.Builder
	if n.Func != NoFunc {
		b.WriteString(n.Func.String())
		b.WriteByte('(')
		b.WriteString(formatIdent(n.Field))
		b.WriteByte(')')
	} else {
		b.WriteString(formatIdent(n.Field))
	}
	b.WriteByte(' ')
	b.WriteString(n.Op.String())
	b.WriteByte(' ')
	switch n.Op {
	case OpIn, OpNotIn:
		b.WriteByte('[')
		for i, v := range n.Values {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(v.String())
		}
		b.WriteByte(']')
	case OpBetween, OpNotBetween:
		if len(n.Values) == 2 {
			b.WriteString(n.Values[0].String())
			b.WriteString(" and ")
			b.WriteString(n.Values[1].String())
		}
	default:
		if len(n.Values) > 0 {
			b.WriteString(n.Values[0].String())
		}
	}
	return b.String()
}

// formatIdent writes a field name, single-quoting it when it is a keyword.
func formatIdent(name string) string {
	if keywords[strings.ToLower(name)] {
		return "'" + name + "'"
	}
	return name
}

// quoteString writes s as a filter string literal.
func quoteString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\f':
			b.WriteString(`\f`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\t':
			b.WriteString(`\t`)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// formatFloat writes f so that it parses back as the same float (never as
// an integer) under the filter's number syntax.
func formatFloat(f float64) string {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return "0.0" // cannot come from Parse
	}
	s := strconv.FormatFloat(f, 'g', -1, 64)
	mant, exp, hasExp := strings.Cut(s, "e")
	if !strings.Contains(mant, ".") && !hasExp {
		mant += ".0"
	}
	if !hasExp {
		return mant
	}
	sign := ""
	if exp != "" && (exp[0] == '+' || exp[0] == '-') {
		sign, exp = exp[:1], exp[1:]
	}
	exp = strings.TrimLeft(exp, "0")
	if exp == "" {
		exp = "0"
	}
	return mant + "e" + sign + exp
}
