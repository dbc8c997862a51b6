package rest

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

func TestAuthenticateSuccess(t *testing.T) {
	e := env(t)
	for _, ap := range apis {
		t.Run(ap.name, func(t *testing.T) {
			before := time.Now()
			r := e.do(t, http.MethodPost, ap.base+"/authenticate?method=password", "",
				map[string]any{"username": adminUsername, "password": adminPassword, "configTypes": []string{"all"}})
			if r.status != http.StatusOK {
				t.Fatalf("status %d, want 200: %s", r.status, r.raw)
			}
			d := r.data()
			token, _ := d["token"].(string)
			if token == "" {
				t.Fatalf("no data.token in %s", r.raw)
			}
			if hdr := r.header.Get("zt-session"); hdr != token {
				t.Errorf("zt-session header %q, body token %q", hdr, token)
			}
			ident := obj(d["identity"])
			if name, _ := ident["name"].(string); name != adminName {
				t.Errorf("identity.name %q, want %q", name, adminName)
			}
			if id, _ := ident["id"].(string); id == "" || d["identityId"] != id {
				t.Errorf("identity.id %q, identityId %v", id, d["identityId"])
			}
			exp, err := time.Parse(time.RFC3339Nano, stringOf(d["expiresAt"]))
			if err != nil {
				t.Fatalf("expiresAt %v: %v", d["expiresAt"], err)
			}
			if !exp.After(time.Now()) {
				t.Errorf("expiresAt %v is not in the future", exp)
			}
			if lo, hi := before.Add(29*time.Minute), time.Now().Add(31*time.Minute); exp.Before(lo) || exp.After(hi) {
				t.Errorf("expiresAt %v, want about 30 minutes from now", exp)
			}
			secs, _ := d["expirationSeconds"].(float64)
			if secs < 1790 || secs > 1800 {
				t.Errorf("expirationSeconds %v, want about 1800", d["expirationSeconds"])
			}
			if ct, _ := d["configTypes"].([]any); len(ct) != 1 || ct[0] != "all" {
				t.Errorf("configTypes %v, want [all]", d["configTypes"])
			}
			// The new token works on the other API too.
			other := ManagementBase
			if ap.base == ManagementBase {
				other = ClientBase
			}
			if r := e.do(t, http.MethodGet, other+"/current-api-session", token, nil); r.status != http.StatusOK {
				t.Errorf("token from %s refused on %s: %d %s", ap.base, other, r.status, r.raw)
			}
		})
	}
}

func TestAuthenticateFailures(t *testing.T) {
	e := env(t)
	const pw = "/authenticate?method=password"
	cases := []struct {
		name   string
		path   string
		body   any
		status int
		code   string
		field  string // error.cause.field, when the answer names one
	}{
		{"wrong password", pw, map[string]string{"username": adminUsername, "password": "not-the-password"}, 401, api.CodeInvalidAuth, ""},
		{"unknown user", pw, map[string]string{"username": "nobody-here", "password": adminPassword}, 401, api.CodeInvalidAuth, ""},
		{"disabled identity", pw, map[string]string{"username": disabledUsername, "password": disabledPassword}, 401, api.CodeInvalidAuth, ""},
		{"missing method", "/authenticate", map[string]string{"username": adminUsername, "password": adminPassword}, 400, api.CodeCouldNotValidate, "method"},
		{"bogus method", "/authenticate?method=bogus", map[string]string{"username": adminUsername, "password": adminPassword}, 400, api.CodeInvalidAuthMethod, "method"},
		{"body not JSON", pw, "username=admin&password=x", 400, api.CodeCouldNotParseBody, ""},
		{"truncated JSON", pw, `{"username": "admin-user", "password": `, 400, api.CodeCouldNotParseBody, ""},
		{"username is a number", pw, `{"username": 12345, "password": "admin-password-1"}`, 400, api.CodeCouldNotValidate, "username"},
		{"empty body", pw, "", 400, api.CodeCouldNotValidate, "username"},
		{"missing password", pw, map[string]string{"username": adminUsername}, 400, api.CodeCouldNotValidate, ""},
		{"envInfo not an object", pw, `{"username": "admin-user", "password": "admin-password-1", "envInfo": 7}`, 400, api.CodeCouldNotValidate, "envInfo"},
	}
	for _, ap := range apis {
		for _, c := range cases {
			t.Run(ap.name+"/"+c.name, func(t *testing.T) {
				r := e.do(t, http.MethodPost, ap.base+c.path, "", c.body)
				er := wantError(t, c.name, r, c.status, c.code)
				if c.field != "" && causeField(er) != c.field {
					t.Errorf("error.cause.field %q, want %q: %s", causeField(er), c.field, r.raw)
				}
				if r.header.Get("zt-session") != "" {
					t.Errorf("failed login set a zt-session header")
				}
			})
		}
	}
}

