// Package apispec checks HTTP responses against the official OpenZiti Swagger
// 2.0 definitions Garrison vendors and embeds (package rest/specs: client.yml,
// management.yml, fabric.yml).
//
// It is a test aid: Garrison's tests pass every JSON body the server returns
// through [ValidateHTTP] or [Check], and a body that does not fit the schema
// documented for that operation and status code is reported as an error that
// names the operation, the status and the failing field:
//
//	resp, err := httpClient.Get(baseURL + "/edge/client/v1/version")
//	...
//	body, err := apispec.Check(resp) // resp.Body can still be read afterwards
//	if err != nil {
//		t.Error(err)
//	}
//
// or, with the parts at hand, apispec.ValidateHTTP("GET",
// "/edge/client/v1/version", 200, body).
//
// Validation itself is done by the go-openapi libraries
// (github.com/go-openapi/spec and github.com/go-openapi/validate). Each
// definition file is parsed once per process; the schema of each response is
// expanded (all $refs inlined) the first time it is needed and cached.
//
// # Nullability
//
// Swagger 2.0 has no null type. OpenZiti marks fields that may be null with the
// vendor extension x-nullable: true (go-swagger's convention), and real
// responses carry null there. go-openapi/validate ignores x-nullable and, for a
// null value, only checks "type" and "enum", so on load every schema is
// rewritten so that:
//
//   - a schema marked x-nullable (or x-isnullable) accepts null, also when it
//     has an enum, and also when x-nullable sits beside a $ref;
//   - a schema not marked x-nullable rejects null whenever its JSON type is
//     known, including schemas that leave "type" out but whose type follows
//     from their content (properties, items, or allOf members that all
//     resolve to the same type).
//
// A schema that constrains nothing at all ({}) accepts any value, null
// included, as JSON Schema says.
//
// # Deviations from the files
//
// Definitions that contradict their own description and what OpenZiti
// really returns are corrected on load; see [Deviations]. Discriminator
// (polymorphic) subtypes are not dispatched: a value of a polymorphic type is
// checked against the base definition only, as go-openapi does.
package apispec

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"

	oaerrors "github.com/go-openapi/errors"
	"github.com/go-openapi/spec"
	"github.com/go-openapi/strfmt"
	"github.com/go-openapi/swag/yamlutils"
	"github.com/go-openapi/validate"

	"github.com/garrison-ctrl/garrison/rest/specs"
)

// Base paths of the three OpenZiti APIs, as declared by the definition files.
const (
	ClientBasePath     = "/edge/client/v1"
	ManagementBasePath = "/edge/management/v1"
	FabricBasePath     = "/fabric/v1"
)

// Spec is one loaded API definition. It is safe for concurrent use.
type Spec struct {
	// Path is the file the definition was loaded from.
	Path string
	// BasePath is the definition's basePath, e.g. "/edge/client/v1".
	BasePath string

	doc    *spec.Swagger
	routes []*route
	notes  []string

	mu    sync.Mutex
	cache map[respKey]*respSchema
}

type route struct {
	template string
	segs     []segment
	ops      map[string]*spec.Operation // upper-case method -> operation
}

// segment is one '/'-separated piece of a path template: a literal, or a
// template with a literal prefix and suffix around one or more {params}.
type segment struct {
	literal string // when !param
	param   bool
	prefix  string
	suffix  string
}

type respKey struct {
	method, template, code string
}

// respSchema is the expanded schema of one documented response; schema is nil
// when the response documents no body.
type respSchema struct {
	code   string // the status code as documented, or "default"
	schema *spec.Schema
	text   bool // schema is a plain string: the body is text, not JSON

	// v validates against schema. Building a validator deep-copies the
	// schema (most of the cost of a validation), so it is built once and
	// reused; it expands the few recursive $refs left in its copy in place,
	// so it is used by one goroutine at a time.
	mu sync.Mutex
	v  *validate.SchemaValidator
}

func (rs *respSchema) validate(data any) *validate.Result {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	return rs.v.Validate(data)
}

// formats are the string formats checked: go-openapi's defaults plus
// "uri-reference" (RFC 3986 URI or relative reference), used by a deviation.
var formats = func() strfmt.Registry {
	r := strfmt.NewFormats()
	var u strfmt.URI
	r.Add("uri-reference", &u, func(s string) bool {
		_, err := url.Parse(s)
		return err == nil
	})
	return r
}()

