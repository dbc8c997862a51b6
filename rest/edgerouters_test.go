package rest

import (
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/internal/trust"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// newEdgeRouter creates an edge router through the API and returns its id.
func newEdgeRouter(t *testing.T, e *testEnv, body map[string]any) string {
	t.Helper()
	r := e.do(t, http.MethodPost, mgmt+"/edge-routers", e.adminToken(t), body)
	if r.status != http.StatusCreated {
		t.Fatalf("create edge router %v: %d %s", body, r.status, r.raw)
	}
	id, _ := r.data()["id"].(string)
	if id == "" {
		t.Fatalf("no id in %s", r.raw)
	}
	return id
}

// getEdgeRouter reads a router's detail, failing the test unless it exists.
func getEdgeRouter(t *testing.T, e *testEnv, id string) map[string]any {
	t.Helper()
	r := e.do(t, http.MethodGet, mgmt+"/edge-routers/"+id, e.adminToken(t), nil)
	if r.status != http.StatusOK {
		t.Fatalf("get edge router %s: %d %s", id, r.status, r.raw)
	}
	return r.data()
}

// routerEnrollmentsOf lists the ids of a router's stored enrollments.
func routerEnrollmentsOf(t *testing.T, e *testEnv, id string) []string {
	t.Helper()
	var ids []string
	if err := e.store.View(func(rd *fsm.Reader) error {
		var err error
		ids, err = rd.IDsByIndex(fsm.EnrollmentEdgeRouter, id)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return ids
}

func TestEdgeRouterCreateGetPatchPutDelete(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	before := time.Now()
	id := newEdgeRouter(t, e, map[string]any{
		"name": "er-crud", "roleAttributes": []string{"east", "public"}, "isTunnelerEnabled": true,
		"cost": 12, "noTraversal": true, "tags": map[string]any{"env": "prod"}, "appData": map[string]any{"owner": "ops"},
	})
	d := getEdgeRouter(t, e, id)
	for field, want := range map[string]any{
		"name": "er-crud", "isTunnelerEnabled": true, "cost": float64(12), "noTraversal": true, "disabled": false,
		"isVerified": false, "isOnline": false, "fingerprint": "", "certPem": nil, "syncStatus": syncStatusUnknown,
		"hostname": "", "os": "", "version": "",
	} {
		if d[field] != want {
			t.Errorf("%s = %#v, want %#v", field, d[field], want)
		}
	}
	if dig(d, "tags", "env") != "prod" || dig(d, "appData", "owner") != "ops" || dig(d, "versionInfo", "arch") != "" {
		t.Errorf("maps not stored: %v", d)
	}
	// Created with its enrollment, in the same command: token, JWT and times.
	token, _ := d["enrollmentToken"].(string)
	signed, _ := d["enrollmentJwt"].(string)
	if token == "" || signed == "" {
		t.Fatalf("no enrollment on a new router: %v", d)
	}
	var claims trust.EnrollmentClaims
	if _, _, err := jwt.NewParser().ParseUnverified(signed, &claims); err != nil {
		t.Fatalf("enrollment JWT: %v", err)
	}
	if claims.EnrollmentMethod != edge.MethodEROTT || claims.Subject != id || claims.ID != token {
		t.Errorf("JWT claims %+v, want em=erott sub=%s jti=%s", claims, id, token)
	}
	created, err1 := time.Parse(time.RFC3339Nano, d["enrollmentCreatedAt"].(string))
	expires, err2 := time.Parse(time.RFC3339Nano, d["enrollmentExpiresAt"].(string))
	if err1 != nil || err2 != nil || created.Before(before.Add(-time.Second)) || expires.Sub(created) < edge.DefaultEnrollmentLifetime-time.Minute {
		t.Errorf("enrollment times %v .. %v", d["enrollmentCreatedAt"], d["enrollmentExpiresAt"])
	}

	// PATCH changes only what it names.
	r := e.do(t, http.MethodPatch, mgmt+"/edge-routers/"+id, admin, map[string]any{"roleAttributes": []string{"west"}, "disabled": true})
	if r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	d = getEdgeRouter(t, e, id)
	if roles, _ := d["roleAttributes"].([]any); len(roles) != 1 || roles[0] != "west" || d["disabled"] != true ||
		d["name"] != "er-crud" || d["cost"] != float64(12) || dig(d, "tags", "env") != "prod" || d["enrollmentToken"] != token {
		t.Fatalf("after patch: %v", d)
	}
	// PUT replaces: what it leaves out is reset, the enrollment stays.
	r = e.do(t, http.MethodPut, mgmt+"/edge-routers/"+id, admin, map[string]any{"name": "er-crud-2"})
	if r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	d = getEdgeRouter(t, e, id)
	if d["name"] != "er-crud-2" || d["cost"] != float64(0) || d["isTunnelerEnabled"] != false || d["disabled"] != false ||
		len(d["roleAttributes"].([]any)) != 0 || len(d["tags"].(map[string]any)) != 0 || d["enrollmentToken"] != token {
		t.Fatalf("after put: %v", d)
	}

	// Deleting the router deletes its enrollment in the same apply.
	if n := len(routerEnrollmentsOf(t, e, id)); n != 1 {
		t.Fatalf("router has %d enrollments, want 1", n)
	}
	r = e.do(t, http.MethodDelete, mgmt+"/edge-routers/"+id, admin, nil)
	if r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if n := len(routerEnrollmentsOf(t, e, id)); n != 0 {
		t.Errorf("router deleted but %d enrollments remain", n)
	}
	wantError(t, "get deleted", e.do(t, http.MethodGet, mgmt+"/edge-routers/"+id, admin, nil), http.StatusNotFound, api.CodeNotFound)
	wantError(t, "enroll a deleted router's token", e.do(t, http.MethodPost, ClientBase+"/enroll/erott", "",
		map[string]any{"token": token}), http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
}

func TestEdgeRouterValidation(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	newEdgeRouter(t, e, map[string]any{"name": "er-taken"})
	cases := []struct {
		name  string
		body  any
		field string
		code  string
	}{
		{"missing name", map[string]any{"cost": 1}, "name", api.CodeCouldNotValidate},
		{"empty name", map[string]any{"name": ""}, "name", api.CodeCouldNotValidate},
		{"null name", map[string]any{"name": nil}, "name", api.CodeCouldNotValidate},
		{"duplicate name", map[string]any{"name": "er-taken"}, "name", api.CodeCouldNotValidate},
		{"cost too high", map[string]any{"name": "er-v1", "cost": 65536}, "cost", api.CodeCouldNotValidate},
		{"negative cost", map[string]any{"name": "er-v2", "cost": -1}, "cost", api.CodeCouldNotValidate},
		{"bool not bool", map[string]any{"name": "er-v3", "isTunnelerEnabled": "yes"}, "isTunnelerEnabled", api.CodeCouldNotValidate},
		{"number tag", map[string]any{"name": "er-v4", "tags": map[string]any{"n": 1}}, "tags.n", api.CodeCouldNotValidate},
		{"unknown config", map[string]any{"name": "er-v5", "configs": []string{"cfg-1"}}, "configs", api.CodeCouldNotValidate},
		{"listeners", map[string]any{"name": "er-v6", "ctrlChanListeners": map[string]any{"tls:0.0.0.0:1": []string{"x"}}}, "ctrlChanListeners", api.CodeCouldNotValidate},
		{"roles not strings", map[string]any{"name": "er-v7", "roleAttributes": []any{1}}, "roleAttributes", api.CodeCouldNotValidate},
		{"not an api.Object", []any{1}, "", api.CodeCouldNotParseBody},
	}
	for _, c := range cases {
		r := e.do(t, http.MethodPost, mgmt+"/edge-routers", admin, c.body)
		ae := wantError(t, c.name, r, http.StatusBadRequest, c.code)
		if c.field != "" && causeField(ae) != c.field {
			t.Errorf("%s: cause.field %q, want %q (%s)", c.name, causeField(ae), c.field, r.raw)
		}
	}
	// Nothing was stored by the refused requests, enrollments included.
	var names []string
	if err := e.store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindEdgeRouter, func(rec *fsm.Record) error {
			er, _ := fsm.As[*pb.EdgeRouter](rec)
			names = append(names, er.GetName())
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if strings.HasPrefix(n, "er-v") {
			t.Errorf("refused router %q was stored", n)
		}
	}
	if err := e.store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindEnrollment, func(rec *fsm.Record) error {
			en, _ := fsm.As[*pb.Enrollment](rec)
			if en.GetEdgeRouterId() != "" {
				if _, err := rd.Get(fsm.KindEdgeRouter, en.GetEdgeRouterId()); err != nil {
					t.Errorf("enrollment %s names missing router %s", rec.ID, en.GetEdgeRouterId())
				}
			}
			return nil
		})
	}); err != nil {
		t.Fatal(err)
	}

	// Updates validate the same way and change nothing when refused.
	id := newEdgeRouter(t, e, map[string]any{"name": "er-upd", "cost": 3})
	wantError(t, "patch cost", e.do(t, http.MethodPatch, mgmt+"/edge-routers/"+id, admin, map[string]any{"cost": 70000}), http.StatusBadRequest, api.CodeCouldNotValidate)
	wantError(t, "put without name", e.do(t, http.MethodPut, mgmt+"/edge-routers/"+id, admin, map[string]any{"cost": 4}), http.StatusBadRequest, api.CodeCouldNotValidate)
	wantError(t, "rename to taken", e.do(t, http.MethodPatch, mgmt+"/edge-routers/"+id, admin, map[string]any{"name": "er-taken"}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if d := getEdgeRouter(t, e, id); d["cost"] != float64(3) || d["name"] != "er-upd" {
		t.Errorf("refused updates changed the router: %v", d)
	}

	// Not found, and admins only.
	for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodPut, http.MethodDelete} {
		wantError(t, m+" unknown", e.do(t, m, mgmt+"/edge-routers/no-such-router", admin, map[string]any{"name": "x"}), http.StatusNotFound, api.CodeNotFound)
	}
	wantError(t, "re-enroll unknown", e.do(t, http.MethodPost, mgmt+"/edge-routers/no-such-router/re-enroll", admin, nil), http.StatusNotFound, api.CodeNotFound)
	user := e.userToken(t)
	wantError(t, "list as user", e.do(t, http.MethodGet, mgmt+"/edge-routers", user, nil), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, "create as user", e.do(t, http.MethodPost, mgmt+"/edge-routers", user, map[string]any{"name": "er-v8"}), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, "get anonymously", e.do(t, http.MethodGet, mgmt+"/edge-routers/"+id, "", nil), http.StatusUnauthorized, api.CodeUnauthorized)
}

// routerNames lists the names a router list answers, sorted unless sorted
// is set (then in answer order).
func routerNames(t *testing.T, e *testEnv, query string, sorted bool) ([]string, map[string]any) {
	t.Helper()
	r := e.do(t, http.MethodGet, mgmt+"/edge-routers?"+query, e.adminToken(t), nil)
	if r.status != http.StatusOK {
		t.Fatalf("list %q: %d %s", query, r.status, r.raw)
	}
	var names []string
	for _, it := range r.list() {
		names = append(names, it.(map[string]any)["name"].(string))
	}
	if !sorted {
		sort.Strings(names)
	}
	m, _ := r.body["meta"].(map[string]any)
	return names, m
}

func TestEdgeRouterList(t *testing.T) {
	e := env(t)
	for _, r := range []struct {
		name  string
		roles []string
		cost  int
	}{
		{"erl-a", []string{"erl-east", "erl-edge"}, 5},
		{"erl-b", []string{"erl-east"}, 1},
		{"erl-c", []string{"erl-west", "erl-edge"}, 9},
		{"erl-d", nil, 3},
	} {
		newEdgeRouter(t, e, map[string]any{"name": r.name, "roleAttributes": r.roles, "cost": r.cost})
	}
	q := func(filter string) string { return "filter=" + url.QueryEscape(filter) }
	join := func(s []string) string { return strings.Join(s, ",") }
	for _, c := range []struct {
		query  string
		sorted bool
		want   string
	}{
		{q(`name = "erl-b"`), false, "erl-b"},
		{q(`name startsWith "erl-"`), false, "erl-a,erl-b,erl-c,erl-d"},
		{q(`anyOf(roleAttributes) = "erl-edge"`), false, "erl-a,erl-c"},
		{q(`anyOf(roleAttributes) = "erl-east" and anyOf(roleAttributes) = "erl-edge"`), false, "erl-a"},
		{q(`name startsWith "erl-" and cost > 4`), false, "erl-a,erl-c"},
		{q(`name startsWith "erl-" and isVerified = false and isOnline = false`), false, "erl-a,erl-b,erl-c,erl-d"},
		{q(`name startsWith "erl-" sort by cost desc`), true, "erl-c,erl-a,erl-d,erl-b"},
		{q(`name startsWith "erl-"`) + "&sort=" + url.QueryEscape("name desc") + "&limit=2&offset=1", true, "erl-c,erl-b"},
		{"roleFilter=" + url.QueryEscape("#erl-east"), false, "erl-a,erl-b"},
		{"roleFilter=" + url.QueryEscape("#erl-east") + "&roleFilter=" + url.QueryEscape("#erl-edge"), false, "erl-a"},
		{"roleFilter=" + url.QueryEscape("#erl-east") + "&roleFilter=" + url.QueryEscape("#erl-west") + "&roleSemantic=AnyOf", false, "erl-a,erl-b,erl-c"},
		{"roleFilter=" + url.QueryEscape("#all") + "&" + q(`name in ["erl-d", "erl-b"]`), false, "erl-b,erl-d"},
	} {
		got, _ := routerNames(t, e, c.query, c.sorted)
		if join(got) != c.want {
			t.Errorf("%s: got %v, want %s", c.query, got, c.want)
		}
	}
	_, m := routerNames(t, e, q(`name startsWith "erl-"`)+"&limit=1", false)
	if p := obj(m["pagination"]); p["totalCount"] != float64(4) || p["limit"] != float64(1) {
		t.Errorf("pagination %v", m["pagination"])
	}
	if ff, _ := m["filterableFields"].([]any); len(ff) == 0 || !strings.Contains(join(anyStrings(ff)), "roleAttributes") {
		t.Errorf("filterableFields %v", m["filterableFields"])
	}
	// An id role picks that router whatever the attributes.
	id := newEdgeRouter(t, e, map[string]any{"name": "erl-e"})
	if got, _ := routerNames(t, e, "roleFilter="+url.QueryEscape("@"+id)+"&roleFilter="+url.QueryEscape("#erl-west"), false); join(got) != "erl-c,erl-e" {
		t.Errorf("id role: got %v", got)
	}
	for _, bad := range []string{
		"filter=" + url.QueryEscape(`nosuchfield = 1`),
		"filter=" + url.QueryEscape(`roleAttributes = "x"`),
		"roleFilter=plain",
		"roleFilter=" + url.QueryEscape("#a") + "&roleSemantic=SomeOf",
	} {
		r := e.do(t, http.MethodGet, mgmt+"/edge-routers?"+bad, e.adminToken(t), nil)
		wantError(t, bad, r, http.StatusBadRequest, api.CodeInvalidFilter)
	}
}

func anyStrings(v []any) []string {
	out := make([]string, 0, len(v))
	for _, s := range v {
		str, _ := s.(string)
		out = append(out, str)
	}
	return out
}
