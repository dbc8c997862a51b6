package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/api"
)

func listNames(t *testing.T, e *testEnv, filter string, extra string) ([]string, map[string]any) {
	t.Helper()
	r := e.do(t, http.MethodGet, mgmt+"/identities?filter="+url.QueryEscape(filter)+extra, e.adminToken(t), nil)
	if r.status != http.StatusOK {
		t.Fatalf("list %q: %d %s", filter, r.status, r.raw)
	}
	var names []string
	for _, it := range r.list() {
		names = append(names, it.(map[string]any)["name"].(string))
	}
	m, _ := r.body["meta"].(map[string]any)
	return names, m
}

func TestIdentityListFilters(t *testing.T) {
	e := env(t)
	for i := 0; i < 6; i++ {
		roles := []string{"fleet"}
		if i%2 == 0 {
			roles = append(roles, "even")
		}
		env := "dev"
		if i < 3 {
			env = "prod"
		}
		newIdentity(t, e, map[string]any{"name": fmt.Sprintf("lst-%d", i), "type": "Device", "isAdmin": false,
			"roleAttributes": roles, "tags": map[string]any{"env": env}})
	}
	cases := []struct {
		filter string
		want   string
	}{
		{`name startsWith "lst-"`, "lst-0 lst-1 lst-2 lst-3 lst-4 lst-5"},                         // name index prefix
		{`name = "lst-3"`, "lst-3"},                                                               // name index
		{`name in ["lst-1", "lst-4", "nope"]`, "lst-1 lst-4"},                                     // name index, several keys
		{`anyOf(roleAttributes) = "even"`, "lst-0 lst-2 lst-4"},                                   // role index
		{`tags.env = "prod" and name startsWith "lst-"`, "lst-0 lst-1 lst-2"},                     // tag index
		{`anyOf(roleAttributes) = "fleet" and not (tags.env = "prod")`, "lst-3 lst-4 lst-5"},      // full match after index
		{`name contains "lst-" and (name = "lst-0" or name = "lst-5")`, "lst-0 lst-5"},            // full scan
		{`name STARTSWITH "lst-" AND typeId = "Device" SORT BY name DESC LIMIT 2`, "lst-5 lst-4"}, // keywords any case
		{`name startsWith "lst-" sort by name skip 4`, "lst-4 lst-5"},                             // skip
		{`name startsWith "lst-" and createdAt > datetime(2000-01-01T00:00:00Z)`, "lst-0 lst-1 lst-2 lst-3 lst-4 lst-5"},
	}
	for _, c := range cases {
		names, _ := listNames(t, e, c.filter, "&limit=50")
		if !strings.Contains(c.filter, "sort by") && !strings.Contains(c.filter, "SORT BY") {
			sort.Strings(names)
		}
		if got := strings.Join(names, " "); got != c.want {
			t.Errorf("%s: got %q want %q", c.filter, got, c.want)
		}
	}
	// The sort parameter, when the filter has no sort by.
	names, _ := listNames(t, e, `name startsWith "lst-" limit 3`, "&sort="+url.QueryEscape("name desc"))
	if strings.Join(names, " ") != "lst-5 lst-4 lst-3" {
		t.Fatalf("sort parameter: %v", names)
	}
	// Paging metadata and filterable fields.
	names, m := listNames(t, e, `name startsWith "lst-" sort by name`, "&limit=2&offset=1")
	if strings.Join(names, " ") != "lst-1 lst-2" {
		t.Fatalf("page: %v", names)
	}
	p, _ := m["pagination"].(map[string]any)
	if p["limit"] != float64(2) || p["offset"] != float64(1) || p["totalCount"] != float64(6) {
		t.Fatalf("pagination %v", p)
	}
	if ff, _ := m["filterableFields"].([]any); len(ff) < 5 {
		t.Fatalf("filterableFields %v", m["filterableFields"])
	}
	// Unfiltered: default limit 10, total counts everything.
	all, m := listNames(t, e, "", "")
	if len(all) != 10 && len(all) != int(m["pagination"].(map[string]any)["totalCount"].(float64)) {
		t.Fatalf("default page has %d items", len(all))
	}
}

