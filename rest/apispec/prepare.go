package apispec

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/go-openapi/spec"
)

// walkSchemas calls fn on every schema written in doc's definitions,
// responses, parameters and operations (not following $refs), parents
// before children. fn may rewrite the schema in place.
func walkSchemas(doc *spec.Swagger, fn func(*spec.Schema)) {
	var walk func(*spec.Schema)
	walkMap := func(m map[string]spec.Schema) {
		for k, v := range m {
			walk(&v)
			m[k] = v
		}
	}
	walkSlice := func(ss []spec.Schema) {
		for i := range ss {
			walk(&ss[i])
		}
	}
	walk = func(s *spec.Schema) {
		if s == nil {
			return
		}
		fn(s)
		walkMap(s.Properties)
		walkMap(s.PatternProperties)
		walkMap(s.Definitions)
		walkSlice(s.AllOf)
		walkSlice(s.AnyOf)
		walkSlice(s.OneOf)
		walk(s.Not)
		if s.Items != nil {
			walk(s.Items.Schema)
			walkSlice(s.Items.Schemas)
		}
		if s.AdditionalProperties != nil {
			walk(s.AdditionalProperties.Schema)
		}
		if s.AdditionalItems != nil {
			walk(s.AdditionalItems.Schema)
		}
		for k, d := range s.Dependencies {
			walk(d.Schema)
			s.Dependencies[k] = d
		}
	}
	walkResponse := func(r *spec.Response) {
		if r != nil {
			walk(r.Schema)
		}
	}
	walkParams := func(ps []spec.Parameter) {
		for i := range ps {
			walk(ps[i].Schema)
		}
	}
	walkMap(doc.Definitions)
	for k, r := range doc.Responses {
		walkResponse(&r)
		doc.Responses[k] = r
	}
	for k, p := range doc.Parameters {
		walk(p.Schema)
		doc.Parameters[k] = p
	}
	if doc.Paths == nil {
		return
	}
	for _, item := range doc.Paths.Paths {
		walkParams(item.Parameters)
		for _, op := range []*spec.Operation{item.Get, item.Put, item.Post, item.Delete, item.Options, item.Head, item.Patch} {
			if op == nil {
				continue
			}
			walkParams(op.Parameters)
			if op.Responses == nil {
				continue
			}
			walkResponse(op.Responses.Default)
			for c, r := range op.Responses.StatusCodeResponses {
				walkResponse(&r)
				op.Responses.StatusCodeResponses[c] = r
			}
		}
	}
}

// isXNullable reports whether s carries x-nullable: true (or go-swagger's
// older spelling x-isnullable).
func isXNullable(s *spec.Schema) bool {
	for _, k := range []string{"x-nullable", "x-isnullable"} {
		if v, ok := s.Extensions.GetBool(k); ok && v {
			return true
		}
	}
	return false
}

// typer infers the JSON type of schemas that leave "type" out.
type typer struct {
	defs  spec.Definitions
	memo  map[string]string
	doing map[string]bool
}

func newTyper(doc *spec.Swagger) *typer {
	return &typer{defs: doc.Definitions, memo: map[string]string{}, doing: map[string]bool{}}
}

// definitionName returns X for a local "#/definitions/X" reference.
func definitionName(ref string) (string, bool) {
	name, ok := strings.CutPrefix(ref, "#/definitions/")
	if !ok || strings.Contains(name, "/") {
		return "", false
	}
	return strings.NewReplacer("~1", "/", "~0", "~").Replace(name), true
}

func (t *typer) refType(ref string) string {
	name, ok := definitionName(ref)
	if !ok {
		return ""
	}
	if v, ok := t.memo[name]; ok {
		return v
	}
	if t.doing[name] {
		return ""
	}
	d, ok := t.defs[name]
	if !ok {
		return ""
	}
	t.doing[name] = true
	v := t.typeOf(&d)
	delete(t.doing, name)
	t.memo[name] = v
	return v
}

