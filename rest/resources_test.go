package rest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// crudCase is what the descriptor-driven test needs to know of a resource
// beyond its declaration: valid bodies. Everything else (which fields are
// required, their types, bounds and names) comes from the declaration.
type crudCase struct {
	res func(*Server) *resource.Resource
	// create returns a valid create body, unique per call.
	create func(t *testing.T, e *testEnv) map[string]any
	// patch changes one field (the only key of the body); nil: the
	// resource cannot be updated.
	patch map[string]any
	// put returns a valid PUT body for the entity made from created.
	put func(created map[string]any) map[string]any
	// base is the API the resource is served under (default: management).
	base string
	// noDelete: the resource has no DELETE (revocations).
	noDelete bool
}

func (c crudCase) apiBase() string {
	if c.base != "" {
		return c.base
	}
	return mgmt
}

// createIn creates an entity at base+path and returns its id.
func createIn(t *testing.T, e *testEnv, base, path string, body map[string]any) string {
	t.Helper()
	r := e.do(t, http.MethodPost, base+path, e.adminToken(t), body)
	if r.status != http.StatusCreated {
		t.Fatalf("create %s%s %v: %d %s", base, path, body, r.status, r.raw)
	}
	return r.data()["id"].(string)
}

func uniq(prefix string) string { return prefix + "-" + uuid.NewString()[:8] }

