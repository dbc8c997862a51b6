package edge

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

const hostPortSchema = `{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
 "properties":{"hostname":{"type":"string"},"port":{"type":"integer","minimum":1,"maximum":65535},
 "tags":{"type":"array","items":{"type":"string","maxLength":3}}},
 "required":["hostname","port"],"additionalProperties":false}`

func TestConfigSchema(t *testing.T) {
	s, err := CompileSchema([]byte(hostPortSchema))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"hostname":"example.com","port":80}`)); err != nil {
		t.Fatalf("valid data refused: %v", err)
	}
	for data, path := range map[string]string{
		`{"hostname":"example.com","port":0}`:                       "/port",
		`{"hostname":"example.com"}`:                                "/",
		`{"hostname":"example.com","port":80,"extra":1}`:            "/",
		`{"hostname":"example.com","port":80,"tags":["ok","long"]}`: "/tags/1",
		`{"hostname":5,"port":80}`:                                  "/hostname",
	} {
		err := s.Validate([]byte(data))
		var de *DataError
		if !errors.As(err, &de) {
			t.Errorf("%s: %v, want a DataError", data, err)
			continue
		}
		if got := "/" + strings.Join(de.Path, "/"); got != path || de.Reason == "" {
			t.Errorf("%s: path %q reason %q, want path %q", data, got, de.Reason, path)
		}
	}
}

func TestCompileSchemaRefusesBadSchemas(t *testing.T) {
	for name, schema := range map[string]string{
		"not JSON":           `{`,
		"root not an object": `{"type":"string"}`,
		"bad keyword value":  `{"type":"object","properties":{"a":{"type":"no-such-type"}}}`,
		"bad minimum":        `{"type":"object","minProperties":-1}`,
		"remote ref":         `{"type":"object","properties":{"a":{"$ref":"https://example.com/s.json"}}}`,
		"file ref":           `{"type":"object","properties":{"a":{"$ref":"file:///etc/passwd"}}}`,
		"bad regex":          `{"type":"object","patternProperties":{"(":{}}}`,
		"recursive $ref":     `{"$ref":"#"}`,
		"indirect recursion": `{"definitions":{"a":{"$ref":"#/definitions/b"},"b":{"anyOf":[{"$ref":"#/definitions/a"}]}},"$ref":"#/definitions/a"}`,
		"dangling $ref":      `{"type":"object","properties":{"a":{"$ref":"#/definitions/none"}}}`,
		"huge multipleOf":    `{"multipleOf":1e-99999999}`,
		"huge minimum":       `{"properties":{"a":{"minimum":1e99999999}}}`,
		"nested $id":         `{"properties":{"a":{"$id":"http://example.com/a","type":"string"}}}`,
		"exponential refs":   chainedAnyOf(22),
	} {
		if _, err := CompileSchema([]byte(schema)); err == nil {
			t.Errorf("%s: compiled", name)
		} else if strings.Contains(err.Error(), schemaURL) {
			t.Errorf("%s: error leaks the internal URL: %v", name, err)
		}
	}
	if _, err := CompileSchema([]byte(`{}`)); err != nil {
		t.Errorf("empty schema: %v", err)
	}
}

// FuzzConfigSchema: no schema or data makes compiling or validating panic.
func FuzzConfigSchema(f *testing.F) {
	f.Add([]byte(hostPortSchema), []byte(`{"hostname":"a","port":1}`))
	f.Add([]byte(`{"type":"object","patternProperties":{"^a+$":{"type":"string"}}}`), []byte(`{"aaa":1}`))
	f.Add([]byte(`{"$ref":"#/definitions/x","definitions":{"x":{"$ref":"#/definitions/x"}}}`), []byte(`{}`))
	f.Fuzz(func(t *testing.T, schema, data []byte) {
		s, err := CompileSchema(schema)
		if err != nil {
			return
		}
		_ = s.Validate(data)
	})
}

// chainedAnyOf is a schema whose levels each try the next twice: small as
// text, 2^levels steps to validate.
func chainedAnyOf(levels int) string {
	var defs []string
	for i := 0; i < levels; i++ {
		defs = append(defs, fmt.Sprintf(`"d%d":{"anyOf":[{"$ref":"#/definitions/d%d"},{"$ref":"#/definitions/d%d"}]}`, i, i+1, i+1))
	}
	defs = append(defs, fmt.Sprintf(`"d%d":false`, levels))
	return `{"definitions":{` + strings.Join(defs, ",") + `},"$ref":"#/definitions/d0"}`
}

func TestConfigSchemaBoundsCost(t *testing.T) {
	start := time.Now()
	if _, err := CompileSchema([]byte(chainedAnyOf(22))); err == nil || !strings.Contains(err.Error(), "too complex") {
		t.Fatalf("exponential schema: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("refusing it took %v", d)
	}
	// Shared definitions used many times are fine while the expansion is small.
	ok := `{"definitions":{"port":{"type":"integer","minimum":1,"maximum":65535},"addr":{"type":"string"}},
		"type":"object","properties":{"a":{"$ref":"#/definitions/port"},"b":{"$ref":"#/definitions/port"},
		"c":{"type":"array","items":{"$ref":"#/definitions/addr"}}}}`
	s, err := CompileSchema([]byte(ok))
	if err != nil {
		t.Fatalf("schema with shared definitions: %v", err)
	}
	if err := s.Validate([]byte(`{"a":80,"b":443,"c":["x"]}`)); err != nil {
		t.Errorf("valid data: %v", err)
	}
	var de *DataError
	if err := s.Validate([]byte(`{"a":1e99999999}`)); !errors.As(err, &de) {
		t.Errorf("a number beyond float64: %v, want a DataError", err)
	}
}

// The shape of OpenZiti's built-in intercept and host config types: a root
// $id, shared $defs reached through oneOf, not and allOf, formats and
// patterns. Such schemas must stay within the bounds.
func TestConfigSchemaOfOpenZitisShape(t *testing.T) {
	schema := `{"$id":"http://example.org/schemas/intercept-like.v1.json","type":"object","additionalProperties":false,
	 "$defs":{
	  "proto":{"type":"string","enum":["tcp","udp"]},
	  "ipFormat":{"oneOf":[{"format":"ipv4"},{"format":"ipv6"}]},
	  "ip":{"type":"string","$ref":"#/$defs/ipFormat"},
	  "host":{"type":"string","format":"hostname","not":{"$ref":"#/$defs/ipFormat"}},
	  "cidr":{"type":"string","pattern":"^[0-9.]+/[0-9]{1,2}$"},
	  "address":{"oneOf":[{"$ref":"#/$defs/ip"},{"$ref":"#/$defs/host"},{"$ref":"#/$defs/cidr"}]},
	  "port":{"type":"integer","minimum":0,"maximum":65535},
	  "range":{"type":"object","additionalProperties":false,"properties":{"low":{"$ref":"#/$defs/port"},"high":{"$ref":"#/$defs/port"}}},
	  "nonEmpty":{"type":"array","minItems":1,"uniqueItems":true}},
	 "properties":{
	  "protocols":{"allOf":[{"$ref":"#/$defs/nonEmpty"},{"items":{"$ref":"#/$defs/proto"}}]},
	  "addresses":{"allOf":[{"$ref":"#/$defs/nonEmpty"},{"items":{"$ref":"#/$defs/address"}}]},
	  "portRanges":{"allOf":[{"$ref":"#/$defs/nonEmpty"},{"items":{"$ref":"#/$defs/range"}}]}},
	 "required":["protocols","addresses","portRanges"]}`
	s, err := CompileSchema([]byte(schema))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Validate([]byte(`{"protocols":["tcp"],"addresses":["web.example.com","10.0.0.0/8"],"portRanges":[{"low":80,"high":443}]}`)); err != nil {
		t.Errorf("valid intercept: %v", err)
	}
	var de *DataError
	if err := s.Validate([]byte(`{"protocols":["icmp"],"addresses":["a.example"],"portRanges":[{"low":80,"high":443}]}`)); !errors.As(err, &de) {
		t.Errorf("unknown protocol: %v", err)
	}
}