// TestAuthenticateBodyTooLarge: a body over the 1 MiB limit is refused
// without being parsed. The answer must also be one the spec documents for
// POST /authenticate (200, 400, 401, 429).
func TestAuthenticateBodyTooLarge(t *testing.T) {
	e := env(t)
	big := `{"username": "admin-user", "password": "admin-password-1", "configTypes": ["` +
		strings.Repeat("x", api.MaxBody) + `"]}`
	r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", big)
	if r.status < 400 || r.status >= 500 {
		t.Fatalf("status %d, want 4xx: %.300s", r.status, r.raw)
	}
	if r.status != http.StatusBadRequest {
		t.Errorf("BUG: oversized body answered %d; POST /authenticate documents only 200, 400, 401 and 429, so it should be 400 COULD_NOT_PARSE_BODY (envelope.go decodeBody)", r.status)
	}
	wantError(t, "body > 1 MiB", r, r.status, api.CodeCouldNotParseBody)
	if r.header.Get("zt-session") != "" {
		t.Error("an oversized login was let in")
	}
}

// TestAuthenticateClientInfoIsBounded: what a login says about its client
// is replicated with its session, so it is bounded; 40,000 keys of envInfo
// were once stored and replicated.
func TestAuthenticateClientInfoIsBounded(t *testing.T) {
	e := env(t)
	keys := make([]string, 40000)
	for i := range keys {
		keys[i] = fmt.Sprintf(`"k%d":"v"`, i)
	}
	before := e.count(t, fsm.KindApiSession)
	for field, body := range map[string]string{
		"envInfo":     `{"username":"admin-user","password":"admin-password-1","envInfo":{` + strings.Join(keys, ",") + `}}`,
		"sdkInfo":     `{"username":"admin-user","password":"admin-password-1","sdkInfo":{"a":"` + strings.Repeat("x", 5000) + `"}}`,
		"configTypes": `{"username":"admin-user","password":"admin-password-1","configTypes":["` + strings.Repeat("x", 2000) + `"]}`,
		"duplicate":   `{"username":"admin-user","password":"admin-password-1","password":"other"}`,
	} {
		r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", body)
		if r.status != http.StatusBadRequest || r.header.Get("zt-session") != "" {
			t.Errorf("%s: %d %.200s", field, r.status, r.raw)
		}
	}
	if got := e.count(t, fsm.KindApiSession); got != before {
		t.Errorf("%d sessions were created", got-before)
	}
	ok := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "",
		`{"username":"admin-user","password":"admin-password-1","envInfo":{"os":"linux","arch":"amd64"},"sdkInfo":{"type":"garrison-test"}}`)
	if ok.status != http.StatusOK {
		t.Fatalf("a login with ordinary client info: %d %s", ok.status, ok.raw)
	}
	e.do(t, http.MethodDelete, ClientBase+"/current-api-session", ok.data()["token"].(string), nil)
}

