package apispec

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/rest/specs"
)

// mustPass fails the test if err is not nil.
func mustPass(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("expected the body to validate, got:\n%v", err)
	}
}

// mustFail fails the test unless err is an error whose text contains every
// one of wants.
func mustFail(t *testing.T, err error, wants ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("expected a validation error mentioning %q, got none", wants)
	}
	for _, w := range wants {
		if !strings.Contains(err.Error(), w) {
			t.Fatalf("error does not mention %q:\n%v", w, err)
		}
	}
	t.Logf("got the expected error:\n%v", err)
}

const versionBody = `{
  "data": {
    "apiVersions": {
      "edge": {"v1": {"apiBaseUrls": ["https://127.0.0.1:1280/edge/client/v1"], "path": "/edge/client/v1", "version": "0.26.0"}},
      "edge-client": {"v1": {"apiBaseUrls": ["https://127.0.0.1:1280/edge/client/v1"], "path": "/edge/client/v1", "version": "0.26.0"}}
    },
    "buildDate": "2025-01-01T00:00:00Z",
    "capabilities": ["HA_CONTROLLER"],
    "revision": "0123abcd",
    "runtimeVersion": "go1.26.8",
    "version": "v1.0.0"
  },
  "meta": {}
}`

func TestEmbeddedDefinitions(t *testing.T) {
	for _, d := range specs.Definitions() {
		raw, err := specs.Read(d.File)
		if err != nil {
			t.Fatal(err)
		}
		s, err := Parse(d.File, raw)
		if err != nil {
			t.Fatal(err)
		}
		if s.BasePath != d.BasePath {
			t.Errorf("%s: basePath %q, want %q", d.File, s.BasePath, d.BasePath)
		}
	}
}

func TestForURLPath(t *testing.T) {
	for _, tc := range []struct {
		in, base, rel string
		ok            bool
	}{
		{"/edge/client/v1/version", ClientBasePath, "/version", true},
		{"/edge/client/v1", ClientBasePath, "/", true},
		{"/edge/client/v1?x=1", ClientBasePath, "/", true},
		{"/edge/management/v1/identities/abc", ManagementBasePath, "/identities/abc", true},
		{"/fabric/v1/cluster/list-members", FabricBasePath, "/cluster/list-members", true},
		{"/edge/client/v10/version", "", "", false},
		{"/nothing/here", "", "", false},
	} {
		s, rel, ok := ForURLPath(tc.in)
		if ok != tc.ok || rel != tc.rel || (ok && s.BasePath != tc.base) {
			t.Errorf("ForURLPath(%q) = %v, %q, %v; want base %q, %q, %v", tc.in, s, rel, ok, tc.base, tc.rel, tc.ok)
		}
	}
}

func TestVersion(t *testing.T) {
	const p = "/edge/client/v1/version"
	mustPass(t, ValidateHTTP("GET", p, 200, []byte(versionBody)))
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": {"apiVersions": "x"}, "meta": {}}`)),
		"GET /edge/client/v1/version (listVersion)", "200", "data.apiVersions", "type object")
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": {"version": "v1"}}`)),
		"listVersion", "meta", "required")
	// Nested: apiVersion requires "path".
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": {"apiVersions": {"edge": {"v1": {"version": "1"}}}}, "meta": {}}`)),
		"data.apiVersions.edge.v1.path")
	// data is not x-nullable.
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": null, "meta": {}}`)), "data", "null")
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`[]`)), "type object")
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": {}, "meta": {}} trailing`)), "not JSON")
	mustFail(t, ValidateHTTP("GET", p, 200, nil), "not JSON")
	// The root path is documented too.
	mustPass(t, ValidateHTTP("GET", "/edge/client/v1", 200, []byte(versionBody)))
	mustPass(t, ValidateHTTP("GET", "/edge/client/v1/", 200, []byte(versionBody)))
}

