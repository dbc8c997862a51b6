package rest

import (
	"net/http"
	"reflect"
	"slices"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
)

// userWith creates an identity with role attributes and a password and
// returns its id and a client session token.
func userWith(t *testing.T, e *testEnv, attrs ...string) (string, string) {
	t.Helper()
	name := uniq("sp-user")
	id := newIdentity(t, e, map[string]any{"name": name, "type": "User", "isAdmin": false, "roleAttributes": attrs})
	createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": id, "username": name, "password": "sp-password-1"})
	return id, e.login(t, ClientBase, name, "sp-password-1")
}

// userUnderPolicy creates the auth policy body and a password user
// (password sp-password-1) under it, and returns the user's id and name.
func userUnderPolicy(t *testing.T, e *testEnv, body map[string]any) (string, string) {
	t.Helper()
	admin := e.adminToken(t)
	policy := createOK(t, e, "/auth-policies", body)
	ident, _ := userWith(t, e)
	if r := e.do(t, http.MethodPatch, mgmt+"/identities/"+ident, admin, map[string]any{"authPolicyId": policy}); r.status != http.StatusOK {
		t.Fatalf("set the policy: %d %s", r.status, r.raw)
	}
	return ident, e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data()["name"].(string)
}

// reachable is the client view: service name → permissions, of the
// services named (the test environment is shared with other tests).
func reachable(t *testing.T, e *testEnv, token string, names ...string) map[string][]string {
	t.Helper()
	r := e.do(t, http.MethodGet, ClientBase+"/services?limit=500", token, nil)
	if r.status != http.StatusOK {
		t.Fatalf("client services: %d %s", r.status, r.raw)
	}
	out := map[string][]string{}
	for _, item := range r.list() {
		var perms []string
		for _, p := range obj(item)["permissions"].([]any) {
			perms = append(perms, p.(string))
		}
		if name := obj(item)["name"].(string); slices.Contains(names, name) {
			out[name] = perms
		}
	}
	return out
}