func TestListErrors(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	for _, f := range []string{`name = `, `name = "x" and`, `nosuchfield = "x"`, `name > 3`, `(((`, `name = "x" limit -1`, `anyOf(name) = "x"`} {
		r := e.do(t, http.MethodGet, mgmt+"/identities?filter="+url.QueryEscape(f), admin, nil)
		ae := wantError(t, "filter "+f, r, http.StatusBadRequest, api.CodeInvalidFilter)
		if msg, _ := ae["causeMessage"].(string); !strings.Contains(msg, "position") {
			t.Errorf("filter %q: error does not name a position: %v", f, ae)
		}
	}
	for _, q := range []string{"sort=nosuchfield", "sort=" + url.QueryEscape("name sideways"), "sort=" + url.QueryEscape("name limit 3")} {
		wantError(t, q, e.do(t, http.MethodGet, mgmt+"/identities?"+q, admin, nil), http.StatusBadRequest, api.CodeInvalidFilter)
	}
	for _, q := range []string{"limit=-1", "limit=x", "offset=-5"} {
		wantError(t, q, e.do(t, http.MethodGet, mgmt+"/identities?"+q, admin, nil), http.StatusBadRequest, api.CodeInvalidPagination)
	}
	r := e.do(t, http.MethodGet, mgmt+"/identities?limit=100000", admin, nil)
	if p := r.body["meta"].(map[string]any)["pagination"].(map[string]any); p["limit"] != float64(500) {
		t.Fatalf("limit not capped: %v", p)
	}
	wantError(t, "non-admin list", e.do(t, http.MethodGet, mgmt+"/identities", e.userToken(t), nil), http.StatusUnauthorized, api.CodeUnauthorized)
	for _, p := range []string{"/authenticators", "/api-sessions", "/identity-role-attributes", "/controllers"} {
		if r := e.do(t, http.MethodGet, mgmt+p+"?filter="+url.QueryEscape(`id != "x"`), admin, nil); r.status != http.StatusOK {
			t.Errorf("%s: %d %s", p, r.status, r.raw)
		}
	}
	mine := e.do(t, http.MethodGet, ClientBase+"/current-identity/authenticators", e.userToken(t), nil)
	if mine.status != http.StatusOK || len(mine.list()) != 1 {
		t.Fatalf("own authenticators: %d %s", mine.status, mine.raw)
	}
}

func TestIdentityAuthenticatorsList(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "with-auths", "type": "User", "isAdmin": false})
	if r := e.do(t, http.MethodPost, mgmt+"/authenticators", admin, map[string]any{
		"method": "updb", "identityId": id, "username": "with-auths-user", "password": "with-auths-pw"}); r.status != http.StatusCreated {
		t.Fatalf("create authenticator: %d %s", r.status, r.raw)
	}
	r := e.do(t, http.MethodGet, mgmt+"/identities/"+id+"/authenticators", admin, nil)
	if r.status != http.StatusOK || len(r.list()) != 1 || r.list()[0].(map[string]any)["username"] != "with-auths-user" {
		t.Fatalf("identity's authenticators: %d %s", r.status, r.raw)
	}
	// Another identity's list does not include it.
	other := newIdentity(t, e, map[string]any{"name": "without-auths", "type": "User", "isAdmin": false})
	if r := e.do(t, http.MethodGet, mgmt+"/identities/"+other+"/authenticators", admin, nil); r.status != http.StatusOK || len(r.list()) != 0 {
		t.Fatalf("other identity's authenticators: %d %s", r.status, r.raw)
	}
	wantError(t, "unknown identity", e.do(t, http.MethodGet, mgmt+"/identities/nope/authenticators", admin, nil), http.StatusNotFound, api.CodeNotFound)
	// The spec gives this endpoint no filter: one is ignored, not refused.
	if r := e.do(t, http.MethodGet, mgmt+"/identities/"+id+"/authenticators?filter=method%20%3D", admin, nil); r.status != http.StatusOK || len(r.list()) != 1 {
		t.Fatalf("filter parameter not ignored: %d %s", r.status, r.raw)
	}
}

// Queries that do not decode, and sorts beyond their bounds, are 400s,
// never an unfiltered list.
func TestMalformedQueriesAndLongSortsAreRefused(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	keys := make([]string, 17)
	for i := range keys {
		keys[i] = "name"
	}
	for what, q := range map[string]string{
		"bad percent-encoding": "?filter=%zz",
		"bad escape in a name": "?fil%zzter=true",
		"a semicolon":          "?limit=1;offset=2",
		"17 sort keys":         "?sort=" + strings.Join(keys, ","),
		"a 1.1 KB sort":        "?sort=name" + strings.Repeat("%20", 1100) + "asc",
	} {
		r := e.do(t, http.MethodGet, mgmt+"/identities"+q, admin, nil)
		if r.status != http.StatusBadRequest {
			t.Errorf("%s: %d %s", what, r.status, r.raw)
		}
	}
}