// Load reads and prepares one Swagger 2.0 definition file (YAML or JSON).
func Load(path string) (*Spec, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("apispec: %w", err)
	}
	return Parse(path, raw)
}

// Parse prepares one Swagger 2.0 definition (YAML or JSON); path names it in
// errors and in [Spec.Path].
func Parse(path string, raw []byte) (*Spec, error) {
	yd, err := yamlutils.BytesToYAMLDoc(raw)
	if err != nil {
		return nil, fmt.Errorf("apispec: %s: %w", path, err)
	}
	js, err := yamlutils.YAMLToJSON(yd)
	if err != nil {
		return nil, fmt.Errorf("apispec: %s: %w", path, err)
	}
	doc := new(spec.Swagger)
	if err := json.Unmarshal(js, doc); err != nil {
		return nil, fmt.Errorf("apispec: %s: %w", path, err)
	}
	if doc.Swagger != "2.0" {
		return nil, fmt.Errorf("apispec: %s: not a Swagger 2.0 document (swagger: %q)", path, doc.Swagger)
	}
	s := &Spec{
		Path:     path,
		BasePath: strings.TrimSuffix(doc.BasePath, "/"),
		doc:      doc,
		cache:    make(map[respKey]*respSchema),
	}
	s.notes = applyDeviations(doc, path)
	prepareNullability(doc)
	if err := s.buildRoutes(); err != nil {
		return nil, fmt.Errorf("apispec: %s: %w", path, err)
	}
	return s, nil
}

// Notes lists the corrections from [Deviations] that were applied to this
// definition on load.
func (s *Spec) Notes() []string { return append([]string(nil), s.notes...) }

type loaded struct {
	once sync.Once
	spec *Spec
	err  error
}

func (l *loaded) get(file string) (*Spec, error) {
	l.once.Do(func() {
		raw, err := specs.Read(file)
		if err != nil {
			l.err = err
			return
		}
		l.spec, l.err = Parse("specs/"+file, raw)
	})
	return l.spec, l.err
}

var client, management, fabric loaded

// Client returns the Edge Client API definition (the embedded client.yml),
// loading it on first use.
func Client() (*Spec, error) { return client.get("client.yml") }

// Management returns the Edge Management API definition (the embedded
// management.yml), loading it on first use.
func Management() (*Spec, error) { return management.get("management.yml") }

// Fabric returns the Fabric API definition (the embedded fabric.yml), loading
// it on first use.
func Fabric() (*Spec, error) { return fabric.get("fabric.yml") }

var apis = []struct {
	base string
	load func() (*Spec, error)
}{
	{ClientBasePath, Client},
	{ManagementBasePath, Management},
	{FabricBasePath, Fabric},
}

// forURLPath is ForURLPath with the reason when no spec is found.
func forURLPath(urlPath string) (*Spec, string, error) {
	if i := strings.IndexAny(urlPath, "?#"); i >= 0 {
		urlPath = urlPath[:i]
	}
	for _, a := range apis {
		rel, ok := strings.CutPrefix(urlPath, a.base)
		if !ok || (rel != "" && rel[0] != '/') {
			continue
		}
		s, err := a.load()
		if err != nil {
			return nil, "", err
		}
		if s.BasePath != a.base {
			return nil, "", fmt.Errorf("apispec: %s declares basePath %q, want %q", s.Path, s.BasePath, a.base)
		}
		if rel == "" {
			rel = "/"
		}
		return s, rel, nil
	}
	return nil, "", fmt.Errorf("apispec: %s is under none of the base paths %s, %s, %s",
		urlPath, ClientBasePath, ManagementBasePath, FabricBasePath)
}

// ForURLPath picks the spec whose basePath prefixes the request path
// ("/edge/client/v1/version" -> Client) and returns it with the path relative
// to basePath ("/version"; the base path itself gives "/"). ok is false if no
// base path matches, or if the matching definition cannot be loaded.
func ForURLPath(urlPath string) (s *Spec, rel string, ok bool) {
	s, rel, err := forURLPath(urlPath)
	return s, rel, err == nil
}

// ValidateHTTP is the convenience tests call: it takes the full URL path (with
// base path), picks the spec via ForURLPath, and validates the response with
// [Spec.ValidateResponse].
func ValidateHTTP(method, urlPath string, status int, body []byte) error {
	s, rel, err := forURLPath(urlPath)
	if err != nil {
		return err
	}
	return s.ValidateResponse(method, rel, status, body)
}

