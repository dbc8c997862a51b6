package rest

import (
	"net/http"
	"net/url"
	"slices"
	"testing"
)

// Controller settings: "global" exists from the start; a member's own
// settings override it; the effective view merges them; the OAuth clients
// accept a callback only once the settings allow it; the global settings
// cannot be deleted; bad bodies are 400 and store nothing.
func TestControllerSettings(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	member := e.srv.node.ID()
	callback := "https://app.example/" + uniq("cb")
	q := url.Values{"client_id": {"native"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {callback},
		"code_challenge": {newPKCE().challenge}, "code_challenge_method": {"S256"}}
	authorize := func() int {
		return oidcDo(t, e.apiNode, http.MethodGet, "/oidc/authorize?"+q.Encode(), nil, nil).status
	}
	if s := authorize(); s != http.StatusBadRequest {
		t.Fatalf("a callback no setting allows: %d", s)
	}
	global := e.do(t, http.MethodGet, mgmt+"/controller-settings/global", admin, nil)
	if global.status != http.StatusOK {
		t.Fatalf("global: %d %s", global.status, global.raw)
	}
	// The member has no settings of its own yet: its effective ones are
	// the global ones.
	eff := e.do(t, http.MethodGet, mgmt+"/controller-settings/"+member+"/effective", admin, nil)
	if eff.status != http.StatusOK || eff.data()["id"] != member {
		t.Fatalf("effective without an instance: %d %s", eff.status, eff.raw)
	}
	if r := e.do(t, http.MethodPatch, mgmt+"/controller-settings/global/effective", admin,
		map[string]any{"oidc": map[string]any{"redirectUris": []string{callback}}}); r.status != http.StatusOK {
		t.Fatalf("patch global: %d %s", r.status, r.raw)
	}
	if s := authorize(); s != http.StatusFound {
		t.Fatalf("a callback the global settings allow: %d", s)
	}
	// The member's own list replaces the global one.
	if r := e.do(t, http.MethodPost, mgmt+"/controller-settings", admin, map[string]any{"controllerId": member,
		"oidc": map[string]any{"redirectUris": []string{"https://other.example/cb"}}}); r.status != http.StatusCreated || r.data()["id"] != member {
		t.Fatalf("create the member's: %d %s", r.status, r.raw)
	}
	eff = e.do(t, http.MethodGet, mgmt+"/controller-settings/"+member+"/effective", admin, nil)
	got := obj(obj(eff.data()["effective"])["oidc"])["redirectUris"].([]any)
	if len(got) != 1 || got[0] != "https://other.example/cb" {
		t.Fatalf("effective with an instance: %s", eff.raw)
	}
	if s := authorize(); s != http.StatusBadRequest {
		t.Fatalf("a callback the member's settings replace: %d", s)
	}
	l := e.do(t, http.MethodGet, mgmt+"/controller-settings", admin, nil)
	var ids []string
	for _, item := range l.list() {
		ids = append(ids, obj(item)["id"].(string))
	}
	if !slices.Contains(ids, "global") || !slices.Contains(ids, member) {
		t.Errorf("list: %v", ids)
	}
	// Deleting the member's brings the global ones back.
	if r := e.do(t, http.MethodDelete, mgmt+"/controller-settings/"+member+"/effective", admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if s := authorize(); s != http.StatusFound {
		t.Fatalf("after the member's settings are gone: %d", s)
	}
	wantError(t, "delete global", e.do(t, http.MethodDelete, mgmt+"/controller-settings/global/effective", admin, nil), http.StatusConflict, "CONFLICT")

	before := e.count(t, "controllerSettings")
	wantFieldError(t, "unknown controller", e.do(t, http.MethodPost, mgmt+"/controller-settings", admin, map[string]any{"controllerId": "nobody"}), "controllerId")
	wantFieldError(t, "global again", e.do(t, http.MethodPost, mgmt+"/controller-settings", admin, map[string]any{"controllerId": "global"}), "controllerId")
	for _, bad := range []string{"/relative", "javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "http://app.example/cb",
		"https://user@app.example/cb", "https://app.example/cb#frag", "vbscript:x", "https:///nohost"} {
		wantFieldError(t, "callback "+bad, e.do(t, http.MethodPost, mgmt+"/controller-settings", admin, map[string]any{"controllerId": member,
			"oidc": map[string]any{"postLogoutUris": []string{bad}}}), "oidc.postLogoutUris")
	}
	for _, good := range []string{"https://app.example/cb", "http://127.0.0.1:8080/cb", "com.example.app:/cb", "openziti://auth/other"} {
		if why := badCallback(good); why != "" {
			t.Errorf("callback %s refused: %s", good, why)
		}
	}
	if n := e.count(t, "controllerSettings"); n != before {
		t.Errorf("refused settings stored %d", n-before)
	}
	wantError(t, "effective of nobody", e.do(t, http.MethodGet, mgmt+"/controller-settings/nobody/effective", admin, nil), http.StatusNotFound, "NOT_FOUND")
	if r := e.do(t, http.MethodPatch, mgmt+"/controller-settings/global/effective", admin,
		map[string]any{"oidc": map[string]any{"redirectUris": []string{}}}); r.status != http.StatusOK {
		t.Fatalf("reset global: %d %s", r.status, r.raw)
	}
}

// Revoked OAuth tokens are refused by the token endpoint: a refresh token
// for a refresh or an exchange, an access token for an exchange.
func TestRevokedOAuthTokens(t *testing.T) {
	e := env(t)
	tokens := oidcPasswordTokens(t, e.apiNode, userUsername, userPassword)
	refresh, access := tokens["refresh_token"].(string), tokens["access_token"].(string)
	for _, tok := range []string{refresh, access} {
		if r := e.do(t, http.MethodPost, mgmt+"/revocations", e.adminToken(t), map[string]any{"id": jwtID(t, tok), "type": "JTI"}); r.status != http.StatusCreated {
			t.Fatalf("revoke: %d %s", r.status, r.raw)
		}
	}
	wantOAuthError(t, "a revoked refresh token", oidcDo(t, e.apiNode, http.MethodPost, "/oidc/oauth/token", url.Values{"grant_type": {"refresh_token"},
		"client_id": {"native"}, "refresh_token": {refresh}}, nil), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, "a revoked refresh token exchanged", exchange(t, e.apiNode, refresh, refreshType, accessType), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, "a revoked access token exchanged", exchange(t, e.apiNode, access, accessType, accessType), http.StatusBadRequest, "invalid_grant")
}
