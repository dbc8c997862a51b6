package query

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF      tokKind = iota
	tWord             // bare field name or keyword, as written
	tQuoted           // 'field name'
	tString           // "..."
	tNumber           // number literal
	tDatetime         // datetime(...)
	tLParen
	tRParen
	tLBrack
	tRBrack
	tComma
	tOp  // = != < <= > >=
	tErr // where the lexer failed; the parser never accepts it
)

type token struct {
	kind tokKind
	pos  int
	text string // as written (word, quoted name without quotes, operator, raw literal)
	val  Value  // string, number and datetime literals
}

// keywords are the reserved words: a bare one-segment name equal to one of
// them (in any case) is the keyword, never a field. OpenZiti reserves the
// same words (its lexer has a token for each); startswith and endswith are
// Garrison's.
var keywords = map[string]bool{
	"and": true, "or": true, "not": true,
	"in": true, "between": true, "contains": true, "icontains": true,
	"startswith": true, "endswith": true,
	"true": true, "false": true, "null": true,
	"allof": true, "anyof": true, "count": true, "isempty": true,
	"sort": true, "by": true, "asc": true, "desc": true,
	"skip": true, "limit": true, "none": true,
	"from": true, "where": true,
}

func isWS(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func isLetter(c byte) bool { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isNameChar(c byte) bool { return isLetter(c) || isDigit(c) || c == '_' }

func synErr(pos int, format string, args ...any) *SyntaxError {
	return &SyntaxError{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// checkUTF8 reports the first invalid UTF-8 byte of s.
func checkUTF8(s string) error {
	if utf8.ValidString(s) {
		return nil
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n <= 1 {
			return synErr(i, "invalid UTF-8")
		}
		i += n
	}
	return nil
}

// nextToken lexes the token at or after offset i (skipping whitespace) and
// returns it with the offset just past it. The parser pulls tokens one at a
// time, so work stops where the first error is.
func nextToken(s string, i int) (token, int, error) {
	for i < len(s) && isWS(s[i]) {
		i++
	}
	if i >= len(s) {
		return token{kind: tEOF, pos: len(s)}, i, nil
	}
	start := i
	c := s[i]
	switch {
	case c == '(':
		return token{kind: tLParen, pos: i, text: "("}, i + 1, nil
	case c == ')':
		return token{kind: tRParen, pos: i, text: ")"}, i + 1, nil
	case c == '[':
		return token{kind: tLBrack, pos: i, text: "["}, i + 1, nil
	case c == ']':
		return token{kind: tRBrack, pos: i, text: "]"}, i + 1, nil
	case c == ',':
		return token{kind: tComma, pos: i, text: ","}, i + 1, nil
	case c == '=':
		return token{kind: tOp, pos: i, text: "="}, i + 1, nil
	case c == '!':
		if i+1 < len(s) && s[i+1] == '=' {
			return token{kind: tOp, pos: i, text: "!="}, i + 2, nil
		}
		return token{}, 0, synErr(i, `unexpected "!" (did you mean "!="?)`)
	case c == '<' || c == '>':
		i++
		if i < len(s) && s[i] == '=' {
			i++
		}
		return token{kind: tOp, pos: start, text: s[start:i]}, i, nil
	case c == '"':
		str, end, err := lexString(s, i)
		if err != nil {
			return token{}, 0, err
		}
		return token{kind: tString, pos: start, text: s[start:end], val: Value{Kind: KindString, Str: str, pos: start}}, end, nil
	case c == '-' || isDigit(c):
		v, end, err := lexNumber(s, i)
		if err != nil {
			return token{}, 0, err
		}
		return token{kind: tNumber, pos: start, text: s[start:end], val: v}, end, nil
	case c == '\'':
		end, err := scanName(s, i+1)
		if err != nil {
			return token{}, 0, err
		}
		if end >= len(s) || s[end] != '\'' {
			return token{}, 0, synErr(start, "unterminated quoted field name")
		}
		return token{kind: tQuoted, pos: start, text: s[i+1 : end]}, end + 1, nil
	case isLetter(c):
		end, err := scanName(s, i)
		if err != nil {
			return token{}, 0, err
		}
		word := s[i:end]
		if end < len(s) && s[end] == '(' && strings.EqualFold(word, "datetime") {
			v, dend, err := lexDatetime(s, start, end)
			if err != nil {
				return token{}, 0, err
			}
			return token{kind: tDatetime, pos: start, text: s[start:dend], val: v}, dend, nil
		}
		return token{kind: tWord, pos: start, text: word}, end, nil
	}
	r, _ := utf8.DecodeRuneInString(s[i:])
	return token{}, 0, synErr(i, "unexpected character %q", r)
}

// scanName scans a field name starting at i: letter (letter|digit|_)*
// segments joined by dots. It returns the end offset.
func scanName(s string, i int) (int, error) {
	if i >= len(s) || !isLetter(s[i]) {
		return 0, synErr(i, "expected a field name")
	}
	for {
		i++
		for i < len(s) && isNameChar(s[i]) {
			i++
		}
		if i < len(s) && s[i] == '.' {
			if i+1 >= len(s) || !isLetter(s[i+1]) {
				return 0, synErr(i+1, `expected a letter after "." in field name`)
			}
			i++
			continue
		}
		return i, nil
	}
}

// lexString reads the string literal whose opening quote is at s[i].
func lexString(s string, i int) (string, int, error) {
	start := i
	i++
	var b *strings.Builder
	from := i
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"':
			if b == nil {
				return s[from:i], i + 1, nil
			}
			b.WriteString(s[from:i])
			return b.String(), i + 1, nil
		case c == '\\':
			if b == nil {
				b = &strings.Builder{}
			}
			b.WriteString(s[from:i])
			if i+1 >= len(s) {
				return "", 0, synErr(start, "unterminated string")
			}
			switch s[i+1] {
			case '"':
				b.WriteByte('"')
			case '\\':
				b.WriteByte('\\')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				r, _ := utf8.DecodeRuneInString(s[i+1:])
				return "", 0, synErr(i, `invalid escape "\%c" in string (allowed: \" \\ \f \n \r \t)`, r)
			}
			i += 2
			from = i
		case c < 0x20:
			return "", 0, synErr(i, `control character in string (write \n, \t, ... instead)`)
		default:
			i++
		}
	}
	return "", 0, synErr(start, "unterminated string")
}

// lexNumber reads the number literal starting at s[i]:
// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?(0|[1-9][0-9]*))?
func lexNumber(s string, i int) (Value, int, error) {
	start := i
	if s[i] == '-' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return Value{}, 0, synErr(start, `unexpected "-"`)
		}
	}
	if s[i] == '0' {
		i++
	} else {
		for i < len(s) && isDigit(s[i]) {
			i++
		}
	}
	isFloat := false
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || !isDigit(s[i]) {
			return Value{}, 0, synErr(start, "malformed number %q", s[start:i])
		}
		for i < len(s) && isDigit(s[i]) {
			i++
		}
		isFloat = true
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || !isDigit(s[i]) {
			return Value{}, 0, synErr(start, "malformed number %q", s[start:i])
		}
		if s[i] == '0' {
			i++
		} else {
			for i < len(s) && isDigit(s[i]) {
				i++
			}
		}
		isFloat = true
	}
	if i < len(s) && (isNameChar(s[i]) || s[i] == '.') {
		end := i
		for end < len(s) && (isNameChar(s[end]) || s[end] == '.') {
			end++
		}
		return Value{}, 0, synErr(start, "malformed number %q", s[start:end])
	}
	text := s[start:i]
	if !isFloat {
		if n, err := strconv.ParseInt(text, 10, 64); err == nil {
			return Value{Kind: KindInt, Int: n, pos: start}, i, nil
		}
		// Too big for an int64: a float, as OpenZiti does.
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsInf(f, 0) {
		return Value{}, 0, synErr(start, "number %s is out of range", text)
	}
	return Value{Kind: KindFloat, Float: f, pos: start}, i, nil
}