const unauthorizedBody = `{
  "error": {
    "code": "UNAUTHORIZED",
    "message": "The request could not be completed. The session is not authorized or the credentials are invalid",
    "requestId": "3aeb7bf1-3f5e-4b0f-8f5a-6f3b0b3f6d2e"
  },
  "meta": {"apiEnrollmentVersion": "0.0.1", "apiVersion": "0.0.1"}
}`

func TestAuthenticateErrors(t *testing.T) {
	const p = "/edge/client/v1/authenticate"
	mustPass(t, ValidateHTTP("POST", p, 401, []byte(unauthorizedBody)))
	mustPass(t, ValidateHTTP("post", p+"?method=password", 401, []byte(unauthorizedBody)))
	mustFail(t, ValidateHTTP("POST", p, 418, []byte(unauthorizedBody)),
		"POST /edge/client/v1/authenticate (authenticate)", "status 418 is not documented", "401")
	mustFail(t, ValidateHTTP("POST", p, 401, []byte(`{"meta": {}}`)), "authenticate", "401", "error", "required")
	mustFail(t, ValidateHTTP("POST", p, 401, []byte(`{"error": {"code": 401}, "meta": {}}`)), "error.code", "type string")
	// The definition's own examples put "cause": null / "cause": "" in error
	// envelopes, but apiErrorCause is an object and not x-nullable.
	mustFail(t, ValidateHTTP("POST", p, 401, []byte(`{"error": {"code": "UNAUTHORIZED", "cause": null}, "meta": {}}`)), "error.cause")
	mustFail(t, ValidateHTTP("POST", p, 401, []byte(`{"error": {"code": "UNAUTHORIZED", "cause": ""}, "meta": {}}`)), "error.cause")
	// apiErrorCause is recursive (allOf apiFieldError + apiError): the
	// nested $ref is resolved at validation time.
	nested := `{"error": {"code": "COULD_NOT_VALIDATE", "cause": {"field": "username", "reason": "required",
		"cause": {"code": 7}}}, "meta": {}}`
	mustFail(t, ValidateHTTP("POST", p, 400, []byte(nested)), "error.cause.cause.code", "type string")
}

func TestIdentityTemplate(t *testing.T) {
	s, err := Management()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ method, path, template, opID string }{
		{"GET", "/identities/abc", "/identities/{id}", "detailIdentity"},
		{"GET", "/identities", "/identities", "listIdentities"},
		{"GET", "/identities/abc/edge-routers", "/identities/{id}/edge-routers", "listIdentityEdgeRouters"},
		{"DELETE", "/identities/abc", "/identities/{id}", "deleteIdentity"},
	} {
		rt, op, err := s.findOperation(tc.method, tc.path)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		if rt.template != tc.template || op.ID != tc.opID {
			t.Errorf("%s %s matched %s (%s), want %s (%s)", tc.method, tc.path, rt.template, op.ID, tc.template, tc.opID)
		}
	}
	notFound := `{"error": {"args": {"urlVars": {"id": "abc"}}, "code": "NOT_FOUND",
		"message": "The resource requested was not found or is no longer available", "requestId": "r1"},
		"meta": {"apiEnrollmentVersion": "0.0.1", "apiVersion": "0.0.1"}}`
	mustPass(t, ValidateHTTP("GET", "/edge/management/v1/identities/abc", 404, []byte(notFound)))
	mustFail(t, ValidateHTTP("GET", "/edge/management/v1/identities/abc", 200, []byte(`{"data": {}, "meta": {}}`)),
		"GET /edge/management/v1/identities/{id} (detailIdentity)", "200", "data.id", "required")
}

const controllerItem = `{
  "id": "ctrl1",
  "createdAt": "2025-01-01T00:00:00.000Z",
  "updatedAt": "2025-01-01T00:00:00.000Z",
  "_links": {"self": {"href": "./controllers/ctrl1"}},
  "tags": {},
  "name": "ctrl1",
  "certPem": "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
  "fingerprint": "0123456789abcdef",
  "isOnline": true,
  "lastJoinedAt": "2025-01-01T00:00:00.000Z",
  "apiAddresses": {"edge-client": [{"url": "https://127.0.0.1:1280/edge/client/v1", "version": "v1"}]},
  "ctrlAddress": "tls:127.0.0.1:6262"
}`

