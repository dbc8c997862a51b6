package query

import (
	"fmt"
	"strings"
)

// Parse parses a filter. An empty filter, or one of only whitespace, gives an
// empty Query, which matches everything. Errors are *SyntaxError.
//
// Parse runs in time linear in the length of the filter; the caller bounds
// that length.
func Parse(filter string) (*Query, error) {
	if err := checkUTF8(filter); err != nil {
		return nil, err
	}
	p := &parser{src: filter}
	p.advance()
	q, err := p.parseQuery()
	if p.lexErr != nil {
		// The parser stopped at or before the token the lexer could not
		// read; that is the error to report.
		return nil, p.lexErr
	}
	if err != nil {
		return nil, err
	}
	return q, nil
}

// parser is a recursive-descent parser with one token of lookahead, pulling
// tokens from the lexer as it goes.
type parser struct {
	src    string
	off    int   // offset just past tok
	tok    token // the lookahead
	lexErr error
	depth  int
}

func (p *parser) advance() {
	if p.lexErr != nil {
		return
	}
	t, off, err := nextToken(p.src, p.off)
	if err != nil {
		p.lexErr = err
		pos := len(p.src)
		if se, ok := err.(*SyntaxError); ok {
			pos = se.Pos
		}
		p.tok = token{kind: tErr, pos: pos}
		return
	}
	p.tok, p.off = t, off
}

func (p *parser) peek() token { return p.tok }

func (p *parser) next() token {
	t := p.tok
	if t.kind != tEOF && t.kind != tErr {
		p.advance()
	}
	return t
}

// isKw reports whether t is the keyword kw (lower case).
func isKw(t token, kw string) bool {
	return t.kind == tWord && len(t.text) == len(kw) && strings.EqualFold(t.text, kw)
}

func isKeyword(t token) bool {
	return t.kind == tWord && keywords[strings.ToLower(t.text)]
}

// describe names a token for an error message.
func describe(t token) string {
	switch t.kind {
	case tEOF:
		return "end of filter"
	case tString:
		return "string " + t.text
	case tNumber:
		return "number " + t.text
	case tDatetime:
		return t.text
	case tQuoted:
		return "'" + t.text + "'"
	}
	return fmt.Sprintf("%q", t.text)
}

func (p *parser) parseQuery() (*Query, error) {
	q := &Query{}
	if t := p.peek(); t.kind != tEOF && !isKw(t, "sort") && !isKw(t, "skip") && !isKw(t, "limit") {
		w, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		q.Where = w
	}
	// Clauses, in OpenZiti's order: sort by, skip, limit.
	stage := 0 // 1 after sort by, 2 after skip, 3 after limit
	for {
		t := p.peek()
		switch {
		case t.kind == tEOF:
			return q, nil
		case isKw(t, "sort"):
			if stage >= 1 {
				return nil, p.orderErr(t, stage, "sort by")
			}
			stage = 1
			if err := p.parseSort(q); err != nil {
				return nil, err
			}
		case isKw(t, "skip"):
			if stage >= 2 {
				return nil, p.orderErr(t, stage, "skip")
			}
			stage = 2
			p.next()
			n, err := p.parseCount("skip")
			if err != nil {
				return nil, err
			}
			q.Skip = &n
		case isKw(t, "limit"):
			if stage >= 3 {
				return nil, synErr(t.pos, `"limit" given twice`)
			}
			stage = 3
			p.next()
			if isKw(p.peek(), "none") {
				p.next()
				n := LimitNone
				q.Limit = &n
				continue
			}
			n, err := p.parseCount("limit")
			if err != nil {
				return nil, err
			}
			q.Limit = &n
		default:
			if q.Where == nil && stage == 0 {
				return nil, synErr(t.pos, "expected a condition, found %s", describe(t))
			}
			return nil, synErr(t.pos, "unexpected %s", describe(t))
		}
	}
}

func (p *parser) orderErr(t token, stage int, clause string) error {
	names := [...]string{1: "sort by", 2: "skip", 3: "limit"}
	if names[stage] == clause {
		return synErr(t.pos, "%q given twice", clause)
	}
	return synErr(t.pos, "%q must come before %q (order: sort by, skip, limit)", clause, names[stage])
}

func (p *parser) parseSort(q *Query) error {
	p.next()
	if !isKw(p.peek(), "by") {
		return synErr(p.peek().pos, `expected "by" after "sort"`)
	}
	p.next()
	for {
		t := p.peek()
		name, ok := fieldName(t)
		if !ok {
			return synErr(t.pos, "expected a field name to sort by, found %s", describe(t))
		}
		p.next()
		f := SortField{Field: name}
		if isKw(p.peek(), "asc") {
			p.next()
		} else if isKw(p.peek(), "desc") {
			p.next()
			f.Desc = true
		}
		q.Sort = append(q.Sort, f)
		q.sortPos = append(q.sortPos, t.pos)
		if p.peek().kind != tComma {
			return nil
		}
		p.next()
	}
}