func crudCases() map[string]crudCase {
	schema := map[string]any{"type": "object", "properties": map[string]any{"port": map[string]any{"type": "integer"}}}
	return map[string]crudCase{
		"identities": {
			res: (*Server).identities,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-id"), "type": "User", "isAdmin": false}
			},
			patch: map[string]any{"roleAttributes": []any{"patched"}},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "type": "Device", "isAdmin": false, "defaultHostingCost": float64(7)}
			},
		},
		"authenticators": {
			res: (*Server).authenticators,
			create: func(t *testing.T, e *testEnv) map[string]any {
				id := newIdentity(t, e, map[string]any{"name": uniq("rt-auth"), "type": "User", "isAdmin": false})
				return map[string]any{"method": "updb", "identityId": id, "username": uniq("user"), "password": "secret-1"}
			},
			patch: map[string]any{"username": uniq("patched")},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"username": c["username"].(string) + "-put", "password": "secret-2"}
			},
		},
		"enrollments": {
			res: (*Server).enrollments,
			create: func(t *testing.T, e *testEnv) map[string]any {
				id := newIdentity(t, e, map[string]any{"name": uniq("rt-enr"), "type": "User", "isAdmin": false})
				return map[string]any{"method": "ott", "identityId": id, "expiresAt": api.Time(time.Now().Add(time.Hour))}
			},
		},
		"cas": {
			res:    (*Server).cas,
			create: func(t *testing.T, _ *testEnv) map[string]any { return caBody(newThirdPartyCA(t), nil) },
			patch:  map[string]any{"isAuthEnabled": false},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "isAutoCaEnrollmentEnabled": false, "isOttCaEnrollmentEnabled": false,
					"isAuthEnabled": false, "identityRoles": []any{"r1"}, "identityNameFormat": "[commonName]"}
			},
		},
		"edge-routers": {
			res:    (*Server).edgeRouters,
			create: func(*testing.T, *testEnv) map[string]any { return map[string]any{"name": uniq("rt-er")} },
			patch:  map[string]any{"cost": float64(9)},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "isTunnelerEnabled": true}
			},
		},
		"config-types": {
			res: (*Server).configTypes,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-ct"), "schema": schema}
			},
			patch: map[string]any{"name": uniq("rt-ct-patched")},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "schema": map[string]any{}}
			},
		},
		"configs": {
			res: (*Server).configs,
			create: func(t *testing.T, e *testEnv) map[string]any {
				typeID := createOK(t, e, "/config-types", map[string]any{"name": uniq("rt-cfg-type"), "schema": schema})
				return map[string]any{"name": uniq("rt-cfg"), "configTypeId": typeID, "data": map[string]any{"port": float64(80)}}
			},
			patch: map[string]any{"data": map[string]any{"port": float64(443)}},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "data": map[string]any{"port": float64(8443)}}
			},
		},
		"service-policies": {
			res: (*Server).servicePolicies,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-sp"), "type": "Dial", "semantic": "AnyOf", "identityRoles": []any{"#all"}, "serviceRoles": []any{"#web"}}
			},
			patch: map[string]any{"semantic": "AllOf"},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "type": "Bind", "semantic": "AllOf"}
			},
		},
		"edge-router-policies": {
			res: (*Server).edgeRouterPolicies,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-erp"), "semantic": "AnyOf", "identityRoles": []any{"#rt-erp"}, "edgeRouterRoles": []any{"#all"}}
			},
			patch: map[string]any{"semantic": "AllOf"},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "semantic": "AllOf"}
			},
		},
		"service-edge-router-policies": {
			res: (*Server).serviceEdgeRouterPolicies,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-serp"), "semantic": "AnyOf", "serviceRoles": []any{"#all"}, "edgeRouterRoles": []any{"#rt-serp"}}
			},
			patch: map[string]any{"semantic": "AllOf"},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "semantic": "AllOf"}
			},
		},
		"posture-checks": {
			res: (*Server).postureChecks,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-pc"), "typeId": "DOMAIN", "domains": []any{"corp.example"}}
			},
			patch: map[string]any{"roleAttributes": []any{"patched"}},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "typeId": "DOMAIN", "domains": []any{"other.example"}}
			},
		},
		"auth-policies": {
			res: (*Server).authPolicies,
			create: func(*testing.T, *testEnv) map[string]any {
				return authPolicyBody(uniq("rt-ap"), 8, 3)
			},
			patch: map[string]any{"name": uniq("rt-ap-patched")},
			put: func(c map[string]any) map[string]any {
				return authPolicyBody(c["name"].(string)+"-put", 12, 0)
			},
		},
		"external-jwt-signers": {
			res: (*Server).extJwtSigners,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-ejs"), "enabled": true, "issuer": "https://" + uniq("rt-ejs") + ".test",
					"audience": "rt", "jwksEndpoint": "http://127.0.0.1:9/keys"}
			},
			patch: map[string]any{"audience": "rt-patched"},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "enabled": false, "issuer": c["issuer"], "audience": "rt-put",
					"jwksEndpoint": "http://[::1]:9/keys"}
			},
		},
		"terminators": {
			res: (*Server).terminators,
			create: func(t *testing.T, e *testEnv) map[string]any {
				svc := createOK(t, e, "/services", map[string]any{"name": uniq("rt-term-svc"), "encryptionRequired": true})
				router := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("rt-term-er")})
				return map[string]any{"service": svc, "router": router, "address": "tcp:127.0.0.1:80", "binding": "transport"}
			},
			patch: map[string]any{"precedence": "failed"},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"service": c["service"], "router": c["router"], "address": "tcp:127.0.0.1:443", "binding": "edge"}
			},
		},
		"revocations": {
			res: (*Server).revocations, noDelete: true,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"id": uniq("rt-jti"), "type": "JTI"}
			},
		},
		"transit-routers": {
			res: func(s *Server) *resource.Resource { return s.transitRouters("transit-routers") },
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-tr"), "cost": float64(5), "noTraversal": true}
			},
			patch: map[string]any{"cost": float64(7)},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "disabled": true}
			},
		},
		"routers (management)": {
			res: func(s *Server) *resource.Resource { return s.transitRouters("routers") },
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-mr")}
			},
			patch: map[string]any{"noTraversal": true},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "cost": float64(9)}
			},
		},
		"routers (fabric)": {
			res: (*Server).fabricRouters, base: FabricBase,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"id": uniq("rt-fr-id"), "name": uniq("rt-fr"), "cost": float64(3), "noTraversal": false,
					"fingerprint": uniq("fp")}
			},
			patch: map[string]any{"disabled": true},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "cost": float64(4), "noTraversal": true, "fingerprint": uniq("fp")}
			},
		},
		"services (fabric)": {
			res: (*Server).fabricServices, base: FabricBase,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-fsvc"), "terminatorStrategy": "weighted"}
			},
			patch: map[string]any{"maxIdleTimeMillis": float64(1000)},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put"}
			},
		},
		"terminators (fabric)": {
			res: (*Server).fabricTerminators, base: FabricBase,
			create: func(t *testing.T, e *testEnv) map[string]any {
				svc := createOK(t, e, "/services", map[string]any{"name": uniq("rt-fterm-svc"), "encryptionRequired": true})
				router := createIn(t, e, FabricBase, "/routers", map[string]any{"id": uniq("rt-fterm-r"), "name": uniq("rt-fterm-r"),
					"cost": float64(1), "noTraversal": false})
				return map[string]any{"service": svc, "router": router, "address": "tcp:127.0.0.1:80", "binding": "transport",
					"instanceId": "i-1", "hostId": "h-1"}
			},
			patch: map[string]any{"hostId": "h-2"},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"service": c["service"], "router": c["router"], "address": "tcp:127.0.0.1:443", "binding": "edge"}
			},
		},
		"services": {
			res: (*Server).services,
			create: func(*testing.T, *testEnv) map[string]any {
				return map[string]any{"name": uniq("rt-svc"), "encryptionRequired": true, "roleAttributes": []any{"web"}}
			},
			patch: map[string]any{"maxIdleTimeMillis": float64(60000)},
			put: func(c map[string]any) map[string]any {
				return map[string]any{"name": c["name"].(string) + "-put", "encryptionRequired": false, "terminatorStrategy": "weighted"}
			},
		},
	}
}