// controllers returns a listControllersEnvelope body whose single item is
// controllerItem with the given fields replaced by raw JSON ("" removes the
// field).
func controllers(t testing.TB, replace map[string]string) []byte {
	t.Helper()
	var item map[string]json.RawMessage
	if err := json.Unmarshal([]byte(controllerItem), &item); err != nil {
		t.Fatal(err)
	}
	for k, v := range replace {
		if _, ok := item[k]; !ok {
			t.Fatalf("no field %s", k)
		}
		if v == "" {
			delete(item, k)
		} else {
			item[k] = json.RawMessage(v)
		}
	}
	b, err := json.Marshal(map[string]any{
		"data": []any{item},
		"meta": map[string]any{"pagination": map[string]int{"limit": 10, "offset": 0, "totalCount": 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestControllersNullable(t *testing.T) {
	const p = "/edge/client/v1/controllers"
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, nil)))
	// ctrlAddress is x-nullable.
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"ctrlAddress": "null"})))
	// name is not.
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"name": "null"})),
		"GET /edge/client/v1/controllers (listControllers)", "200", "data.0.name", "null")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"isOnline": "null"})), "data.0.isOnline")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"name": ""})), "data.0.name", "required")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"ctrlAddress": "7"})), "data.0.ctrlAddress", "type string")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"lastJoinedAt": `"yesterday"`})), "data.0.lastJoinedAt", "date-time")
	// tags is x-nullable in its definition (reached through a $ref).
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": "null"})))
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": `{"owner": "ops", "prod": true, "x": null}`})))
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": `"owner=ops"`})), "data.0.tags")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": `{"owner": {"team": "ops"}}`})), "data.0.tags.owner")
	// _links is not nullable; link.href is required.
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"_links": "null"})), "data.0._links")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"_links": `{"self": {}}`})), "data.0._links.self.href")
	// an array item that is null: controllerDetail is not nullable.
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": [null], "meta": {}}`)), "data.0")
	// pagination numbers must be numbers.
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(`{"data": [], "meta": {"pagination": {"limit": "10", "offset": 0, "totalCount": 0}}}`)),
		"meta.pagination.limit")
}

const listMembers = `{"data":[{"id":"n1","address":"tls:127.0.0.1:1","voter":true,"leader":true,"version":"v0","connected":true,"readOnly":false}]}`

func TestFabricListMembers(t *testing.T) {
	const p = "/fabric/v1/cluster/list-members"
	mustPass(t, ValidateHTTP("GET", p, 200, []byte(listMembers)))
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(strings.Replace(listMembers, `"voter":true`, `"voter":"true"`, 1))),
		"GET /fabric/v1/cluster/list-members (clusterListMembers)", "200", "data.0.voter", "type boolean")
	mustFail(t, ValidateHTTP("GET", p, 200, []byte(strings.Replace(listMembers, `"readOnly":false`, `"ro":false`, 1))),
		"data.0.readOnly", "required")
	// Errors are $ref'd under #/responses in fabric.yml.
	mustPass(t, ValidateHTTP("GET", p, 401, []byte(unauthorizedBody)))
	mustFail(t, ValidateHTTP("GET", p, 401, []byte(`{"error": "nope"}`)), "clusterListMembers", "401", "error")
	mustFail(t, ValidateHTTP("GET", p, 503, []byte(unauthorizedBody)), "status 503 is not documented")
}

