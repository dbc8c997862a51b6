package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// MaxBody bounds request bodies; nothing in these APIs needs more.
const MaxBody = 1 << 20

// ReadBody reads a request body of at most max bytes.
func ReadBody(r *http.Request, max int) ([]byte, *Error) {
	data, err := io.ReadAll(io.LimitReader(r.Body, int64(max)+1))
	if err != nil {
		return nil, BadBody(err)
	}
	if len(data) > max {
		return nil, &Error{Status: http.StatusBadRequest, Code: CodeCouldNotParseBody,
			Message: "The request body is too large", CauseMessage: fmt.Sprintf("the body may have at most %d bytes", max)}
	}
	return data, nil
}

// CheckJSON accepts exactly one JSON value that is valid I-JSON (RFC 7493):
// UTF-8 throughout, escaped surrogates included, and no object with two
// members of one name. encoding/json would silently replace bad UTF-8 and
// let the last duplicate win ("isAdmin":false,"isAdmin":true), so a body is
// checked before it is decoded.
func CheckJSON(data []byte) *Error {
	dec := jsontext.NewDecoder(bytes.NewReader(data))
	if _, err := dec.ReadValue(); err != nil {
		return syntaxError(err)
	}
	if _, err := dec.ReadToken(); !errors.Is(err, io.EOF) {
		return BadBody(errors.New("the body holds more than one JSON value"))
	}
	return nil
}

// syntaxError names the field a JSON syntax error sits in, when it is in one.
func syntaxError(err error) *Error {
	e := BadBody(err)
	var se *jsontext.SyntacticError
	if !errors.As(err, &se) || se.JSONPointer == "" {
		return e
	}
	var parts []string
	for tok := range se.JSONPointer.Tokens() {
		parts = append(parts, tok)
	}
	field := strings.Join(parts, ".")
	reason := "is not valid JSON"
	switch msg := err.Error(); {
	case errors.Is(err, jsontext.ErrDuplicateName):
		reason = "is given more than once"
	case strings.Contains(msg, "UTF-8"), strings.Contains(msg, "surrogate"):
		reason = "must be valid UTF-8 text"
	}
	e.Cause = &FieldError{Field: field, Reason: reason}
	return e
}

// Decode reads a JSON object body into v (a struct). An empty body decodes
// as {}. The body is checked strictly first (CheckJSON), and member names
// match field names exactly: encoding/json would also take "NAME" for
// "name", a second way to give one field twice. A type error names its
// field.
func Decode(r *http.Request, v any) *Error {
	data, aerr := ReadBody(r, MaxBody)
	if aerr != nil {
		return aerr
	}
	if len(bytes.TrimSpace(data)) == 0 {
		data = []byte("{}")
	}
	if aerr := CheckJSON(data); aerr != nil {
		return aerr
	}
	if jsonKind(data) != '{' {
		return BadBody(errors.New("the body must be a JSON object"))
	}
	if err := jsonv2.Unmarshal(data, v); err != nil {
		var se *jsonv2.SemanticError
		if errors.As(err, &se) && se.JSONPointer != "" {
			field := strings.Join(slices.Collect(se.JSONPointer.Tokens()), ".")
			want := "of another type"
			if se.GoType != nil {
				want = typeName(se.GoType.Kind().String())
			}
			return Invalid(field, "must be "+want, nil)
		}
		return BadBody(err)
	}
	return nil
}

// typeName names a Go kind the way an API user thinks of JSON types.
func typeName(kind string) string {
	switch kind {
	case "string":
		return "a string"
	case "bool":
		return "a boolean"
	case "slice", "array":
		return "an array"
	case "map", "struct", "ptr":
		return "an object"
	}
	return "a number"
}

// Object is a JSON object whose members are read one by one, so that a
// PATCH can tell an absent member from a null one and every type error
// names its field. Its text has passed CheckJSON.
type Object map[string]json.RawMessage