// typeOf returns the single JSON type that every value valid against s has,
// or "" if there is none (s accepts several types, or anything).
func (t *typer) typeOf(s *spec.Schema) string {
	switch {
	case len(s.Type) == 1:
		return s.Type[0]
	case len(s.Type) > 1:
		return ""
	case s.Ref.String() != "":
		return t.refType(s.Ref.String())
	case len(s.Properties) > 0, s.AdditionalProperties != nil, len(s.PatternProperties) > 0,
		len(s.Required) > 0, s.MinProperties != nil, s.MaxProperties != nil, s.Discriminator != "":
		return "object"
	case s.Items != nil:
		return "array"
	}
	found := ""
	for i := range s.AllOf {
		mt := t.typeOf(&s.AllOf[i])
		if mt == "" {
			continue // a member that accepts anything does not narrow the type
		}
		if found != "" && found != mt {
			return ""
		}
		found = mt
	}
	return found
}

// prepareNullability rewrites every schema so that go-openapi/validate accepts
// null exactly where the definition says x-nullable: true (see the package
// documentation). It must run before any $ref is expanded.
func prepareNullability(doc *spec.Swagger) {
	ty := newTyper(doc)
	walkSchemas(doc, func(s *spec.Schema) {
		nullable := isXNullable(s)
		if s.Ref.String() != "" {
			// Swagger ignores siblings of $ref, but go-swagger honours
			// x-nullable beside a $ref: keep it by wrapping the $ref.
			if nullable {
				wrapped := spec.Schema{VendorExtensible: s.VendorExtensible}
				wrapped.Description = s.Description
				wrapped.AllOf = []spec.Schema{{SchemaProps: spec.SchemaProps{Ref: s.Ref}}}
				wrapped.Nullable = true
				if typ := ty.refType(s.Ref.String()); typ != "" {
					wrapped.Type = spec.StringOrArray{typ}
				}
				*s = wrapped
			}
			return
		}
		// "nullable" is not a Swagger 2.0 keyword: only x-nullable counts.
		s.Nullable = nullable
		if nullable && len(s.Enum) > 0 {
			// validate checks enum against null too; only the other keywords
			// are skipped for null, so move the enum into an allOf member.
			s.AllOf = append(s.AllOf, spec.Schema{SchemaProps: spec.SchemaProps{Enum: s.Enum}})
			s.Enum = nil
		}
		if len(s.Type) == 0 {
			// validate checks only type (and enum) for null: a typeless
			// schema would accept null whatever x-nullable says.
			if typ := ty.typeOf(s); typ != "" {
				s.Type = spec.StringOrArray{typ}
			}
		}
	})
}

// deviation is a correction applied on load to a definition, or to the
// schema of one GET's 200 answer, that contradicts its own description and
// what OpenZiti controllers really return.
type deviation struct {
	file       string // base name of the definition file, "" for any
	definition string // the definition corrected, or
	response   string // the path whose GET 200 schema is corrected
	reason     string
	// applies reports whether the definition still reads as expected (so a
	// fixed upstream file is left alone).
	applies func(*spec.Schema) bool
	fix     func(*spec.Schema)
}