// parseCount reads the whole number after skip or limit.
func (p *parser) parseCount(clause string) (int64, error) {
	t := p.peek()
	if t.kind != tNumber {
		return 0, synErr(t.pos, "expected a number after %q, found %s", clause, describe(t))
	}
	p.next()
	if t.val.Kind != KindInt {
		return 0, synErr(t.pos, "%s must be a whole number, found %s", clause, t.text)
	}
	if t.val.Int < 0 {
		if clause == "limit" {
			return 0, synErr(t.pos, `limit must not be negative (use "limit none" for no limit)`)
		}
		return 0, synErr(t.pos, "skip must not be negative")
	}
	return t.val.Int, nil
}

// fieldName returns the field named by t, if t is a field name.
func fieldName(t token) (string, bool) {
	switch t.kind {
	case tQuoted:
		return t.text, true
	case tWord:
		if !keywords[strings.ToLower(t.text)] {
			return t.text, true
		}
	}
	return "", false
}

func (p *parser) enter(pos int) error {
	p.depth++
	if p.depth > MaxDepth {
		return synErr(pos, "filter nests too deeply (more than %d levels of parentheses and \"not\")", MaxDepth)
	}
	return nil
}

func (p *parser) parseOr() (Node, error) {
	first, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	if !isKw(p.peek(), "or") {
		return first, nil
	}
	or := &Or{pos: first.Pos()}
	or.Terms = appendFlat(or.Terms, first, true)
	for isKw(p.peek(), "or") {
		p.next()
		t, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		or.Terms = appendFlat(or.Terms, t, true)
	}
	return or, nil
}

func (p *parser) parseAnd() (Node, error) {
	first, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	if !isKw(p.peek(), "and") {
		return first, nil
	}
	and := &And{pos: first.Pos()}
	and.Terms = appendFlat(and.Terms, first, false)
	for isKw(p.peek(), "and") {
		p.next()
		t, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		and.Terms = appendFlat(and.Terms, t, false)
	}
	return and, nil
}

// appendFlat appends n to terms, splicing in the terms of a nested Or (when
// or) or And (when !or): both are associative.
func appendFlat(terms []Node, n Node, or bool) []Node {
	if or {
		if o, ok := n.(*Or); ok {
			return append(terms, o.Terms...)
		}
	} else if a, ok := n.(*And); ok {
		return append(terms, a.Terms...)
	}
	return append(terms, n)
}

func (p *parser) parseUnary() (Node, error) {
	t := p.peek()
	if !isKw(t, "not") {
		return p.parsePrimary()
	}
	p.next()
	if err := p.enter(t.pos); err != nil {
		return nil, err
	}
	defer func() { p.depth-- }()
	var x Node
	var err error
	if p.peek().kind == tLParen {
		// "not (...)" counts as one level, as String writes every Not.
		open := p.next()
		x, err = p.parseOr()
		if err != nil {
			return nil, err
		}
		if err := p.expectClose(open); err != nil {
			return nil, err
		}
	} else {
		x, err = p.parseUnary()
		if err != nil {
			return nil, err
		}
	}
	return &Not{X: x, pos: t.pos}, nil
}

func (p *parser) expectClose(open token) error {
	t := p.peek()
	if t.kind != tRParen {
		return synErr(t.pos, `expected ")" to close "(" at position %d, found %s`, open.pos, describe(t))
	}
	p.next()
	return nil
}