// DecodeObject reads the request body as a JSON object; an empty body is {}.
func DecodeObject(r *http.Request) (Object, *Error) {
	data, aerr := ReadBody(r, MaxBody)
	if aerr != nil {
		return nil, aerr
	}
	return ParseObject(data)
}

// ParseObject parses JSON text that must be one object.
func ParseObject(data []byte) (Object, *Error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return Object{}, nil
	}
	if aerr := CheckJSON(data); aerr != nil {
		return nil, aerr
	}
	var o Object
	if jsonKind(data) != '{' || json.Unmarshal(data, &o) != nil {
		return nil, BadBody(errors.New("the body must be a JSON object"))
	}
	return o, nil
}

// jsonKind is the first byte of a JSON value's text ('{', '[', '"', 't',
// 'f', 'n', or '0' for any number).
func jsonKind(raw []byte) byte {
	raw = bytes.TrimLeft(raw, " \t\r\n")
	if len(raw) == 0 {
		return 0
	}
	switch c := raw[0]; c {
	case '{', '[', '"', 't', 'f', 'n':
		return c
	}
	return '0'
}

// Has reports whether the member is present (null counts as present).
func (o Object) Has(name string) bool {
	_, ok := o[name]
	return ok
}

// IsNull reports whether the member is present and null.
func (o Object) IsNull(name string) bool {
	v, ok := o[name]
	return ok && jsonKind(v) == 'n'
}

// value returns a present, non-null member of the given JSON kind; ok is
// false when it is absent or null.
func (o Object) value(name string, kind byte, want string) (json.RawMessage, bool, *Error) {
	raw, present := o[name]
	if !present || jsonKind(raw) == 'n' {
		return nil, false, nil
	}
	k := jsonKind(raw)
	if k == 't' {
		k = 'f'
	}
	if k != kind {
		return nil, false, Invalid(name, "must be "+want, nil)
	}
	return raw, true, nil
}

// String reads a string member.
func (o Object) String(name string) (string, bool, *Error) {
	raw, ok, aerr := o.value(name, '"', "a string")
	if !ok {
		return "", false, aerr
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", false, Invalid(name, "must be a string", nil)
	}
	return s, true, nil
}

// Bool reads a boolean member.
func (o Object) Bool(name string) (bool, bool, *Error) {
	raw, ok, aerr := o.value(name, 'f', "a boolean")
	if !ok {
		return false, false, aerr
	}
	return jsonKind(raw) == 't', true, nil
}

// Int reads an integer member within [lo, hi]. A number in a string
// ("12") or with a fraction is refused.
func (o Object) Int(name string, lo, hi int64) (int64, bool, *Error) {
	raw, ok, aerr := o.value(name, '0', "an integer")
	if !ok {
		return 0, false, aerr
	}
	n, err := strconv.ParseInt(string(bytes.TrimSpace(raw)), 10, 64)
	if err != nil {
		return 0, false, Invalid(name, "must be an integer", string(raw))
	}
	if n < lo || n > hi {
		return 0, false, Invalid(name, fmt.Sprintf("must be between %d and %d", lo, hi), n)
	}
	return n, true, nil
}

// Strings reads an array of strings.
func (o Object) Strings(name string) ([]string, bool, *Error) {
	raw, ok, aerr := o.value(name, '[', "an array of strings")
	if !ok {
		return nil, false, aerr
	}
	var items []json.RawMessage
	if err := json.Unmarshal(raw, &items); err != nil {
		return nil, false, Invalid(name, "must be an array of strings", nil)
	}
	out := make([]string, 0, len(items))
	for _, it := range items {
		var s string
		if jsonKind(it) != '"' || json.Unmarshal(it, &s) != nil {
			return nil, false, Invalid(name, "must be an array of strings", nil)
		}
		if bad := BadText(s); bad != "" {
			return nil, false, Invalid(name, bad, s)
		}
		out = append(out, s)
	}
	return out, true, nil
}