var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// lexDatetime reads datetime(...) where s[start:paren] is the word
// "datetime" and s[paren] is "(".
func lexDatetime(s string, start, paren int) (Value, int, error) {
	closeAt := strings.IndexByte(s[paren:], ')')
	if closeAt < 0 {
		return Value{}, 0, synErr(start, `unterminated datetime(...): missing ")"`)
	}
	closeAt += paren
	inner := s[paren+1 : closeAt]
	lead := 0
	for lead < len(inner) && isWS(inner[lead]) {
		lead++
	}
	trail := len(inner)
	for trail > lead && isWS(inner[trail-1]) {
		trail--
	}
	text := inner[lead:trail]
	pos := paren + 1 + lead
	t, err := parseRFC3339(text)
	if err != nil {
		return Value{}, 0, synErr(pos, "invalid datetime %q: %v", text, err)
	}
	return Value{Kind: KindDatetime, Time: t, pos: start}, closeAt + 1, nil
}

var errDatetimeForm = errors.New("want RFC 3339 such as 2020-01-02T03:04:05Z, unquoted")

// parseRFC3339 parses an RFC 3339 date-time; 't' and 'z' may be lower case,
// as RFC 3339 and OpenZiti allow.
func parseRFC3339(text string) (time.Time, error) {
	if !rfc3339.MatchString(text) {
		return time.Time{}, errDatetimeForm
	}
	up := []byte(text)
	for i, c := range up {
		if c == 't' || c == 'z' {
			up[i] = c - ('a' - 'A')
		}
	}
	t, err := time.Parse(time.RFC3339Nano, string(up))
	if err != nil {
		var pe *time.ParseError
		if errors.As(err, &pe) && pe.Message != "" {
			return time.Time{}, errors.New(strings.TrimPrefix(pe.Message, ": "))
		}
		return time.Time{}, errDatetimeForm
	}
	return t, nil
}