func TestCurrentAPISession(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	for _, ap := range apis {
		t.Run(ap.name, func(t *testing.T) {
			r := e.do(t, http.MethodGet, ap.base+"/current-api-session", token, nil)
			if r.status != http.StatusOK {
				t.Fatalf("status %d: %s", r.status, r.raw)
			}
			if got := r.data()["token"]; got != token {
				t.Errorf("data.token %v, want the caller's token", got)
			}
			if name := stringOf(obj(r.data()["identity"])["name"]); name != adminName {
				t.Errorf("identity.name %q, want %q", name, adminName)
			}
			r = e.do(t, http.MethodGet, ap.base+"/current-api-session", "", nil)
			wantError(t, "no token", r, http.StatusUnauthorized, api.CodeUnauthorized)
			r = e.do(t, http.MethodGet, ap.base+"/current-api-session", "not-a-real-token", nil)
			wantError(t, "garbage token", r, http.StatusUnauthorized, api.CodeUnauthorized)
		})
	}
}

func TestLogout(t *testing.T) {
	e := env(t)
	token := e.login(t, ManagementBase, adminUsername, adminPassword)
	r := e.do(t, http.MethodDelete, ClientBase+"/current-api-session", token, nil)
	if r.status != http.StatusOK {
		t.Fatalf("logout: status %d: %s", r.status, r.raw)
	}
	if d, ok := r.body["data"].(map[string]any); !ok || len(d) != 0 {
		t.Errorf("logout answered data %v, want the empty envelope", r.body["data"])
	}
	if _, ok := r.body["meta"].(map[string]any); !ok {
		t.Errorf("logout answer has no meta: %s", r.raw)
	}
	for _, ap := range apis {
		r := e.do(t, http.MethodGet, ap.base+"/current-api-session", token, nil)
		wantError(t, "ended token on "+ap.name, r, http.StatusUnauthorized, api.CodeUnauthorized)
		r = e.do(t, http.MethodGet, ap.base+"/current-identity", token, nil)
		wantError(t, "ended token, current-identity on "+ap.name, r, http.StatusUnauthorized, api.CodeUnauthorized)
	}
	r = e.do(t, http.MethodDelete, ManagementBase+"/current-api-session", token, nil)
	wantError(t, "second logout", r, http.StatusUnauthorized, api.CodeUnauthorized)
	// Other sessions of the same identity live on.
	if r := e.do(t, http.MethodGet, ClientBase+"/current-api-session", e.adminToken(t), nil); r.status != http.StatusOK {
		t.Errorf("another session of the admin ended too: %d %s", r.status, r.raw)
	}
}

func TestCurrentIdentity(t *testing.T) {
	e := env(t)
	for _, who := range []struct {
		token    string
		name     string
		username string
		admin    bool
	}{
		{e.adminToken(t), adminName, adminUsername, true},
		{e.userToken(t), userName, userUsername, false},
	} {
		for _, ap := range apis {
			t.Run(who.name+"/"+ap.name, func(t *testing.T) {
				r := e.do(t, http.MethodGet, ap.base+"/current-identity", who.token, nil)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				d := r.data()
				if d["name"] != who.name {
					t.Errorf("name %v, want %q", d["name"], who.name)
				}
				if d["isAdmin"] != who.admin {
					t.Errorf("isAdmin %v, want %v", d["isAdmin"], who.admin)
				}
				if d["isDefaultAdmin"] != who.admin {
					t.Errorf("isDefaultAdmin %v, want %v", d["isDefaultAdmin"], who.admin)
				}
				updb := obj(obj(d["authenticators"])["updb"])
				if updb == nil || updb["username"] != who.username {
					t.Errorf("authenticators.updb %v, want username %q", d["authenticators"], who.username)
				}
				if d["hasApiSession"] != true {
					t.Errorf("hasApiSession %v, want true", d["hasApiSession"])
				}
				if d["disabled"] != false {
					t.Errorf("disabled %v, want false", d["disabled"])
				}
			})
		}
	}
	r := e.do(t, http.MethodGet, ClientBase+"/current-identity", "", nil)
	wantError(t, "current-identity without a session", r, http.StatusUnauthorized, api.CodeUnauthorized)
}

