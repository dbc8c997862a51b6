package edge

import (
	"bytes"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Config types carry a JSON Schema that configs of the type must satisfy.
// Schemas without "$schema" are read as draft 7, the draft of OpenZiti's
// own config types; nothing outside the schema is ever loaded ($ref to a
// URL or a file fails), so a schema cannot make a node read its disk or
// the network. Validation runs on the write path, so its cost is bounded
// where a schema enters: references are local and not recursive, and the
// schema with every reference written out has at most MaxSchemaCost
// values (a few small $refs chained through anyOf would otherwise take
// exponential time). Numbers beyond float64's range are refused in schemas
// and data alike: the library cannot represent them.

// schemaURL names the schema inside its compiler.
const schemaURL = "garrison:config-type-schema"

// ConfigSchema is a compiled config type schema.
type ConfigSchema struct{ s *jsonschema.Schema }

// CompileSchema checks a config type's schema (JSON text) against its
// draft's meta-schema and compiles it. Like OpenZiti, it requires the root
// to describe an object when it says what it describes.
func CompileSchema(schemaJSON []byte) (cs *ConfigSchema, err error) {
	defer func() {
		if v := recover(); v != nil {
			cs, err = nil, fmt.Errorf("the schema cannot be compiled: %v", v)
		}
	}()
	if err := checkNumbers(schemaJSON); err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if m, ok := doc.(map[string]any); ok {
		if t, has := m["type"]; has && t != "object" {
			return nil, errors.New("the root type must be object: a config's data is an object")
		}
	}
	z := &sizer{root: doc, memo: map[string]int{}, active: map[string]bool{}}
	if _, err := z.size(doc, true); err != nil {
		return nil, err
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7)
	c.UseLoader(jsonschema.SchemeURLLoader{})
	if err := c.AddResource(schemaURL, doc); err != nil {
		return nil, err
	}
	s, err := c.Compile(schemaURL)
	if err != nil {
		return nil, cleanSchemaError(err)
	}
	return &ConfigSchema{s: s}, nil
}

// DataError is a config's data failing its type's schema: where (a JSON
// path below data, "" for the root) and why.
type DataError struct {
	Path   []string
	Reason string
}

func (e *DataError) Error() string { return "/" + strings.Join(e.Path, "/") + ": " + e.Reason }

// Validate checks a config's data (JSON text) against the schema.
func (cs *ConfigSchema) Validate(dataJSON []byte) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &DataError{Reason: fmt.Sprintf("cannot be checked against the schema: %v", v)}
		}
	}()
	if err := checkNumbers(dataJSON); err != nil {
		return &DataError{Reason: err.Error()}
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(dataJSON))
	if err != nil {
		return &DataError{Reason: "is not JSON: " + err.Error()}
	}
	err = cs.s.Validate(doc)
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return err
	}
	// The deepest first cause names the value that failed.
	for len(ve.Causes) > 0 {
		ve = ve.Causes[0]
	}
	return &DataError{Path: ve.InstanceLocation, Reason: ve.ErrorKind.LocalizedString(message.NewPrinter(language.English))}
}

// cleanSchemaError drops the compiler's internal schema URL from messages.
func cleanSchemaError(err error) error {
	return errors.New(strings.ReplaceAll(err.Error(), schemaURL, "schema"))
}

// MaxSchemaCost bounds the values of a schema with its references written
// out.
const MaxSchemaCost = 10000

// sizer counts a schema's values with local references expanded, refusing
// references it cannot follow.
type sizer struct {
	root   any
	memo   map[string]int  // reference -> its expanded size
	active map[string]bool // references being expanded: a cycle
}

func (z *sizer) size(v any, root bool) (int, error) {
	n := 1
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			var m int
			var err error
			ref, isRef := sub.(string)
			switch {
			case k == "$ref" && isRef:
				m, err = z.ref(ref)
			case (k == "$dynamicRef" || k == "$recursiveRef") && isRef:
				err = fmt.Errorf("%s is not supported; use a local $ref", k)
			case k == "$id" && isRef && !root:
				err = errors.New("$id is only supported at the root of a schema")
			default:
				m, err = z.size(sub, false)
			}
			if err != nil {
				return 0, err
			}
			n += m
			if n > MaxSchemaCost {
				return 0, fmt.Errorf("the schema is too complex: with its $refs written out it has more than %d values", MaxSchemaCost)
			}
		}
	case []any:
		for _, sub := range x {
			m, err := z.size(sub, false)
			if err != nil {
				return 0, err
			}
			if n += m; n > MaxSchemaCost {
				return 0, fmt.Errorf("the schema is too complex: with its $refs written out it has more than %d values", MaxSchemaCost)
			}
		}
	}
	return n, nil
}

// ref expands a local reference ("#", "#/definitions/x").
func (z *sizer) ref(ref string) (int, error) {
	ptr, ok := strings.CutPrefix(ref, "#")
	if !ok {
		return 0, fmt.Errorf("$ref %q: only references within the schema (#/...) are supported", ref)
	}
	if n, ok := z.memo[ref]; ok {
		return n, nil
	}
	if z.active[ref] {
		return 0, fmt.Errorf("$ref %q refers to itself: recursive schemas are not supported", ref)
	}
	target, err := resolvePointer(z.root, ptr)
	if err != nil {
		return 0, fmt.Errorf("$ref %q: %w", ref, err)
	}
	z.active[ref] = true
	n, err := z.size(target, false)
	delete(z.active, ref)
	if err != nil {
		return 0, err
	}
	z.memo[ref] = n
	return n, nil
}

// resolvePointer follows a JSON pointer (RFC 6901, URI-escaped as in a
// $ref) from root.
func resolvePointer(root any, ptr string) (any, error) {
	unescaped, err := url.PathUnescape(ptr)
	if err != nil {
		return nil, err
	}
	if unescaped == "" {
		return root, nil
	}
	if !strings.HasPrefix(unescaped, "/") {
		return nil, errors.New("anchors are not supported; use a JSON pointer")
	}
	cur := root
	for _, tok := range strings.Split(unescaped[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch x := cur.(type) {
		case map[string]any:
			v, ok := x[tok]
			if !ok {
				return nil, errors.New("does not resolve within the schema")
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(x) {
				return nil, errors.New("does not resolve within the schema")
			}
			cur = x[i]
		default:
			return nil, errors.New("does not resolve within the schema")
		}
	}
	return cur, nil
}

// checkNumbers refuses JSON numbers beyond what float64 holds (at most 400
// digits, exponents within ±400); anything bigger only costs time and
// cannot be compared the way the schema means.
func checkNumbers(raw []byte) error {
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	for {
		tok, err := dec.ReadToken()
		if err != nil {
			return nil // syntax is checked where the JSON is parsed
		}
		if tok.Kind() != '0' {
			continue
		}
		num := tok.String()
		mantissa, exp, hasExp := strings.Cut(strings.ToLower(num), "e")
		if len(mantissa) > 400 {
			return fmt.Errorf("number %.20s… has too many digits", num)
		}
		if hasExp {
			if e, err := strconv.Atoi(exp); err != nil || e > 400 || e < -400 {
				return fmt.Errorf("number %.40s is out of range", num)
			}
		}
	}
}