func TestUnknown(t *testing.T) {
	mustFail(t, ValidateHTTP("GET", "/edge/client/v1/no-such-thing", 200, []byte(`{}`)), "no such path")
	mustFail(t, ValidateHTTP("GET", "/edge/client/v1/version/extra", 200, []byte(`{}`)), "no such path")
	mustFail(t, ValidateHTTP("GET", "/nothing/here", 200, []byte(`{}`)), "none of the base paths")
	mustFail(t, ValidateHTTP("DELETE", "/edge/client/v1/version", 200, []byte(versionBody)),
		"method not documented", "GET")
	mustFail(t, ValidateHTTP("GET", "/edge/management/v1/identities/", 200, []byte(`{}`)), "no such path")
}

func newResponse(method, url, contentType string, status int, body string) *http.Response {
	rec := httptest.NewRecorder()
	if contentType != "" {
		rec.Header().Set("Content-Type", contentType)
	}
	rec.WriteHeader(status)
	_, _ = io.WriteString(rec, body)
	resp := rec.Result()
	resp.Request = httptest.NewRequest(method, url, nil)
	return resp
}

func TestCheck(t *testing.T) {
	resp := newResponse("GET", "https://127.0.0.1:1280/edge/client/v1/version", "application/json; charset=utf-8", 200, versionBody)
	body, err := Check(resp)
	mustPass(t, err)
	if string(body) != versionBody {
		t.Fatalf("Check returned %q", body)
	}
	again, _ := io.ReadAll(resp.Body)
	if string(again) != versionBody {
		t.Fatalf("body not restored: %q", again)
	}

	_, err = Check(newResponse("GET", "/edge/client/v1/version", "application/json", 200, `{"data": {"apiVersions": "x"}, "meta": {}}`))
	mustFail(t, err, "data.apiVersions")

	// Non-JSON content: validated as a string.
	pkcs7 := "MIIMUQYJKoZIhvcNAQcCoIIMQjCCDD4CAQExADALBgkqhkiG9w0BBwGgggwkMIIG\n"
	_, err = Check(newResponse("GET", "/edge/client/v1/.well-known/est/cacerts", "application/pkcs7-mime", 200, pkcs7))
	mustPass(t, err)
	_, err = Check(newResponse("GET", "/edge/management/v1/cas/ca1/jwt", "application/jwt", 200, "eyJhbGciOiJFUzI1NiJ9.e30.sig"))
	mustPass(t, err)
	// A plain-string schema is text even without a Content-Type.
	mustPass(t, ValidateHTTP("GET", "/edge/client/v1/.well-known/est/cacerts", 200, []byte(pkcs7)))
	// A non-JSON body where an object is documented fails.
	_, err = Check(newResponse("GET", "/edge/client/v1/version", "text/plain", 200, "v1.0.0"))
	mustFail(t, err, "type object")
	// A documented response without schema: a produced file type is accepted,
	// anything else must be empty.
	_, err = Check(newResponse("GET", "/edge/client/v1/current-identity/mfa/qr-code", "image/png", 200, "\x89PNG\r\n\x1a\n"))
	mustPass(t, err)
	_, err = Check(newResponse("GET", "/edge/client/v1/current-identity/mfa/qr-code", "", 404, ""))
	mustPass(t, err)
	_, err = Check(newResponse("GET", "/edge/client/v1/current-identity/mfa/qr-code", "application/json", 404, unauthorizedBody))
	mustFail(t, err, "detailMfaQrCode", "404", "documents no body")

	// No request: cannot tell the operation.
	r := newResponse("GET", "/edge/client/v1/version", "application/json", 200, versionBody)
	r.Request = nil
	_, err = Check(r)
	mustFail(t, err, "no Request")
}