// Object reads a nested object member.
func (o Object) Object(name string) (Object, bool, *Error) {
	raw, ok, aerr := o.value(name, '{', "an object")
	if !ok {
		return nil, false, aerr
	}
	var sub Object
	if err := json.Unmarshal(raw, &sub); err != nil {
		return nil, false, Invalid(name, "must be an object", nil)
	}
	return sub, true, nil
}

// Tags reads a tags-like object: values are strings, booleans or null, as
// the spec's tags definition says.
func (o Object) Tags(name string) (map[string]any, bool, *Error) {
	sub, ok, aerr := o.Object(name)
	if !ok {
		return nil, false, aerr
	}
	m := make(map[string]any, len(sub))
	for k, raw := range sub {
		if BadText(k) != "" || k == "" {
			return nil, false, Invalid(name, "tag names must be non-empty text", k)
		}
		switch jsonKind(raw) {
		case 'n':
			m[k] = nil
		case 't', 'f':
			m[k] = jsonKind(raw) == 't'
		case '"':
			var s string
			_ = json.Unmarshal(raw, &s)
			if bad := BadText(s); bad != "" {
				return nil, false, Invalid(name+"."+k, bad, nil)
			}
			m[k] = s
		default:
			return nil, false, Invalid(name+"."+k, "tag values must be strings, booleans or null", string(raw))
		}
	}
	return m, true, nil
}

// Time reads an RFC 3339 date-time string.
func (o Object) Time(name string) (time.Time, bool, *Error) {
	v, ok, aerr := o.String(name)
	if !ok {
		return time.Time{}, false, aerr
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, false, Invalid(name, "must be an RFC 3339 date-time", v)
	}
	return t, true, nil
}

// Limits of a free-form JSON object member (appData, a config's data, a
// config type's schema, envInfo): it is stored and replicated as given, so
// its size is bounded where it enters.
type Limits struct {
	// MaxBytes bounds its compact JSON text.
	MaxBytes int
	// MaxItems bounds the member names and values it holds, at every depth
	// (an object of n members holds 2n items, an array of n elements n).
	MaxItems int
	// MaxDepth bounds its nesting.
	MaxDepth int
}

// FreeObject reads a free-form object member and returns its compact JSON.
func (o Object) FreeObject(name string, lim Limits) ([]byte, bool, *Error) {
	raw, ok, aerr := o.value(name, '{', "an object")
	if !ok {
		return nil, false, aerr
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, false, Invalid(name, "must be an object", nil)
	}
	if buf.Len() > lim.MaxBytes {
		return nil, false, Invalid(name, fmt.Sprintf("must be at most %d bytes of JSON", lim.MaxBytes), nil)
	}
	items, depth := 0, 0
	dec := jsontext.NewDecoder(bytes.NewReader(buf.Bytes()))
	for {
		tok, err := dec.ReadToken()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, false, Invalid(name, "must be an object", nil)
		}
		switch tok.Kind() {
		case '}', ']':
			continue
		case '{', '[':
			depth = max(depth, dec.StackDepth())
		}
		items++
	}
	if depth > lim.MaxDepth {
		return nil, false, Invalid(name, fmt.Sprintf("must nest at most %d levels deep", lim.MaxDepth), nil)
	}
	if items-1 > lim.MaxItems { // the object itself is not one of its items
		return nil, false, Invalid(name, fmt.Sprintf("must hold at most %d member names and values", lim.MaxItems), nil)
	}
	return buf.Bytes(), true, nil
}

// BadText explains why a string cannot be stored as a name or key, or "".
// NUL separates index keys from ids in the store.
func BadText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL characters"
	}
	return ""
}

// Decode decodes a present, non-null member into v with encoding/json; ok
// is false when it is absent or null. want names the expected type in the
// error ("an object of integers").
func (o Object) Decode(name, want string, v any) (bool, *Error) {
	raw, present := o[name]
	if !present || jsonKind(raw) == 'n' {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, Invalid(name, "must be "+want, nil)
	}
	return true, nil
}