func TestServicePoliciesGrantWhatTheirRolesMatch(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	attr := uniq("web")
	webName, dbName, otherName := uniq("svc-web"), uniq("svc-db"), uniq("svc-other")
	web := createOK(t, e, "/services", map[string]any{"name": webName, "encryptionRequired": true, "roleAttributes": []string{attr, "db-" + attr}})
	db := createOK(t, e, "/services", map[string]any{"name": dbName, "encryptionRequired": true, "roleAttributes": []string{"db-" + attr}})
	other := createOK(t, e, "/services", map[string]any{"name": otherName, "encryptionRequired": true})
	alice, aliceTok := userWith(t, e, "staff-"+attr)
	bob, bobTok := userWith(t, e, "staff-"+attr, "ops-"+attr)
	eve, eveTok := userWith(t, e)

	mine := []string{webName, dbName, otherName}
	if got := reachable(t, e, aliceTok, mine...); len(got) != 0 {
		t.Fatalf("services before any policy: %v", got)
	}
	// Staff may dial the web services; bob (ops and staff, AllOf) may bind
	// the db ones; alice may bind web by id.
	dial := createOK(t, e, "/service-policies", map[string]any{"name": uniq("sp-dial"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"#staff-" + attr}, "serviceRoles": []string{"#" + attr}})
	bind := createOK(t, e, "/service-policies", map[string]any{"name": uniq("sp-bind"), "type": "Bind", "semantic": "AllOf",
		"identityRoles": []string{"#staff-" + attr, "#ops-" + attr}, "serviceRoles": []string{"#db-" + attr}})
	byID := createOK(t, e, "/service-policies", map[string]any{"name": uniq("sp-id"), "type": "Bind", "semantic": "AnyOf",
		"identityRoles": []string{"@" + alice}, "serviceRoles": []string{"@" + web}})

	for who, c := range map[string]struct {
		token string
		want  map[string][]string
	}{
		"alice": {aliceTok, map[string][]string{webName: {"Bind", "Dial"}}},
		"bob":   {bobTok, map[string][]string{webName: {"Bind", "Dial"}, dbName: {"Bind"}}},
		"eve":   {eveTok, map[string][]string{}},
	} {
		got := reachable(t, e, c.token, mine...)
		if len(got) != len(c.want) {
			t.Fatalf("%s reaches %v, want %v", who, got, c.want)
		}
		for name, perms := range c.want {
			if !slices.Equal(got[name], perms) {
				t.Fatalf("%s reaches %v, want %v", who, got, c.want)
			}
		}
	}

	// The management sub-lists agree (counting this test's entities: the
	// environment is shared).
	ours := []any{web, db, other, alice, bob, eve, dial, bind, byID}
	count := func(path string) int {
		r := e.do(t, http.MethodGet, mgmt+path, admin, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		n := 0
		for _, item := range r.list() {
			if slices.Contains(ours, obj(item)["id"]) {
				n++
			}
		}
		return n
	}
	for path, want := range map[string]int{
		"/service-policies/" + dial + "/identities": 2, "/service-policies/" + dial + "/services": 1,
		"/identities/" + alice + "/service-policies": 2, "/identities/" + alice + "/services": 1,
		"/services/" + web + "/identities": 2, "/services/" + web + "/service-policies": 3,
	} {
		if got := count(path); got != want {
			t.Errorf("%s lists %d, want %d", path, got, want)
		}
	}
	d := e.do(t, http.MethodGet, mgmt+"/service-policies/"+byID, admin, nil).data()
	if disp := d["identityRolesDisplay"].([]any); len(disp) != 1 || obj(disp[0])["role"] != "@"+alice || obj(disp[0])["name"] == "@"+alice {
		t.Fatalf("identityRolesDisplay: %v", d["identityRolesDisplay"])
	}

	// Deleting alice removes her from the policy naming her; it stays.
	if r := e.do(t, http.MethodDelete, mgmt+"/identities/"+alice, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete alice: %d %s", r.status, r.raw)
	}
	d = e.do(t, http.MethodGet, mgmt+"/service-policies/"+byID, admin, nil).data()
	if roles := d["identityRoles"].([]any); len(roles) != 0 {
		t.Fatalf("policy still names the deleted identity: %v", roles)
	}
	// Changing a service's attributes changes who reaches it at once.
	if r := e.do(t, http.MethodPatch, mgmt+"/services/"+web, admin, map[string]any{"roleAttributes": []string{}}); r.status != http.StatusOK {
		t.Fatalf("patch service: %d %s", r.status, r.raw)
	}
	if got := reachable(t, e, bobTok, mine...); len(got) != 1 || !slices.Equal(got[dbName], []string{"Bind"}) {
		t.Fatalf("bob after the web service lost its attributes: %v", got)
	}
}

func TestServicePolicyBadInputStoresNothing(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	before := e.count(t, fsm.KindServicePolicy)
	base := func(extra map[string]any) map[string]any {
		b := map[string]any{"name": uniq("sp-bad"), "type": "Dial", "semantic": "AnyOf", "identityRoles": []string{"#a"}, "serviceRoles": []string{"#b"}}
		for k, v := range extra {
			b[k] = v
		}
		return b
	}
	for what, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"unknown type":           {base(map[string]any{"type": "Listen"}), "type"},
		"unknown semantic":       {base(map[string]any{"semantic": "SomeOf"}), "semantic"},
		"role without a prefix":  {base(map[string]any{"identityRoles": []string{"web"}}), "identityRoles"},
		"empty attribute":        {base(map[string]any{"serviceRoles": []string{"#"}}), "serviceRoles"},
		"#all with another role": {base(map[string]any{"identityRoles": []string{"#all", "#a"}}), "identityRoles"},
		"@ of no identity":       {base(map[string]any{"identityRoles": []string{"@no-such-identity"}}), "identityRoles"},
		"@ of no service":        {base(map[string]any{"serviceRoles": []string{"@no-such-service"}}), "serviceRoles"},
		"@ of a posture check":   {base(map[string]any{"postureCheckRoles": []string{"@pc"}}), "postureCheckRoles"},
		"missing type":           {base(map[string]any{"type": nil}), "type"},
	} {
		body := c.body
		for k, v := range body {
			if v == nil {
				delete(body, k)
			}
		}
		wantFieldError(t, what, e.do(t, http.MethodPost, mgmt+"/service-policies", admin, body), c.field)
	}
	if n := e.count(t, fsm.KindServicePolicy); n != before {
		t.Fatalf("refused policies were stored: %d → %d", before, n)
	}
}

