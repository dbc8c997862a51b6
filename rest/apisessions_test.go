package rest

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/rest/api"
)

func TestAdminAPISessionsAndSummary(t *testing.T) {
	e := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := createUser(ctx, e.node, "sess-user", "sess-user", "sess-user-pw", false); err != nil {
		t.Fatal(err)
	}
	tok := e.login(t, ClientBase, "sess-user", "sess-user-pw")
	sid := e.do(t, http.MethodGet, ClientBase+"/current-api-session", tok, nil).data()["id"].(string)
	admin := e.adminToken(t)

	r := e.do(t, http.MethodGet, mgmt+"/api-sessions/"+sid, admin, nil)
	if r.status != http.StatusOK || dig(r.data(), "identity", "name") != "sess-user" {
		t.Fatalf("get session: %d %s", r.status, r.raw)
	}
	if bytes.Contains(r.raw, []byte(tok)) {
		t.Fatal("an admin view of a session reveals its token")
	}
	wantError(t, "non-admin", e.do(t, http.MethodGet, mgmt+"/api-sessions/"+sid, tok, nil), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, "unknown session", e.do(t, http.MethodGet, mgmt+"/api-sessions/nope", admin, nil), http.StatusNotFound, api.CodeNotFound)

	sum := e.do(t, http.MethodGet, mgmt+"/summary", admin, nil)
	if sum.status != http.StatusOK {
		t.Fatalf("summary: %d %s", sum.status, sum.raw)
	}
	for _, k := range []string{"identities", "authenticators", "apiSessions", "controllers"} {
		if n, _ := sum.data()[k].(float64); n < 1 {
			t.Errorf("summary %s = %v", k, sum.data()[k])
		}
	}

	if r := e.do(t, http.MethodDelete, mgmt+"/api-sessions/"+sid, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete session: %d %s", r.status, r.raw)
	}
	wantError(t, "deleted session", e.do(t, http.MethodGet, ClientBase+"/current-api-session", tok, nil), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, "delete again", e.do(t, http.MethodDelete, mgmt+"/api-sessions/"+sid, admin, nil), http.StatusNotFound, api.CodeNotFound)
}
