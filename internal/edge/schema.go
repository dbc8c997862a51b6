package edge

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// Config types carry a JSON Schema that configs of the type must satisfy.
// Schemas without "$schema" are read as draft 7, the draft of OpenZiti's
// own config types; nothing outside the schema is ever loaded ($ref to a
// URL or a file fails), so a schema cannot make a node read its disk or
// the network.

// schemaURL names the schema inside its compiler.
const schemaURL = "garrison:config-type-schema"

// ConfigSchema is a compiled config type schema.
type ConfigSchema struct{ s *jsonschema.Schema }

// CompileSchema checks a config type's schema (JSON text) against its
// draft's meta-schema and compiles it. Like OpenZiti, it requires the root
// to describe an object when it says what it describes.
func CompileSchema(schemaJSON []byte) (*ConfigSchema, error) {
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(schemaJSON))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if m, ok := doc.(map[string]any); ok {
		if t, has := m["type"]; has && t != "object" {
			return nil, errors.New("the root type must be object: a config's data is an object")
		}
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
func (cs *ConfigSchema) Validate(dataJSON []byte) error {
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