// syntheticSpec exercises the corner cases on a small definition.
const syntheticSpec = `
swagger: "2.0"
info: {title: t, version: "1"}
basePath: /api/v1
paths:
  /things/self:
    get:
      operationId: selfThing
      responses:
        "200": {description: ok, schema: {$ref: '#/definitions/self'}}
  /things/{id}:
    get:
      operationId: detailThing
      responses:
        "200": {description: ok, schema: {$ref: '#/definitions/thing'}}
        "204": {description: no content}
        default: {$ref: '#/responses/err'}
  /things/{id}/token:
    get:
      operationId: thingToken
      produces: [text/plain]
      responses:
        "200": {description: ok, schema: {type: string, minLength: 3}}
responses:
  err:
    description: error
    schema: {$ref: '#/definitions/err'}
definitions:
  self:
    type: object
    required: [self]
    properties: {self: {type: boolean}}
  err:
    required: [code]
    properties: {code: {type: string}}
  base:
    type: object
    properties: {id: {type: string}}
  color:
    type: string
    enum: [red, green]
  thing:
    allOf:
      - $ref: '#/definitions/base'
      - properties:
          owner: {$ref: '#/definitions/base', x-nullable: true}
          color: {$ref: '#/definitions/color'}
          shade: {type: string, enum: [light, dark], x-nullable: true}
          note: {type: string, x-nullable: true}
          parent: {$ref: '#/definitions/base'}
          nested: {allOf: [{$ref: '#/definitions/base'}]}
          anything: {description: any value}
          oldStyle: {type: string, nullable: true}
`