func (p *parser) parsePrimary() (Node, error) {
	t := p.peek()
	switch {
	case t.kind == tLParen:
		p.next()
		if err := p.enter(t.pos); err != nil {
			return nil, err
		}
		x, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		if err := p.expectClose(t); err != nil {
			return nil, err
		}
		p.depth--
		return x, nil
	case isKw(t, "true"), isKw(t, "false"):
		p.next()
		return &Const{Value: isKw(t, "true"), pos: t.pos}, nil
	case isKw(t, "isempty"):
		p.next()
		field, err := p.parseFuncArg("isEmpty")
		if err != nil {
			return nil, err
		}
		return &IsEmpty{Field: field, pos: t.pos}, nil
	case isKw(t, "anyof"), isKw(t, "allof"), isKw(t, "count"):
		p.next()
		fn := map[string]SetFunc{"anyof": AnyOf, "allof": AllOf, "count": Count}[strings.ToLower(t.text)]
		field, err := p.parseFuncArg(fn.String())
		if err != nil {
			return nil, err
		}
		return p.parseComparison(fn, field, t)
	}
	if name, ok := fieldName(t); ok {
		p.next()
		nt := p.peek()
		if nt.kind == tLParen && t.kind == tWord {
			return nil, synErr(t.pos, "unknown function %q (functions: anyOf, allOf, count, isEmpty, datetime)", t.text)
		}
		if !startsOperator(nt) {
			// A bare field as a condition: a boolean field.
			return &BoolField{Field: name, pos: t.pos}, nil
		}
		return p.parseComparison(NoFunc, name, t)
	}
	switch t.kind {
	case tString, tNumber, tDatetime:
		return nil, synErr(t.pos, "expected a field name before %s", describe(t))
	case tEOF:
		return nil, synErr(t.pos, "expected a condition, found end of filter")
	}
	if isKw(t, "null") {
		return nil, synErr(t.pos, "expected a field name before null")
	}
	return nil, synErr(t.pos, "expected a condition, found %s", describe(t))
}

// parseFuncArg reads "(" field ")" after a set function's name.
func (p *parser) parseFuncArg(fn string) (string, error) {
	open := p.peek()
	if open.kind != tLParen {
		return "", synErr(open.pos, `expected "(" after %s`, fn)
	}
	p.next()
	t := p.peek()
	if isKw(t, "from") {
		return "", synErr(t.pos, "subqueries (from ... where ...) are not supported")
	}
	name, ok := fieldName(t)
	if !ok {
		return "", synErr(t.pos, "expected a field name inside %s(), found %s", fn, describe(t))
	}
	p.next()
	if c := p.peek(); c.kind != tRParen {
		return "", synErr(c.pos, `expected ")" after %s(%s, found %s`, fn, name, describe(c))
	}
	p.next()
	return name, nil
}

func startsOperator(t token) bool {
	if t.kind == tOp {
		return true
	}
	if t.kind != tWord {
		return false
	}
	switch strings.ToLower(t.text) {
	case "not", "contains", "icontains", "startswith", "endswith", "in", "between":
		return true
	}
	return false
}

var wordOps = map[string]Op{
	"contains":   OpContains,
	"icontains":  OpIContains,
	"startswith": OpStartsWith,
	"endswith":   OpEndsWith,
	"in":         OpIn,
	"between":    OpBetween,
}

var negated = map[Op]Op{
	OpContains:   OpNotContains,
	OpIContains:  OpNotIContains,
	OpStartsWith: OpNotStartsWith,
	OpEndsWith:   OpNotEndsWith,
	OpIn:         OpNotIn,
	OpBetween:    OpNotBetween,
}

var symbolOps = map[string]Op{"=": OpEq, "!=": OpNe, "<": OpLt, "<=": OpLe, ">": OpGt, ">=": OpGe}

// parseComparison reads the operator and operand(s) after a field or set
// function; lhs is the token that started it.
func (p *parser) parseComparison(fn SetFunc, field string, lhs token) (Node, error) {
	lhsText := field
	if fn != NoFunc {
		lhsText = fn.String() + "(" + field + ")"
	}
	t := p.next()
	var op Op
	switch {
	case t.kind == tOp:
		op = symbolOps[t.text]
	case isKw(t, "not"):
		nt := p.next()
		base, ok := wordOps[strings.ToLower(nt.text)]
		if nt.kind != tWord || !ok {
			return nil, synErr(nt.pos, `expected "contains", "icontains", "startsWith", "endsWith", "in" or "between" after "not", found %s`, describe(nt))
		}
		op = negated[base]
	case t.kind == tWord && wordOps[strings.ToLower(t.text)] != 0:
		op = wordOps[strings.ToLower(t.text)]
	default:
		return nil, synErr(t.pos, "expected an operator after %s, found %s", lhsText, describe(t))
	}
	c := &Compare{Func: fn, Field: field, Op: op, pos: lhs.pos}
	switch op {
	case OpIn, OpNotIn:
		vals, err := p.parseList(op, fn)
		if err != nil {
			return nil, err
		}
		c.Values = vals
	case OpBetween, OpNotBetween:
		lo, err := p.parseValue(op, fn)
		if err != nil {
			return nil, err
		}
		if !lo.isNumber() && lo.Kind != KindDatetime {
			return nil, synErr(lo.pos, "%s needs numbers or datetimes, found %s", op, kindName(lo.Kind))
		}
		if a := p.peek(); !isKw(a, "and") {
			return nil, synErr(a.pos, `expected "and" between the bounds of %s, found %s`, op, describe(a))
		}
		p.next()
		hi, err := p.parseValue(op, fn)
		if err != nil {
			return nil, err
		}
		if lo.isNumber() != hi.isNumber() || (!hi.isNumber() && hi.Kind != KindDatetime) {
			return nil, synErr(hi.pos, "the bounds of %s must both be numbers or both datetimes", op)
		}
		c.Values = []Value{lo, hi}
	default:
		v, err := p.parseValue(op, fn)
		if err != nil {
			return nil, err
		}
		if err := checkOperand(op, fn, v); err != nil {
			return nil, err
		}
		c.Values = []Value{v}
	}
	return c, nil
}