// Check is for tests: it reads resp.Body fully, restores it (so the caller can
// still decode it), validates, and returns the body bytes and any validation
// error. The operation is taken from resp.Request (method and URL path, with
// base path). Non-JSON content types (e.g. application/pkcs7-mime,
// application/x-pem-file) and operations whose response schema is a plain
// string are validated as a string, not parsed as JSON.
func Check(resp *http.Response) ([]byte, error) {
	if resp == nil {
		return nil, errors.New("apispec: nil response")
	}
	var body []byte
	if resp.Body != nil {
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(b))
		if err != nil {
			return b, fmt.Errorf("apispec: reading response body: %w", err)
		}
		body = b
	}
	if resp.Request == nil || resp.Request.URL == nil {
		return body, errors.New("apispec: response has no Request: cannot tell which operation it answers")
	}
	s, rel, err := forURLPath(resp.Request.URL.Path)
	if err != nil {
		return body, err
	}
	mt := ""
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err = mime.ParseMediaType(ct); err != nil {
			return body, fmt.Errorf("apispec: %s %s: bad Content-Type %q: %w", resp.Request.Method, resp.Request.URL.Path, ct, err)
		}
	}
	method := resp.Request.Method
	if method == "" {
		method = http.MethodGet // as net/http reads an empty Method
	}
	return body, s.validate(method, rel, resp.StatusCode, body, mt)
}

// produces reports whether op (or the whole API) declares that it produces
// the media type mt.
func (s *Spec) produces(op *spec.Operation, mt string) bool {
	list := op.Produces
	if len(list) == 0 {
		list = s.doc.Produces
	}
	for _, p := range list {
		if pt, _, err := mime.ParseMediaType(p); err == nil && strings.EqualFold(pt, mt) {
			return true
		}
	}
	return false
}

func isJSONMediaType(mt string) bool {
	return mt == "application/json" || strings.HasSuffix(mt, "+json")
}

// ValidateResponse finds the operation for (method, path) — path relative to
// basePath, with concrete values matched against templated paths like
// /identities/{id} (literal segments are preferred over templates when both
// match) — takes the response for the status code (falling back to "default"
// if present), resolves $refs (responses may be $ref'd under #/responses), and
// validates body against its schema. Errors name the operation, status and
// the failing field path.
//
// An undocumented status code for that operation is an error. An unknown path
// or method is an error. A documented response without schema requires an
// empty body. A response whose schema is a plain string is checked as text.
func (s *Spec) ValidateResponse(method, path string, status int, body []byte) error {
	return s.validate(method, path, status, body, "")
}

// validate checks a response; mediaType is the response's Content-Type
// without parameters, "" if unknown.
func (s *Spec) validate(method, path string, status int, body []byte, mediaType string) error {
	text := mediaType != "" && !isJSONMediaType(mediaType)
	method = strings.ToUpper(method)
	rt, op, err := s.findOperation(method, path)
	if err != nil {
		return err
	}
	name := fmt.Sprintf("%s %s%s", method, s.BasePath, rt.template)
	if op.ID != "" {
		name += " (" + op.ID + ")"
	}
	rs, err := s.responseSchema(method, rt.template, op, status)
	if err != nil {
		return fmt.Errorf("apispec: %s: %w", name, err)
	}
	where := fmt.Sprintf("%s -> %d", name, status)
	if rs.code == "default" {
		where += " (default response)"
	}
	if rs.schema == nil {
		if text && s.produces(op, mediaType) {
			return nil // a file (e.g. image/png) the definition does not describe
		}
		if len(bytes.TrimSpace(body)) != 0 {
			return fmt.Errorf("apispec: %s: the response documents no body, got %d bytes: %.80q", where, len(body), body)
		}
		return nil
	}
	var data any
	if text || rs.text {
		data = string(body)
	} else {
		if data, err = decodeJSON(body); err != nil {
			return fmt.Errorf("apispec: %s: body is not JSON: %w", where, err)
		}
	}
	res := rs.validate(data)
	if res.HasErrors() {
		return fmt.Errorf("apispec: %s: body does not match the schema:\n%s", where, describe(res.Errors))
	}
	return nil
}

func decodeJSON(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errors.New("empty body")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("trailing data after the JSON value")
	}
	return v, nil
}