func loadSynthetic(t *testing.T) *Spec {
	t.Helper()
	p := filepath.Join(t.TempDir(), "synthetic.yml")
	if err := os.WriteFile(p, []byte(syntheticSpec), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSynthetic(t *testing.T) {
	s := loadSynthetic(t)
	// Literal segments win over templates, whatever the order.
	mustPass(t, s.ValidateResponse("GET", "/things/self", 200, []byte(`{"self": true}`)))
	mustFail(t, s.ValidateResponse("GET", "/things/self", 200, []byte(`{"id": "self"}`)), "selfThing", "self", "required")
	mustPass(t, s.ValidateResponse("GET", "/things/t1", 200, []byte(`{"id": "t1"}`)))

	ok := []string{
		`{"id": "t1", "owner": null}`,
		`{"id": "t1", "owner": {"id": "o"}}`,
		`{"id": "t1", "shade": null}`,
		`{"id": "t1", "shade": "dark"}`,
		`{"id": "t1", "note": null}`,
		`{"id": "t1", "color": "red"}`,
		`{"id": "t1", "anything": null}`,
		`{"id": "t1", "anything": [1, "x"]}`,
	}
	for _, b := range ok {
		mustPass(t, s.ValidateResponse("GET", "/things/t1", 200, []byte(b)))
	}
	bad := map[string]string{
		`{"id": "t1", "owner": {"id": 7}}`:  "owner.id",
		`{"id": "t1", "shade": "pink"}`:     "shade",
		`{"id": "t1", "color": null}`:       "color",
		`{"id": "t1", "color": "pink"}`:     "color",
		`{"id": "t1", "parent": null}`:      "parent",
		`{"id": "t1", "nested": null}`:      "nested",
		`{"id": "t1", "nested": "x"}`:       "nested",
		`{"id": "t1", "oldStyle": null}`:    "oldStyle",
		`{"id": null}`:                      "id",
		`null`:                              "type object",
		`"t1"`:                              "type object",
		`{"id": "t1", "owner": {"id": []}}`: "owner.id",
	}
	for b, want := range bad {
		mustFail(t, s.ValidateResponse("GET", "/things/t1", 200, []byte(b)), "detailThing", want)
	}
	// default response, $ref'd under #/responses; err has no "type" but
	// is an object by its properties.
	mustPass(t, s.ValidateResponse("GET", "/things/t1", 500, []byte(`{"code": "BOOM"}`)))
	mustFail(t, s.ValidateResponse("GET", "/things/t1", 500, []byte(`{}`)), "(default response)", "code")
	mustFail(t, s.ValidateResponse("GET", "/things/t1", 500, []byte(`"BOOM"`)), "type object")
	// documented without schema: empty body only.
	mustPass(t, s.ValidateResponse("GET", "/things/t1", 204, nil))
	mustFail(t, s.ValidateResponse("GET", "/things/t1", 204, []byte(`{}`)), "documents no body")
	// string schema: the body is text.
	mustPass(t, s.ValidateResponse("GET", "/things/t1/token", 200, []byte("abcdef")))
	mustFail(t, s.ValidateResponse("GET", "/things/t1/token", 200, []byte("ab")), "thingToken", "at least 3 chars")
	// an undocumented status without default.
	mustFail(t, s.ValidateResponse("GET", "/things/self", 404, nil), "status 404 is not documented")
}

// TestReusedValidator checks that the cached validator of a response keeps
// no state between bodies, also through the recursive apiErrorCause.
func TestReusedValidator(t *testing.T) {
	const p = "/edge/client/v1/authenticate"
	deep := func(depth int, leaf string) []byte {
		cause := `{"code": ` + leaf + `}`
		for i := 0; i < depth; i++ {
			cause = `{"field": "f", "cause": ` + cause + `}`
		}
		return []byte(`{"error": {"code": "X", "cause": ` + cause + `}, "meta": {}}`)
	}
	for i := 0; i < 3; i++ {
		mustPass(t, ValidateHTTP("POST", p, 400, deep(4, `"OK"`)))
		mustFail(t, ValidateHTTP("POST", p, 400, deep(2, `7`)), "error.cause.cause.cause.code")
		mustPass(t, ValidateHTTP("POST", p, 400, deep(1, `"OK"`)))
		mustFail(t, ValidateHTTP("POST", p, 400, deep(6, `false`)), "error.cause.cause.cause.cause.cause.cause.cause.code")
		mustPass(t, ValidateHTTP("GET", "/edge/client/v1/controllers", 200, controllers(t, nil)))
		mustFail(t, ValidateHTTP("GET", "/edge/client/v1/controllers", 200, controllers(t, map[string]string{"name": "null"})), "data.0.name")
	}
}

// TestDeviations checks the corrections listed by Deviations.
func TestDeviations(t *testing.T) {
	if len(Deviations()) != 4 {
		t.Fatalf("Deviations() = %q", Deviations())
	}
	for _, load := range []func() (*Spec, error){Client, Management, Fabric} {
		s, err := load()
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: %q", filepath.Base(s.Path), s.Notes())
	}
	const p = "/edge/client/v1/controllers"
	// link.href: relative references as OpenZiti sends them; not garbage.
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"_links": `{"self": {"href": "./controllers/c1"}}`})))
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"_links": `{"self": {"href": "https://ctrl:1280/edge/client/v1/controllers/c1"}}`})))
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"_links": `{"self": {"href": "./%zz"}}`})), "data.0._links.self.href")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"_links": `{"self": {"href": 1}}`})), "data.0._links.self.href")
	// other format: uri fields are untouched: jwksEndpoint stays absolute-only.
	s, err := Management()
	if err != nil {
		t.Fatal(err)
	}
	if f := s.doc.Definitions["externalJwtSignerCreate"].Properties["jwksEndpoint"].Format; f != "uri" {
		t.Errorf("externalJwtSignerCreate.jwksEndpoint format = %q, want uri", f)
	}
	// tags values: string, boolean, null (per the tags description).
	mustPass(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": `{"a": "b", "c": false, "d": null}`})))
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": `{"a": ["b"]}`})), "data.0.tags.a")
	mustFail(t, ValidateHTTP("GET", p, 200, controllers(t, map[string]string{"tags": `{"a": 1}`})), "data.0.tags.a")
	// serviceDetail.config: a map of config type name to the config's data,
	// whose values are any JSON; each config is still an object.
	service := func(config string) []byte {
		return []byte(`{"data": {"_links": {}, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
			"id": "s1", "tags": {}, "name": "web", "maxIdleTimeMillis": 0, "terminatorStrategy": "smartrouting",
			"roleAttributes": [], "permissions": ["Dial"], "configs": ["c1"], "encryptionRequired": true,
			"postureQueries": [], "config": ` + config + `}, "meta": {}}`)
	}
	const sp = "/edge/client/v1/services/s1"
	mustPass(t, ValidateHTTP("GET", sp, 200, service(`{"host.v1": {"port": 8443, "addresses": ["a"], "tls": {"on": true}}}`)))
	mustFail(t, ValidateHTTP("GET", sp, 200, service(`{"host.v1": 8443}`)), "data.config.host.v1")
	// An edge router's service edge router policies are those, not service
	// policies (which have identityRoles and a type).
	serp := func(roles string) []byte {
		return []byte(`{"data": [{"_links": {}, "createdAt": "2026-01-01T00:00:00Z", "updatedAt": "2026-01-01T00:00:00Z",
			"id": "p1", "tags": {}, "name": "serp", "semantic": "AnyOf", "edgeRouterRoles": ["#all"],
			"edgeRouterRolesDisplay": [{"role": "#all", "name": "#all"}]` + roles + `}],
			"meta": {"pagination": {"limit": 10, "offset": 0, "totalCount": 1}}}`)
	}
	const rp = "/edge/management/v1/edge-routers/r1/service-edge-router-policies"
	mustPass(t, ValidateHTTP("GET", rp, 200, serp(`, "serviceRoles": ["#all"], "serviceRolesDisplay": [{"role": "#all", "name": "#all"}]`)))
	mustFail(t, ValidateHTTP("GET", rp, 200, serp(``)), "data.0.serviceRoles")
}