// parseValue reads one literal after op.
func (p *parser) parseValue(op Op, fn SetFunc) (Value, error) {
	t := p.peek()
	var v Value
	switch {
	case t.kind == tString, t.kind == tNumber, t.kind == tDatetime:
		v = t.val
	case isKw(t, "true"), isKw(t, "false"):
		v = Value{Kind: KindBool, Bool: isKw(t, "true"), pos: t.pos}
	case isKw(t, "null"):
		v = Value{Kind: KindNull, pos: t.pos}
	default:
		return Value{}, synErr(t.pos, "expected value after %q", op.String())
	}
	p.next()
	if fn == Count && !v.isNumber() {
		return Value{}, synErr(v.pos, "count() compares only with numbers, found %s", kindName(v.Kind))
	}
	return v, nil
}

// checkOperand enforces which literal kinds each single-value operator
// takes (from OpenZiti's grammar: "=" takes any literal, "<" and friends no
// boolean or null, contains a string or number).
func checkOperand(op Op, fn SetFunc, v Value) error {
	switch op {
	case OpEq, OpNe:
		if v.Kind == KindNull && fn != NoFunc {
			return synErr(v.pos, "null can be compared only with a plain field, not %s()", fn)
		}
		return nil
	case OpLt, OpLe, OpGt, OpGe:
		if v.Kind == KindBool || v.Kind == KindNull {
			return synErr(v.pos, "%q takes a string, number or datetime, not %s", op.String(), kindName(v.Kind))
		}
	case OpContains, OpNotContains, OpIContains, OpNotIContains:
		if v.Kind != KindString && !v.isNumber() {
			return synErr(v.pos, "%q takes a string or number, not %s", op.String(), kindName(v.Kind))
		}
		if fn == Count {
			return synErr(v.pos, "count() cannot be used with %q", op.String())
		}
	case OpStartsWith, OpNotStartsWith, OpEndsWith, OpNotEndsWith:
		if v.Kind != KindString {
			return synErr(v.pos, "%q takes a string, not %s", op.String(), kindName(v.Kind))
		}
	}
	return nil
}

// parseList reads "[" value { "," value } "]": strings, numbers or
// datetimes, not mixed, not empty (as OpenZiti's grammar has it).
func (p *parser) parseList(op Op, fn SetFunc) ([]Value, error) {
	open := p.peek()
	if open.kind != tLBrack {
		return nil, synErr(open.pos, `expected "[" after %q, found %s`, op.String(), describe(open))
	}
	p.next()
	if p.peek().kind == tRBrack {
		return nil, synErr(p.peek().pos, "empty list after %q", op.String())
	}
	var vals []Value
	for {
		v, err := p.parseValue(op, fn)
		if err != nil {
			return nil, err
		}
		if v.Kind != KindString && !v.isNumber() && v.Kind != KindDatetime {
			return nil, synErr(v.pos, "a list holds strings, numbers or datetimes, not %s", kindName(v.Kind))
		}
		if len(vals) > 0 && listGroup(vals[0]) != listGroup(v) {
			return nil, synErr(v.pos, "a list must not mix %ss and %ss", kindName(vals[0].Kind), kindName(v.Kind))
		}
		vals = append(vals, v)
		t := p.next()
		switch t.kind {
		case tComma:
			continue
		case tRBrack:
			return vals, nil
		default:
			return nil, synErr(t.pos, `expected "," or "]" in list, found %s`, describe(t))
		}
	}
}

func listGroup(v Value) ValueKind {
	if v.Kind == KindFloat {
		return KindInt
	}
	return v.Kind
}

func kindName(k ValueKind) string {
	switch k {
	case KindString:
		return "string"
	case KindInt, KindFloat:
		return "number"
	case KindBool:
		return "boolean"
	case KindNull:
		return "null"
	case KindDatetime:
		return "datetime"
	}
	return "value"
}