// The client's view of a service carries the data of its configs of the
// types the session asked for at login or the request asks for, by id or
// name; GET /services/{id} answers only a service the caller may reach.
func TestClientServiceConfigs(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	hostType := createOK(t, e, "/config-types", map[string]any{"name": uniq("host.v1")})
	hostName := e.do(t, http.MethodGet, mgmt+"/config-types/"+hostType, admin, nil).data()["name"].(string)
	interceptType := createOK(t, e, "/config-types", map[string]any{"name": uniq("intercept.v1")})
	host := createOK(t, e, "/configs", map[string]any{"name": uniq("h"), "configTypeId": hostType, "data": map[string]any{"port": 8443}})
	intercept := createOK(t, e, "/configs", map[string]any{"name": uniq("i"), "configTypeId": interceptType, "data": map[string]any{"addresses": []string{"web.ziti"}}})
	attr := uniq("cfg-svc")
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("svc-cfg"), "encryptionRequired": true, "roleAttributes": []string{attr}, "configs": []string{host, intercept}})
	hidden := createOK(t, e, "/services", map[string]any{"name": uniq("svc-hidden"), "encryptionRequired": true})
	ident, _ := userWith(t, e)
	createOK(t, e, "/service-policies", map[string]any{"name": uniq("sp-cfg"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + ident}, "serviceRoles": []string{"#" + attr}})
	name := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data()["name"].(string)
	// A session asking for the host type by name at login.
	r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]any{"username": name, "password": "sp-password-1", "configTypes": []string{hostName}})
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	token := r.data()["token"].(string)
	d := e.do(t, http.MethodGet, ClientBase+"/services/"+svc, token, nil)
	cfg, _ := d.data()["config"].(map[string]any)
	if d.status != http.StatusOK || len(cfg) != 1 || obj(cfg[hostName])["port"] != float64(8443) {
		t.Fatalf("service detail config: %d %s", d.status, d.raw)
	}
	// The request asks for the other type too, by id.
	l := e.do(t, http.MethodGet, ClientBase+"/services?configTypes="+interceptType, token, nil)
	if l.status != http.StatusOK || len(l.list()) == 0 {
		t.Fatalf("services with configTypes: %d %s", l.status, l.raw)
	}
	for _, item := range l.list() {
		if obj(item)["id"] == svc && len(obj(obj(item)["config"])) != 2 {
			t.Fatalf("config with both types: %v", obj(item)["config"])
		}
	}
	wantError(t, "a service the caller may not reach", e.do(t, http.MethodGet, ClientBase+"/services/"+hidden, token, nil), http.StatusNotFound, "NOT_FOUND")

	// The list splices each service's cached fields with the caller's: an
	// item is the service's detail, member for member, and follows a change
	// of the service at once.
	same := func(when string) {
		t.Helper()
		item := map[string]any(nil)
		for _, it := range e.do(t, http.MethodGet, ClientBase+"/services", token, nil).list() {
			if obj(it)["id"] == svc {
				item = obj(it)
			}
		}
		detail := e.do(t, http.MethodGet, ClientBase+"/services/"+svc, token, nil).data()
		if !reflect.DeepEqual(item, detail) {
			t.Fatalf("%s: list item %v\ndetail %v", when, item, detail)
		}
	}
	same("listed twice (cached)")
	same("listed twice (cached)")
	if r := e.do(t, http.MethodPatch, mgmt+"/services/"+svc, admin, map[string]any{"name": uniq("svc-renamed"), "tags": map[string]any{"k": "v"}}); r.status != http.StatusOK {
		t.Fatalf("rename: %d %s", r.status, r.raw)
	}
	same("after a rename")
}