// TestEveryResourceCRUD runs the same life cycle on every writable
// resource, every answer validated against the spec: create, detail, list
// by id and by an indexed filter, PATCH of one field, PUT, delete, 404.
func TestEveryResourceCRUD(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	for name, c := range crudCases() {
		t.Run(name, func(t *testing.T) {
			res := c.res(e.srv)
			base := c.apiBase() + "/" + res.Path
			body := c.create(t, e)
			id := createIn(t, e, c.apiBase(), "/"+res.Path, body)
			detail := func() map[string]any {
				t.Helper()
				r := e.do(t, http.MethodGet, base+"/"+id, admin, nil)
				if r.status != http.StatusOK {
					t.Fatalf("detail: %d %s", r.status, r.raw)
				}
				return r.data()
			}
			d := detail()
			wantFields(t, "created", res, body, d)
			if l := e.do(t, http.MethodGet, base+"?filter="+queryEscape(`id = "`+id+`"`), admin, nil); l.status != http.StatusOK || len(l.list()) != 1 {
				t.Errorf("list by id: %d %s", l.status, l.raw)
			}
			if f, v := indexedFilter(res, d); f != "" {
				filter := fmt.Sprintf(`%s = %q`, f, v)
				l := e.do(t, http.MethodGet, base+"?filter="+queryEscape(filter), admin, nil)
				if l.status != http.StatusOK || len(l.list()) != 1 || obj(l.list()[0])["id"] != id {
					t.Errorf("list with %s: %d %s", filter, l.status, l.raw)
				}
			}
			if c.patch != nil {
				if r := e.do(t, http.MethodPatch, base+"/"+id, admin, c.patch); r.status != http.StatusOK {
					t.Fatalf("patch: %d %s", r.status, r.raw)
				}
				after := detail()
				wantFields(t, "patched", res, c.patch, after)
				for k, v := range d { // the rest stays, but for what counts changes
					if _, patched := c.patch[k]; !patched && k != "updatedAt" && k != "version" && k != "_links" && !reflect.DeepEqual(v, after[k]) {
						t.Errorf("patch of %v changed %s: %v -> %v", c.patch, k, v, after[k])
					}
				}
				put := c.put(body)
				if r := e.do(t, http.MethodPut, base+"/"+id, admin, put); r.status != http.StatusOK {
					t.Fatalf("put: %d %s", r.status, r.raw)
				}
				wantFields(t, "put", res, put, detail())
			}
			if c.noDelete {
				return
			}
			if r := e.do(t, http.MethodDelete, base+"/"+id, admin, nil); r.status != http.StatusOK {
				t.Fatalf("delete: %d %s", r.status, r.raw)
			}
			wantError(t, "detail after delete", e.do(t, http.MethodGet, base+"/"+id, admin, nil), http.StatusNotFound, api.CodeNotFound)
			if again := e.do(t, http.MethodDelete, base+"/"+id, admin, nil); res.AbsentDeleted {
				if again.status != http.StatusOK {
					t.Errorf("delete again: %d %s, want 200 (the spec has no 404)", again.status, again.raw)
				}
			} else {
				wantError(t, "delete again", again, http.StatusNotFound, api.CodeNotFound)
			}
		})
	}
}