var deviations = []deviation{
	{
		definition: "subTags",
		reason: "subTags declares additionalProperties {type: object}, but tags values are " +
			"strings, booleans or null (as the tags description says and OpenZiti returns, e.g. " +
			`{"owner": "ops"}` + "); values are accepted if string, boolean or null",
		applies: func(s *spec.Schema) bool {
			ap := s.AdditionalProperties
			return ap != nil && ap.Schema != nil && len(ap.Schema.Type) == 1 && ap.Schema.Type[0] == "object" &&
				len(ap.Schema.Properties) == 0
		},
		fix: func(s *spec.Schema) {
			v := new(spec.Schema)
			v.Type = spec.StringOrArray{"string", "boolean"}
			v.AddExtension("x-nullable", true)
			s.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: v}
		},
	},
	{
		definition: "link",
		reason: "link.href is declared format: uri, but OpenZiti links are relative references " +
			`(e.g. "./identities/<id>", as in the files' own examples); href is checked as a uri-reference`,
		applies: func(s *spec.Schema) bool {
			h, ok := s.Properties["href"]
			return ok && h.Format == "uri"
		},
		fix: func(s *spec.Schema) {
			h := s.Properties["href"]
			h.Format = "uri-reference"
			s.Properties["href"] = h
		},
	},
	{
		definition: "serviceDetail",
		reason: "serviceDetail.config declares each config's values {type: object}, but they are " +
			"the config's data, any JSON (" + `{"host.v1": {"port": 8443}}` + "), as the description " +
			"says, OpenZiti returns and the generated clients decode (map[string]interface{}); " +
			"the values are accepted as any JSON",
		applies: func(s *spec.Schema) bool { return serviceConfigSchema(s) != nil },
		fix: func(s *spec.Schema) {
			inner := serviceConfigSchema(s)
			inner.AdditionalProperties = &spec.SchemaOrBool{Allows: true, Schema: new(spec.Schema)}
		},
	},
	{
		file:     "management.yml",
		response: "/edge-routers/{id}/service-edge-router-policies",
		reason: "the service edge router policies of an edge router are declared a " +
			"listServicePoliciesEnvelope (service policies do not name edge routers); they are " +
			"service edge router policies, as the path says and OpenZiti returns, and are checked " +
			"as a listServiceEdgeRouterPoliciesEnvelope",
		applies: func(s *spec.Schema) bool { return s.Ref.String() == "#/definitions/listServicePoliciesEnvelope" },
		fix: func(s *spec.Schema) {
			s.Ref = spec.MustCreateRef("#/definitions/listServiceEdgeRouterPoliciesEnvelope")
		},
	},
}

// where names what d corrects.
func (d deviation) where() string {
	if d.response != "" {
		return "GET " + d.response + " 200"
	}
	return "#/definitions/" + d.definition
}

// serviceConfigSchema is the schema of one config in serviceDetail.config
// (a map of config type name to config data) when it declares its values
// as objects, nil otherwise.
func serviceConfigSchema(s *spec.Schema) *spec.Schema {
	for i := range s.AllOf {
		cfg, ok := s.AllOf[i].Properties["config"]
		if !ok || cfg.AdditionalProperties == nil || cfg.AdditionalProperties.Schema == nil {
			continue
		}
		inner := cfg.AdditionalProperties.Schema
		if ap := inner.AdditionalProperties; ap != nil && ap.Schema != nil && len(ap.Schema.Type) == 1 && ap.Schema.Type[0] == "object" {
			// The map in s.AllOf[i].Properties holds copies: write back.
			s.AllOf[i].Properties["config"] = cfg
			return s.AllOf[i].Properties["config"].AdditionalProperties.Schema
		}
	}
	return nil
}

// Deviations describes the corrections applied on load to definitions that
// contradict what OpenZiti really returns.
func Deviations() []string {
	var out []string
	for _, d := range deviations {
		f := d.file
		if f == "" {
			f = "*"
		}
		out = append(out, fmt.Sprintf("%s %s: %s", f, d.where(), d.reason))
	}
	return out
}

func applyDeviationsTo(doc *spec.Swagger, file string) []string {
	var notes []string
	for _, d := range deviations {
		if d.file != "" && d.file != file {
			continue
		}
		if d.response != "" {
			if r := getOK(doc, d.response); r != nil && r.Schema != nil && d.applies(r.Schema) {
				d.fix(r.Schema)
				notes = append(notes, d.where()+": "+d.reason)
			}
			continue
		}
		s, ok := doc.Definitions[d.definition]
		if !ok || !d.applies(&s) {
			continue
		}
		d.fix(&s)
		doc.Definitions[d.definition] = s
		notes = append(notes, d.where()+": "+d.reason)
	}
	return notes
}

func applyDeviations(doc *spec.Swagger, path string) []string {
	return applyDeviationsTo(doc, filepath.Base(path))
}

// getOK is the 200 answer of path's GET in doc, nil if it has none.
func getOK(doc *spec.Swagger, path string) *spec.Response {
	if doc.Paths == nil {
		return nil
	}
	item, ok := doc.Paths.Paths[path]
	if !ok || item.Get == nil || item.Get.Responses == nil {
		return nil
	}
	r, ok := item.Get.Responses.StatusCodeResponses[200]
	if !ok {
		return nil
	}
	return &r
}