// Edge-router policies give identities routers, service edge-router
// policies give services routers; the client sees its routers and, for a
// service it may reach, the routers both allow. Router enrollments never
// show in the client's view.
func TestRouterPolicies(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	tag := uniq("erp")
	r1 := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("er1"), "roleAttributes": []string{tag, tag + "-svc"}})
	r2 := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("er2"), "roleAttributes": []string{tag}})
	r3 := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("er3"), "roleAttributes": []string{tag + "-svc"}})
	ident, token := userWith(t, e, tag+"-user")
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("svc-er"), "encryptionRequired": true, "roleAttributes": []string{tag}})
	createOK(t, e, "/service-policies", map[string]any{"name": uniq("sp-er"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + ident}, "serviceRoles": []string{"@" + svc}})
	erp := createOK(t, e, "/edge-router-policies", map[string]any{"name": uniq("erp"), "semantic": "AnyOf",
		"identityRoles": []string{"#" + tag + "-user"}, "edgeRouterRoles": []string{"#" + tag}})
	serp := createOK(t, e, "/service-edge-router-policies", map[string]any{"name": uniq("serp"), "semantic": "AnyOf",
		"serviceRoles": []string{"@" + svc}, "edgeRouterRoles": []string{"#" + tag + "-svc"}})

	var ours []string // the environment is shared: count only this test's entities
	ids := func(r *response) []string {
		var out []string
		for _, item := range r.list() {
			if id := obj(item)["id"].(string); slices.Contains(ours, id) {
				out = append(out, id)
			}
		}
		slices.Sort(out)
		return out
	}
	ours = []string{r1, r2, r3, ident, svc, erp, serp}
	sorted := func(s ...string) []string { slices.Sort(s); return s }
	mine := e.do(t, http.MethodGet, ClientBase+"/current-identity/edge-routers", token, nil)
	if got := ids(mine); !slices.Equal(got, sorted(r1, r2)) {
		t.Fatalf("the identity's routers: %v, want %v", got, sorted(r1, r2))
	}
	for _, item := range mine.list() {
		if _, leaked := obj(item)["enrollmentJwt"]; leaked {
			t.Fatalf("the client sees a router's enrollment: %v", item)
		}
	}
	both := e.do(t, http.MethodGet, ClientBase+"/services/"+svc+"/edge-routers", token, nil)
	routers, _ := both.data()["edgeRouters"].([]any)
	if both.status != http.StatusOK || len(routers) != 1 || obj(routers[0])["name"] == nil {
		t.Fatalf("the service's routers for the identity: %d %s", both.status, both.raw)
	}
	for path, want := range map[string][]string{
		"/edge-router-policies/" + erp + "/edge-routers":          sorted(r1, r2),
		"/edge-router-policies/" + erp + "/identities":            {ident},
		"/service-edge-router-policies/" + serp + "/edge-routers": sorted(r1, r3),
		"/service-edge-router-policies/" + serp + "/services":     {svc},
		"/identities/" + ident + "/edge-routers":                  sorted(r1, r2),
		"/identities/" + ident + "/edge-router-policies":          {erp},
		"/services/" + svc + "/edge-routers":                      sorted(r1, r3),
		"/services/" + svc + "/service-edge-router-policies":      {serp},
		"/edge-routers/" + r3 + "/services":                       {svc},
		"/edge-routers/" + r2 + "/identities":                     {ident},
		"/edge-routers/" + r1 + "/edge-router-policies":           {erp},
		"/edge-routers/" + r1 + "/service-edge-router-policies":   {serp},
	} {
		r := e.do(t, http.MethodGet, mgmt+path, admin, nil)
		if got := ids(r); r.status != http.StatusOK || !slices.Equal(got, want) {
			t.Errorf("%s: %d %v, want %v", path, r.status, got, want)
		}
	}
	// A router deleted is dropped from the policies naming it by id.
	p := createOK(t, e, "/edge-router-policies", map[string]any{"name": uniq("erp-id"), "semantic": "AnyOf", "edgeRouterRoles": []string{"@" + r2}})
	if r := e.do(t, http.MethodDelete, mgmt+"/edge-routers/"+r2, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete router: %d %s", r.status, r.raw)
	}
	if roles := e.do(t, http.MethodGet, mgmt+"/edge-router-policies/"+p, admin, nil).data()["edgeRouterRoles"].([]any); len(roles) != 0 {
		t.Fatalf("policy still names the deleted router: %v", roles)
	}
}