// TestEveryResourceRefusesBadInput sends, for every field a body may carry,
// a value of the wrong type, an unknown enum value and an over-long string,
// and leaves out or nulls every required field, on create and (where the
// resource has them) PUT and PATCH: each is a 400 naming the field, and
// nothing is stored or changed.
func TestEveryResourceRefusesBadInput(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	for name, c := range crudCases() {
		t.Run(name, func(t *testing.T) {
			res := c.res(e.srv)
			base := c.apiBase() + "/" + res.Path
			valid := c.create(t, e)
			before := e.count(t, res.Kind)
			refuse := func(what, method, path string, body any, field string) {
				t.Helper()
				r := e.do(t, method, path, admin, body)
				if r.status != http.StatusBadRequest {
					t.Errorf("%s: %d %s, want 400", what, r.status, r.raw)
					return
				}
				errObj := obj(r.body["error"])
				if got := causeField(errObj); field != "" && got != field {
					t.Errorf("%s: cause.field %q, want %q (%s)", what, got, field, r.raw)
				}
			}
			creates := badValues(res, resource.Create)
			t.Logf("%d bad create bodies", len(creates)+2)
			for _, bad := range creates {
				refuse("create "+bad.what, http.MethodPost, base, with(valid, bad.field, bad.value, bad.drop), bad.field)
			}
			refuse("duplicate member", http.MethodPost, base, dupMember(valid), firstKey(valid))
			refuse("invalid UTF-8", http.MethodPost, base, badUTF8(valid), "")
			if got := e.count(t, res.Kind); got != before {
				t.Errorf("refused creates stored %d entities", got-before)
			}
			if c.patch == nil {
				return
			}
			path := base + "/" + createIn(t, e, c.apiBase(), "/"+res.Path, valid)
			stored := e.do(t, http.MethodGet, path, admin, nil).raw
			put := c.put(valid)
			for _, bad := range badValues(res, resource.Put) {
				refuse("put "+bad.what, http.MethodPut, path, with(put, bad.field, bad.value, bad.drop), bad.field)
			}
			for _, bad := range badValues(res, resource.Patch) {
				refuse("patch "+bad.what, http.MethodPatch, path, map[string]any{bad.field: bad.value}, bad.field)
			}
			if now := e.do(t, http.MethodGet, path, admin, nil).raw; string(now) != string(stored) {
				t.Errorf("refused updates changed the entity:\n%s\n%s", stored, now)
			}
		})
	}
}

type badValue struct {
	what, field string
	value       any
	drop        bool
}

