package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
)

// object is a decoded JSON request body whose fields are read one by one,
// so that PATCH can tell an absent field from a null one and every type
// error names its field.
type object map[string]json.RawMessage

// decodeObject reads the request body as a JSON object.
func decodeObject(r *http.Request) (object, *APIError) {
	var raw json.RawMessage
	if err := decodeBody(r, &raw); err != nil {
		return nil, err
	}
	var o object
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return nil, errBody(fmt.Errorf("the body must be a JSON object"))
	}
	return o, nil
}

// has reports whether the field is present (null counts as present).
func (o object) has(name string) bool {
	_, ok := o[name]
	return ok
}

func (o object) isNull(name string) bool {
	v, ok := o[name]
	return ok && string(v) == "null"
}

// get decodes a present, non-null field into v. ok is false when the field
// is absent or null.
func (o object) get(name, typeName string, v any) (bool, *APIError) {
	raw, present := o[name]
	if !present || string(raw) == "null" {
		return false, nil
	}
	if err := json.Unmarshal(raw, v); err != nil {
		return false, errField(name, "must be "+typeName, nil)
	}
	return true, nil
}

func (o object) str(name string) (string, bool, *APIError) {
	var s string
	ok, err := o.get(name, "a string", &s)
	return s, ok, err
}

func (o object) boolean(name string) (bool, bool, *APIError) {
	var b bool
	ok, err := o.get(name, "a boolean", &b)
	return b, ok, err
}

func (o object) integer(name string, lo, hi int64) (int64, bool, *APIError) {
	var f json.Number
	raw, present := o[name]
	if !present || string(raw) == "null" {
		return 0, false, nil
	}
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.UseNumber()
	if err := dec.Decode(&f); err != nil {
		return 0, false, errField(name, "must be an integer", nil)
	}
	n, err := f.Int64()
	if err != nil {
		return 0, false, errField(name, "must be an integer", string(raw))
	}
	if n < lo || n > hi {
		return 0, false, errField(name, fmt.Sprintf("must be between %d and %d", lo, hi), n)
	}
	return n, true, nil
}

func (o object) strings(name string) ([]string, bool, *APIError) {
	var s []string
	ok, err := o.get(name, "an array of strings", &s)
	if err == nil {
		for _, v := range s {
			if bad := badText(v); bad != "" {
				return nil, false, errField(name, bad, v)
			}
		}
	}
	return s, ok, err
}

// tagMap reads a tags-like object: values are strings, booleans or null,
// as the spec's tags definition says.
func (o object) tagMap(name string) (map[string]any, bool, *APIError) {
	var m map[string]any
	ok, err := o.get(name, "an object", &m)
	if err != nil || !ok {
		return nil, ok, err
	}
	for k, v := range m {
		if bad := badText(k); bad != "" || k == "" {
			return nil, false, errField(name, "tag names must be non-empty text", k)
		}
		switch tv := v.(type) {
		case nil, bool:
		case string:
			if bad := badText(tv); bad != "" {
				return nil, false, errField(name+"."+k, bad, nil)
			}
		default:
			return nil, false, errField(name+"."+k, "tag values must be strings, booleans or null", v)
		}
	}
	return m, true, nil
}

// badText explains why a string cannot be stored as a name or key, or "".
// NUL separates index keys from ids in the store.
func badText(s string) string {
	if strings.IndexByte(s, 0) >= 0 {
		return "must not contain NUL characters"
	}
	return ""
}