func TestConcurrent(t *testing.T) {
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- ValidateHTTP("GET", "/edge/client/v1/controllers", 200, controllers(t, nil))
			errs <- ValidateHTTP("GET", "/fabric/v1/cluster/list-members", 200, []byte(listMembers))
			if err := ValidateHTTP("GET", "/edge/client/v1/controllers", 200, controllers(t, map[string]string{"name": "null"})); err == nil {
				errs <- io.ErrUnexpectedEOF
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

// TestTimings logs how long loading management.yml and validating take.
func TestTimings(t *testing.T) {
	load := func(f string) (*Spec, error) {
		raw, err := specs.Read(f)
		if err != nil {
			return nil, err
		}
		return Parse(f, raw)
	}
	for _, f := range []string{"client.yml", "management.yml", "fabric.yml"} {
		start := time.Now()
		s, err := load(f)
		if err != nil {
			t.Fatal(err)
		}
		load := time.Since(start)
		t.Logf("%s: load %v (%d paths)", f, load.Round(time.Millisecond), len(s.routes))
	}
	s, err := load("management.yml")
	if err != nil {
		t.Fatal(err)
	}
	body := controllers(t, nil)
	start := time.Now()
	mustPass(t, s.ValidateResponse("GET", "/controllers", 200, body))
	first := time.Since(start)
	const n = 200
	start = time.Now()
	for i := 0; i < n; i++ {
		if err := s.ValidateResponse("GET", "/controllers", 200, body); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("management GET /controllers 200: first validation (expands the schema) %v, then %v each",
		first.Round(time.Microsecond), (time.Since(start) / n).Round(time.Microsecond))
}

func BenchmarkValidateControllers(b *testing.B) {
	body := controllers(b, nil)
	if err := ValidateHTTP("GET", "/edge/client/v1/controllers", 200, body); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if err := ValidateHTTP("GET", "/edge/client/v1/controllers", 200, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkValidateVersion(b *testing.B) {
	body := []byte(versionBody)
	for i := 0; i < b.N; i++ {
		if err := ValidateHTTP("GET", "/edge/client/v1/version", 200, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	for i := 0; i < b.N; i++ {
		resp := newResponse("GET", "/fabric/v1/cluster/list-members", "application/json", 200, listMembers)
		if _, err := Check(resp); err != nil {
			b.Fatal(err)
		}
	}
}
