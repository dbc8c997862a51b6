// Package query parses and evaluates the OpenZiti filter language (ZitiQL),
// the language of the `filter` query parameter on every list endpoint of the
// Edge Client and Edge Management APIs.
//
// A filter is an optional condition followed by optional clauses, in this
// order only (as OpenZiti's grammar has it):
//
//	filter    = [ condition ] [ "sort by" sortField { "," sortField } ] [ "skip" N ] [ "limit" ( N | "none" ) ]
//	sortField = field [ "asc" | "desc" ]
//	condition = or
//	or        = and { "or" and }
//	and       = unary { "and" unary }
//	unary     = "not" unary | primary
//	primary   = "(" condition ")" | "true" | "false" | "isEmpty(" field ")"
//	          | lhs operator operand | field            (a bare boolean field)
//	lhs       = field | "anyOf(" field ")" | "allOf(" field ")" | "count(" field ")"
//	operator  = "=" | "!=" | "<" | "<=" | ">" | ">="
//	          | [ "not" ] ( "contains" | "icontains" | "startsWith" | "endsWith" | "in" | "between" )
//
// Operands follow OpenZiti's grammar: "=" and "!=" take a string, number,
// datetime, true/false or null; "<", "<=", ">", ">=" take a string, number or
// datetime; contains and icontains take a string or a number; in and not in
// take a non-empty list of strings, of numbers or of datetimes ("[...]");
// between takes "NUMBER and NUMBER" or "DATETIME and DATETIME".
//
// Lexical rules (as OpenZiti's ZitiQl.g4 has them): keywords are
// case-insensitive; whitespace is space, tab, CR and LF; strings are in double
// quotes with the escapes \" \\ \f \n \r \t and no raw control characters;
// numbers are -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?(0|[1-9][0-9]*))?, an
// integer when it fits in an int64 and a float otherwise; datetimes are written
// datetime(2020-01-02T03:04:05Z), the RFC 3339 text bare (not quoted) inside
// the parentheses; field names are letters, digits and underscores starting
// with a letter, dot-separated (tags.env), and a field whose name is a keyword
// is written in single quotes ('limit').
//
// Where Garrison differs from OpenZiti, on purpose:
//   - startsWith and endsWith (and their "not" forms) are Garrison extensions;
//     OpenZiti's grammar has only contains and icontains.
//   - "not" binds tighter than "and", which binds tighter than "or", as in SQL.
//     OpenZiti's ANTLR grammar lists "and" before "or", but it was not possible
//     to confirm how its generated parser nests an unparenthesised "not".
//   - Field names may contain digits after the first letter (OpenZiti: letters
//     and underscores only), and whitespace around "and", "or", "in" and
//     brackets is optional where the tokens are otherwise unambiguous.
//   - "limit -1" is an error; OpenZiti's grammar lets a minus sign through and
//     treats it as "limit none". Write "limit none".
//   - Subqueries (count(from x where ...)) are not supported.
//   - An empty filter (or one of only whitespace) is accepted and matches all.
//
// Parse reports *SyntaxError, Validate reports *ValidationError; both carry a
// 0-based byte offset into the filter.
package query

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxDepth bounds the nesting of parentheses and "not" in a filter. Parse
// rejects a filter that nests deeper.
const MaxDepth = 64

// MaxSortFields is how many "sort by" fields take effect; further ones are
// ignored by Less, as OpenZiti ignores them (SortMax in its boltz store).
const MaxSortFields = 5

// LimitNone is the Limit value for "limit none" (OpenZiti's marker too).
const LimitNone int64 = -1

// Query is a parsed filter.
type Query struct {
	Where Node        // nil = match all
	Sort  []SortField // from "sort by", in order
	Skip  *int64      // nil = not given
	Limit *int64      // nil = not given; LimitNone (-1) means "limit none"

	sortPos []int // byte offset of each Sort field, for Validate
}

// SortField is one field of a "sort by" clause. A field given without a
// direction sorts ascending, as OpenZiti does.
type SortField struct {
	Field string
	Desc  bool
}

// Record gives a record's field values by name. A value is one of: string;
// a number (int, int8-64, uint, uint8-64, float32, float64); bool; time.Time;
// []string for a set-valued field such as roleAttributes; nil, or ok=false,
// for null or absent. Pointers *string, *bool, *int64, *float64 and
// *time.Time are dereferenced (nil pointer = null).
type Record interface {
	Field(name string) (any, bool)
}

// SyntaxError is a filter that does not parse.
type SyntaxError struct {
	Pos int // 0-based byte offset into the filter
	Msg string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("filter: position %d: %s", e.Pos, e.Msg)
}

// ValidationError is a filter that parses but does not fit the fields of a
// list: an unknown field, or a field used with a value or operator its type
// does not allow.
type ValidationError struct {
	Pos   int    // 0-based byte offset into the filter
	Field string // the field at fault
	Msg   string
}

func (e *ValidationError) Error() string {
	return fmt.Sprintf("filter: position %d: %s", e.Pos, e.Msg)
}

// Match reports whether r satisfies q's condition. A query without a
// condition matches every record.
//
// Errors: Match fails only when a record's value has a shape the condition
// cannot use, which Validate would have rejected: a set ([]string) used as a
// plain field, a plain value given to anyOf/allOf/count/isEmpty, or a Go type
// outside those listed on Record. A value of the wrong scalar kind (a number
// where the filter has a string, say, as happens with tags) does not match
// and is not an error, the way OpenZiti treats a value it cannot read as the
// operator's type.
func (q *Query) Match(r Record) (bool, error) {
	if q == nil || q.Where == nil {
		return true, nil
	}
	return q.Where.Eval(r)
}

// String renders q as a canonical filter: Parse(q.String()) gives a query
// equal to q (positions aside), and rendering that again gives the same text.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	var parts []string
	if q.Where != nil {
		parts = append(parts, q.Where.String())
	}
	if len(q.Sort) > 0 {
		var b strings.Builder
		b.WriteString("sort by ")
		for i, s := range q.Sort {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(formatIdent(s.Field))
			if s.Desc {
				b.WriteString(" desc")
			} else {
				b.WriteString(" asc")
			}
		}
		parts = append(parts, b.String())
	}
	if q.Skip != nil {
		parts = append(parts, "skip "+strconv.FormatInt(*q.Skip, 10))
	}
	if q.Limit != nil {
		if *q.Limit == LimitNone {
			parts = append(parts, "limit none")
		} else {
			parts = append(parts, "limit "+strconv.FormatInt(*q.Limit, 10))
		}
	}
	return strings.Join(parts, " ")
}