// badValues derives bad inputs for a body of mode from the declaration.
func badValues(res *resource.Resource, mode resource.Mode) []badValue {
	var out []badValue
	need := map[resource.Mode]resource.Need{resource.Create: resource.OnCreate, resource.Put: resource.OnPut, resource.Patch: resource.OnPatch}[mode]
	for _, f := range res.Fields {
		writable := f.Access == resource.ReadWrite || f.Access == resource.WriteOnly || (f.Access == resource.CreateOnly && mode == resource.Create)
		if !writable {
			continue
		}
		name := f.Name
		if f.Input != "" {
			name = f.Input
		}
		wrong := map[resource.Type]any{resource.String: 12345, resource.Enum: 12345, resource.Ref: 12345, resource.Bool: "true",
			resource.Int: "12", resource.Strings: "not-a-list", resource.DateTime: "yesterday", resource.Object: "not-an-object",
			resource.TagMap: []any{}, resource.IntMap: "x", resource.EnumMap: "x", resource.Nested: "x"}[f.Type]
		out = append(out, badValue{what: name + " of the wrong type", field: name, value: wrong})
		switch f.Type {
		case resource.String:
			max := f.Max
			if max == 0 {
				max = resource.DefaultMaxString
			}
			out = append(out, badValue{what: name + " too long", field: name, value: strings.Repeat("x", int(max)+1)})
		case resource.Enum:
			out = append(out, badValue{what: name + " not one of its values", field: name, value: "no-such-value"})
		case resource.Int:
			if f.Max > 0 {
				out = append(out, badValue{what: name + " above its maximum", field: name, value: f.Max + 1})
			}
		case resource.Strings:
			out = append(out, badValue{what: name + " element too long", field: name, value: []string{strings.Repeat("x", resource.DefaultMaxString+1)}})
		}
		if f.Required&need != 0 {
			out = append(out, badValue{what: name + " missing", field: name, drop: true})
		}
		if f.Required&need != 0 || f.NotNull {
			out = append(out, badValue{what: name + " null", field: name, value: nil})
		}
	}
	return out
}

// with returns body with field set to v (or left out).
func with(body map[string]any, field string, v any, drop bool) map[string]any {
	out := map[string]any{}
	for k, x := range body {
		out[k] = x
	}
	if drop {
		delete(out, field)
	} else {
		out[field] = v
	}
	return out
}

func firstKey(body map[string]any) string {
	for _, k := range []string{"name", "method", "username", "address", "id"} {
		if _, ok := body[k]; ok {
			return k
		}
	}
	return ""
}

// dupMember is body as JSON text with its first key given twice.
func dupMember(body map[string]any) string {
	raw, _ := json.Marshal(body)
	k := firstKey(body)
	return `{"` + k + `":"shadowed",` + string(raw[1:])
}

// badUTF8 is body as JSON text with an invalid UTF-8 byte in a string.
func badUTF8(body map[string]any) string {
	raw, _ := json.Marshal(body)
	return strings.Replace(string(raw), `":"`, "\":\"\xff", 1)
}

// wantFields checks that the rendered entity shows the body's values for
// the plain fields the body set (hooks may transform the others).
func wantFields(t *testing.T, what string, res *resource.Resource, body, rendered map[string]any) {
	t.Helper()
	for _, f := range res.Fields {
		v, ok := body[f.Name]
		if !ok || f.Input != "" || f.Access == resource.WriteOnly || f.Name == "certPem" {
			continue
		}
		want, _ := json.Marshal(v)
		got, _ := json.Marshal(rendered[f.Name])
		if string(want) != string(got) {
			t.Errorf("%s: %s = %s, want %s", what, f.Name, got, want)
		}
	}
}

// indexedFilter is a filter field served by an index and the entity's
// value of it, to list through the index; "" when none is a plain string.
func indexedFilter(res *resource.Resource, rendered map[string]any) (string, string) {
	for _, f := range res.Fields {
		if f.Index == nil || f.Type != resource.String || f.NoFilter {
			continue
		}
		if v, ok := rendered[f.Name].(string); ok && v != "" {
			name := f.Name
			if len(f.Filter) > 0 {
				name = f.Filter[0]
			}
			return name, v
		}
	}
	return "", ""
}