// describe renders validation errors one per line. go-openapi names the
// failing field with a dotted path from the body's root ("data.0.name"; array
// items by index); errors about the body itself read "body ...".
func describe(errs []error) string {
	var flat []string
	var walk func(error)
	walk = func(err error) {
		var ce *oaerrors.CompositeError
		if errors.As(err, &ce) && len(ce.Errors) > 0 {
			for _, e := range ce.Errors {
				walk(e)
			}
			return
		}
		msg := err.Error()
		var ve *oaerrors.Validation
		if errors.As(err, &ve) && (ve.Name == "" || ve.Name == ".") {
			msg = "body " + strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(strings.TrimPrefix(msg, ".")), "in body"))
		}
		flat = append(flat, "  "+msg)
	}
	for _, e := range errs {
		walk(e)
	}
	sort.Strings(flat)
	flat = dedupe(flat)
	// "x must validate all the schemas (allOf)" only repeats what the
	// specific errors below it say.
	var specific []string
	for _, l := range flat {
		if !strings.Contains(l, "must validate all the schemas (allOf)") {
			specific = append(specific, l)
		}
	}
	if len(specific) > 0 {
		flat = specific
	}
	const max = 20
	if len(flat) > max {
		flat = append(flat[:max], fmt.Sprintf("  ... and %d more", len(flat)-max))
	}
	return strings.Join(flat, "\n")
}

func dedupe(ss []string) []string {
	out := ss[:0]
	for i, s := range ss {
		if i == 0 || s != ss[i-1] {
			out = append(out, s)
		}
	}
	return out
}

// responseSchema returns the (cached) expanded schema documented for status.
func (s *Spec) responseSchema(method, template string, op *spec.Operation, status int) (*respSchema, error) {
	if op.Responses == nil {
		return nil, errors.New("the operation documents no responses")
	}
	code := strconv.Itoa(status)
	resp, ok := op.Responses.StatusCodeResponses[status]
	if !ok {
		if op.Responses.Default == nil {
			return nil, fmt.Errorf("status %d is not documented (documented: %s)", status, documentedCodes(op))
		}
		resp, code = *op.Responses.Default, "default"
	}
	key := respKey{method, template, code}

	s.mu.Lock()
	defer s.mu.Unlock()
	if rs, ok := s.cache[key]; ok {
		return rs, nil
	}
	for depth := 0; resp.Ref.String() != ""; depth++ {
		if depth > 10 {
			return nil, fmt.Errorf("response %s: $ref chain too long", code)
		}
		r, err := spec.ResolveResponse(s.doc, resp.Ref)
		if err != nil {
			return nil, fmt.Errorf("response %s: resolving %s: %w", code, resp.Ref.String(), err)
		}
		resp = *r
	}
	rs := &respSchema{code: code}
	if resp.Schema != nil {
		sch, err := cloneSchema(resp.Schema)
		if err != nil {
			return nil, fmt.Errorf("response %s: %w", code, err)
		}
		if err := spec.ExpandSchema(sch, s.doc, nil); err != nil {
			return nil, fmt.Errorf("response %s: expanding schema: %w", code, err)
		}
		rs.schema = sch
		rs.text = len(sch.Type) == 1 && sch.Type[0] == "string"
		rs.v = validate.NewSchemaValidator(sch, s.doc, "", formats, validate.WithSkipSchemataResult(true))
	}
	s.cache[key] = rs
	return rs, nil
}

func documentedCodes(op *spec.Operation) string {
	var codes []int
	for c := range op.Responses.StatusCodeResponses {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var ss []string
	for _, c := range codes {
		ss = append(ss, strconv.Itoa(c))
	}
	if len(ss) == 0 {
		return "none"
	}
	return strings.Join(ss, ", ")
}

func cloneSchema(in *spec.Schema) (*spec.Schema, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, err
	}
	out := new(spec.Schema)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Spec) buildRoutes() error {
	if s.doc.Paths == nil {
		return errors.New("no paths")
	}
	for tmpl, item := range s.doc.Paths.Paths {
		rt := &route{template: tmpl, ops: make(map[string]*spec.Operation)}
		for _, p := range splitPath(tmpl) {
			seg := segment{literal: p}
			if i := strings.IndexByte(p, '{'); i >= 0 {
				j := strings.LastIndexByte(p, '}')
				if j < i {
					return fmt.Errorf("path %q: malformed segment %q", tmpl, p)
				}
				seg = segment{param: true, prefix: p[:i], suffix: p[j+1:]}
			}
			rt.segs = append(rt.segs, seg)
		}
		for m, op := range map[string]*spec.Operation{
			http.MethodGet: item.Get, http.MethodPut: item.Put, http.MethodPost: item.Post,
			http.MethodDelete: item.Delete, http.MethodOptions: item.Options,
			http.MethodHead: item.Head, http.MethodPatch: item.Patch,
		} {
			if op != nil {
				rt.ops[m] = op
			}
		}
		s.routes = append(s.routes, rt)
	}
	sort.Slice(s.routes, func(i, j int) bool { return s.routes[i].template < s.routes[j].template })
	return nil
}