// An identity's service configs replace, for it, a service's config of
// the same type; PUT of the identity keeps them; deleting the service
// drops them; a config in use cannot be deleted.
func TestIdentityServiceConfigs(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	typ := createOK(t, e, "/config-types", map[string]any{"name": uniq("ov.v1")})
	typName := e.do(t, http.MethodGet, mgmt+"/config-types/"+typ, admin, nil).data()["name"].(string)
	cfg := func(port int) string {
		return createOK(t, e, "/configs", map[string]any{"name": uniq("ov"), "configTypeId": typ, "data": map[string]any{"port": port}})
	}
	base, over, over2 := cfg(1), cfg(2), cfg(3)
	attr := uniq("ov-svc")
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("ov-svc"), "encryptionRequired": true, "roleAttributes": []string{attr}, "configs": []string{base}})
	ident, token := userWith(t, e)
	createOK(t, e, "/service-policies", map[string]any{"name": uniq("ov-sp"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + ident}, "serviceRoles": []string{"#" + attr}})
	port := func() any {
		d := e.do(t, http.MethodGet, ClientBase+"/services?configTypes=all", token, nil)
		for _, item := range d.list() {
			if obj(item)["id"] == svc {
				return obj(obj(obj(item)["config"])[typName])["port"]
			}
		}
		t.Fatalf("service not listed: %s", d.raw)
		return nil
	}
	path := mgmt + "/identities/" + ident + "/service-configs"
	assign := func(configID string) {
		if r := e.do(t, http.MethodPost, path, admin, []map[string]string{{"serviceId": svc, "configId": configID}}); r.status != http.StatusOK {
			t.Fatalf("assign: %d %s", r.status, r.raw)
		}
	}
	if got := port(); got != float64(1) {
		t.Fatalf("port before any override: %v", got)
	}
	assign(over)
	assign(over2) // replaces over: same service, same type
	if l := e.do(t, http.MethodGet, path, admin, nil); len(l.list()) != 1 || obj(l.list()[0])["configId"] != over2 {
		t.Fatalf("overrides: %s", l.raw)
	}
	if got := port(); got != float64(3) {
		t.Fatalf("port with the override: %v", got)
	}
	// PUT of the identity keeps them.
	name := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data()["name"].(string)
	if r := e.do(t, http.MethodPut, mgmt+"/identities/"+ident, admin, map[string]any{"name": name, "type": "User", "isAdmin": false}); r.status != http.StatusOK {
		t.Fatalf("put identity: %d %s", r.status, r.raw)
	}
	if got := port(); got != float64(3) {
		t.Fatalf("port after a PUT of the identity: %v", got)
	}
	wantError(t, "delete a config an override uses", e.do(t, http.MethodDelete, mgmt+"/configs/"+over2, admin, nil), http.StatusConflict, "CONFLICT_CANNOT_MODIFY_REFERENCED")
	for what, body := range map[string]any{
		"unknown service": []map[string]string{{"serviceId": "nope", "configId": over}},
		"unknown config":  []map[string]string{{"serviceId": svc, "configId": "nope"}},
	} {
		wantError(t, what, e.do(t, http.MethodPost, path, admin, body), http.StatusBadRequest, "COULD_NOT_VALIDATE")
	}
	wantError(t, "not an array", e.doUnchecked(t, http.MethodPost, path, admin, map[string]any{"serviceId": svc}), http.StatusBadRequest, "COULD_NOT_PARSE_BODY")
	if r := e.do(t, http.MethodDelete, path, admin, []map[string]string{{"serviceId": svc, "configId": over2}}); r.status != http.StatusOK {
		t.Fatalf("remove: %d %s", r.status, r.raw)
	}
	if got := port(); got != float64(1) {
		t.Fatalf("port after removing the override: %v", got)
	}
	assign(over)
	if r := e.do(t, http.MethodDelete, mgmt+"/services/"+svc, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete service: %d %s", r.status, r.raw)
	}
	if l := e.do(t, http.MethodGet, path, admin, nil); len(l.list()) != 0 {
		t.Fatalf("overrides of a deleted service: %s", l.raw)
	}
}