func queryEscape(s string) string { return url.QueryEscape(s) }

// TestUpdateSemantics pins what PUT, PATCH and null mean where the
// declarations alone do not say it.
func TestUpdateSemantics(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	// A cert authenticator has no username or password: a PUT of its tags
	// works; for updb both are required.
	id := newIdentity(t, e, map[string]any{"name": uniq("sem"), "type": "User", "isAdmin": false})
	certAuth := createOK(t, e, "/authenticators", map[string]any{"method": "cert", "identityId": id,
		"certPem": certPEM(issueClientCert(t, newThirdPartyCA(t), "sem"))})
	if r := e.do(t, http.MethodPut, mgmt+"/authenticators/"+certAuth, admin, map[string]any{"tags": map[string]any{"a": "b"}}); r.status != http.StatusOK {
		t.Fatalf("PUT of a cert authenticator's tags: %d %s", r.status, r.raw)
	}
	updb := createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": newIdentity(t, e,
		map[string]any{"name": uniq("sem"), "type": "User", "isAdmin": false}), "username": uniq("sem-user"), "password": "secret-1"})
	wantFieldError(t, "updb PUT without password", e.do(t, http.MethodPut, mgmt+"/authenticators/"+updb, admin, map[string]any{"username": uniq("u")}), "password")
	wantFieldError(t, "updb PUT with password null", e.do(t, http.MethodPut, mgmt+"/authenticators/"+updb, admin, map[string]any{"username": uniq("u"), "password": nil}), "password")
	wantFieldError(t, "updb PUT without username", e.do(t, http.MethodPut, mgmt+"/authenticators/"+updb, admin, map[string]any{"password": "secret-2"}), "username")

	// null in a PATCH sets an optional field's zero value, as OpenZiti
	// does; a field that must never be empty refuses it.
	ca := createCA(t, e, newThirdPartyCA(t), nil)
	if r := e.do(t, http.MethodPatch, mgmt+"/cas/"+ca, admin, map[string]any{"isAuthEnabled": nil}); r.status != http.StatusOK {
		t.Fatalf("PATCH isAuthEnabled null: %d %s", r.status, r.raw)
	}
	if getCA(t, e, ca)["isAuthEnabled"] != false {
		t.Error("isAuthEnabled null did not switch it off")
	}
	for _, field := range []string{"name", "type"} {
		wantFieldError(t, field+" null", e.do(t, http.MethodPatch, mgmt+"/identities/"+id, admin, map[string]any{field: nil}), field)
	}

	// A disable ends within what a timestamp holds.
	// (The spec documents no 400 here; see docs/architecture.md.)
	wantFieldError(t, "disable for 4,000 years", e.doUnchecked(t, http.MethodPost, mgmt+"/identities/"+id+"/disable", admin,
		map[string]any{"durationMinutes": 2147483648}), "durationMinutes")
}

// authPolicyBody is a valid auth policy: certificates and passwords of at
// least minLength characters, locked after maxAttempts failures (0: never)
// for five minutes.
func authPolicyBody(name string, minLength, maxAttempts int) map[string]any {
	return map[string]any{
		"name": name,
		"primary": map[string]any{
			"cert": map[string]any{"allowed": true, "allowExpiredCerts": false},
			"updb": map[string]any{"allowed": true, "minPasswordLength": float64(minLength), "requireSpecialChar": false,
				"requireNumberChar": true, "requireMixedCase": true, "maxAttempts": float64(maxAttempts), "lockoutDurationMinutes": float64(5)},
			"extJwt": map[string]any{"allowed": false, "allowedSigners": []any{}},
		},
		"secondary": map[string]any{"requireTotp": false, "requireExtJwtSigner": nil},
	}
}