func splitPath(p string) []string {
	p = strings.TrimPrefix(p, "/")
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// match reports whether the concrete path segments fit the route, and a
// rank: per segment 2 for a literal, 1 for a template with literal text
// around its {param}, 0 for a bare {param}; comparing ranks lexicographically
// prefers literals at the first segment where two matching routes differ.
func (rt *route) match(parts []string) ([]int, bool) {
	if len(parts) != len(rt.segs) {
		return nil, false
	}
	rank := make([]int, len(parts))
	for i, seg := range rt.segs {
		p := parts[i]
		if !seg.param {
			if p != seg.literal {
				return nil, false
			}
			rank[i] = 2
			continue
		}
		if len(p) <= len(seg.prefix)+len(seg.suffix) || !strings.HasPrefix(p, seg.prefix) || !strings.HasSuffix(p, seg.suffix) {
			return nil, false
		}
		if seg.prefix != "" || seg.suffix != "" {
			rank[i] = 1
		}
	}
	return rank, true
}

func better(a, b []int) bool {
	for i := range a {
		if a[i] != b[i] {
			return a[i] > b[i]
		}
	}
	return false
}

// findOperation matches path (relative to basePath) against the templates.
func (s *Spec) findOperation(method, path string) (*route, *spec.Operation, error) {
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if path == "" {
		path = "/"
	}
	parts := splitPath(path)
	var best *route
	var bestRank []int
	// pathOnly is the best route for the path whatever the method, for the
	// error message. Like go-openapi's router (one tree per method), a
	// template that lacks the method does not shadow one that has it.
	var pathOnly *route
	var pathOnlyRank []int
	for _, rt := range s.routes {
		rank, ok := rt.match(parts)
		if !ok {
			continue
		}
		if pathOnly == nil || better(rank, pathOnlyRank) {
			pathOnly, pathOnlyRank = rt, rank
		}
		if _, ok := rt.ops[method]; !ok {
			continue
		}
		if best == nil || better(rank, bestRank) {
			best, bestRank = rt, rank
		}
	}
	if best == nil {
		if pathOnly != nil {
			var ms []string
			for m := range pathOnly.ops {
				ms = append(ms, m)
			}
			sort.Strings(ms)
			return nil, nil, fmt.Errorf("apispec: %s %s%s: method not documented for %s (documented: %s)",
				method, s.BasePath, path, pathOnly.template, strings.Join(ms, ", "))
		}
		return nil, nil, fmt.Errorf("apispec: %s %s%s: no such path in %s", method, s.BasePath, path, filepath.Base(s.Path))
	}
	return best, best.ops[method], nil
}

// Operation reports the operationId the definition documents for method on
// path (relative to the base path; "{id}" or a concrete value both match a
// template), or an error saying what is missing.
func (s *Spec) Operation(method, path string) (string, error) {
	_, op, err := s.findOperation(strings.ToUpper(method), path)
	if err != nil {
		return "", err
	}
	return op.ID, nil
}

// OperationRef is one documented operation: its method, path template
// (relative to the base path) and operationId.
type OperationRef struct {
	Method, Path, ID string
}

// Operations lists every operation the definition documents, by path
// template and method.
func (s *Spec) Operations() []OperationRef {
	var out []OperationRef
	for _, rt := range s.routes {
		for m, op := range rt.ops {
			out = append(out, OperationRef{Method: m, Path: rt.template, ID: op.ID})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Path != out[j].Path {
			return out[i].Path < out[j].Path
		}
		return out[i].Method < out[j].Method
	})
	return out
}