// TestSessionStaysAliveWhileUsed: a session ends after SessionTimeout of
// inactivity, not SessionTimeout after login. (auth.go documents expiresAt
// as "when a session ends unless it is used again"; the design batches
// last-activity writes.) The API server here shares the cluster but ends
// idle sessions after two seconds.
func TestSessionStaysAliveWhileUsed(t *testing.T) {
	t.Parallel()
	e := env(t)
	short := newShortSessionServer(t, e, 2*time.Second)
	token := short.login(t, ClientBase, adminUsername, adminPassword)
	start := time.Now()
	for time.Since(start) < 3500*time.Millisecond {
		r := short.do(t, http.MethodGet, ClientBase+"/current-api-session", token, nil)
		if r.status != http.StatusOK {
			t.Fatalf("BUG: a session used every 300ms ended %v after login (timeout 2s): %d %s",
				time.Since(start).Round(100*time.Millisecond), r.status, r.raw)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// TestSessionExpiresWhenIdle: an unused session ends after SessionTimeout.
func TestSessionExpiresWhenIdle(t *testing.T) {
	t.Parallel()
	e := env(t)
	short := newShortSessionServer(t, e, time.Second)
	token := short.login(t, ClientBase, adminUsername, adminPassword)
	time.Sleep(1500 * time.Millisecond)
	r := short.do(t, http.MethodGet, ClientBase+"/current-api-session", token, nil)
	wantError(t, "idle session", r, http.StatusUnauthorized, api.CodeUnauthorized)
}

// newShortSessionServer serves a second API server of the shared node with
// another session timeout, over TLS.
func newShortSessionServer(t *testing.T, e *testEnv, timeout time.Duration) *apiNode {
	t.Helper()
	srv := New(Config{Node: e.node, Store: e.store, AdvertiseURL: e.url, Log: quietLog(), SessionTimeout: timeout})
	n := *e.apiNode
	n.srv = srv
	n.ts = newTLSServer(t, srv.Handler(), e.cert)
	n.url = n.ts.URL
	return &n
}

func stringOf(v any) string {
	s, _ := v.(string)
	return s
}

// What an SDK asks right after logging in: its services (as policies say:
// servicepolicies_test.go), its edge routers (none: there are no
// edge-router policies yet), and when its services last changed.
func TestClientSessionLists(t *testing.T) {
	e := env(t)
	token := e.login(t, ClientBase, userUsername, userPassword)
	sess := e.do(t, http.MethodGet, ClientBase+"/current-api-session", token, nil)
	created, _ := sess.data()["createdAt"].(string)
	r := e.do(t, http.MethodGet, ClientBase+"/current-api-session/service-updates", token, nil)
	if r.status != http.StatusOK || r.data()["lastChangeAt"] != created || created == "" {
		t.Fatalf("service updates: %d %s (session created %q)", r.status, r.raw, created)
	}
	// A new service moves it: the SDK lists its services again.
	createOK(t, e, "/services", map[string]any{"name": uniq("svc-moves"), "encryptionRequired": true})
	r = e.do(t, http.MethodGet, ClientBase+"/current-api-session/service-updates", token, nil)
	moved, _ := r.data()["lastChangeAt"].(string)
	mt, err1 := time.Parse(time.RFC3339Nano, moved)
	ct, err2 := time.Parse(time.RFC3339Nano, created)
	if r.status != http.StatusOK || err1 != nil || err2 != nil || !mt.After(ct) {
		t.Fatalf("service updates after a new service: %d %s (session created %q)", r.status, r.raw, created)
	}
	for p, empty := range map[string]bool{"/services?limit=500&offset=0": false, "/current-identity/edge-routers": true} {
		r := e.do(t, http.MethodGet, ClientBase+p, token, nil)
		// The SDK reads meta.pagination.totalCount and fails without it.
		pagination, _ := r.body["meta"].(map[string]any)["pagination"].(map[string]any)
		total, ok := pagination["totalCount"].(float64)
		if r.status != http.StatusOK || !ok || int(total) != len(r.list()) || (empty && total != 0) {
			t.Fatalf("%s: %d %s", p, r.status, r.raw)
		}
	}
	for _, p := range []string{"/current-api-session/service-updates", "/services", "/current-identity/edge-routers"} {
		wantError(t, p, e.do(t, http.MethodGet, ClientBase+p, "", nil), http.StatusUnauthorized, api.CodeUnauthorized)
	}
}
