package rest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// jwtID reads a JWT's jti without checking it.
func jwtID(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.ID == "" {
		t.Fatalf("no jti in %s: %v", raw, err)
	}
	return claims.ID
}

// A revocation of a token's jti refuses that token only; of an API session,
// every token of the session; of an identity, every session it has, while
// a new login works. Bad bodies are 400 and store nothing; a missing
// session or identity is 404; revoking again renews the revocation.
func TestRevocations(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": uniq("rev"), "type": "User", "isAdmin": false})
	user := uniq("rev-user")
	createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": id, "username": user, "password": "rev-pw-123"})
	works := func(what, access string, want bool) {
		t.Helper()
		r := e.bearer(t, http.MethodGet, ClientBase+"/current-identity", access)
		if (r.status == http.StatusOK) != want {
			t.Errorf("%s: %d, want working %v", what, r.status, want)
		}
	}
	revoke := func(typ, target string) *response {
		t.Helper()
		return e.do(t, http.MethodPost, mgmt+"/revocations", admin, map[string]any{"id": target, "type": typ})
	}

	// JTI: that token only.
	s1, a1 := loginWithAccessToken(t, e, user, "rev-pw-123")
	_, a2 := loginWithAccessToken(t, e, user, "rev-pw-123")
	if r := revoke("JTI", jwtID(t, a1)); r.status != http.StatusCreated || r.data()["id"] != jwtID(t, a1) {
		t.Fatalf("revoke jti: %d %s", r.status, r.raw)
	}
	works("the revoked token", a1, false)
	// The session itself lives on: its zt-session token still works.
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", s1, nil); r.status != http.StatusOK {
		t.Errorf("the session of a revoked token: %d", r.status)
	}
	works("another session's token", a2, true)
	d := e.do(t, http.MethodGet, mgmt+"/revocations/"+jwtID(t, a1), admin, nil).data()
	if d["type"] != "JTI" || d["expiresAt"] == nil {
		t.Errorf("detail: %v", d)
	}

	// API_SESSION: the session goes.
	s3, a3 := loginWithAccessToken(t, e, user, "rev-pw-123")
	sessID := e.do(t, http.MethodGet, ClientBase+"/current-api-session", s3, nil).data()["id"].(string)
	if r := revoke("API_SESSION", sessID); r.status != http.StatusCreated {
		t.Fatalf("revoke session: %d %s", r.status, r.raw)
	}
	works("a revoked session's access token", a3, false)
	wantError(t, "the revoked session", e.do(t, http.MethodGet, mgmt+"/api-sessions/"+sessID, admin, nil), http.StatusNotFound, "NOT_FOUND")

	// IDENTITY: every session; a new login works.
	_, a4 := loginWithAccessToken(t, e, user, "rev-pw-123")
	if r := revoke("IDENTITY", id); r.status != http.StatusCreated {
		t.Fatalf("revoke identity: %d %s", r.status, r.raw)
	}
	works("the identity's older token", a2, false)
	works("the identity's newest token", a4, false)
	_, a5 := loginWithAccessToken(t, e, user, "rev-pw-123")
	works("a login after the revocation", a5, true)
	// Again: renewed, not refused.
	if r := revoke("IDENTITY", id); r.status != http.StatusCreated {
		t.Fatalf("revoke again: %d %s", r.status, r.raw)
	}

	before := e.count(t, "revocations")
	wantError(t, "unknown session", revoke("API_SESSION", "no-such-session"), http.StatusNotFound, "NOT_FOUND")
	wantError(t, "unknown identity", revoke("IDENTITY", "no-such-identity"), http.StatusNotFound, "NOT_FOUND")
	wantFieldError(t, "no id", e.do(t, http.MethodPost, mgmt+"/revocations", admin, map[string]any{"type": "JTI"}), "id")
	wantFieldError(t, "bad type", revoke("EVERYTHING", "x"), "type")
	wantFieldError(t, "no type", e.do(t, http.MethodPost, mgmt+"/revocations", admin, map[string]any{"id": "x"}), "type")
	if n := e.count(t, "revocations"); n != before {
		t.Errorf("refused revocations stored %d", n-before)
	}
	if r := e.do(t, http.MethodGet, mgmt+"/revocations?filter="+queryEscape(`type = "IDENTITY"`), admin, nil); r.status != http.StatusOK || len(r.list()) == 0 {
		t.Errorf("list: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodGet, mgmt+"/revocations", e.userToken(t), nil); r.status != http.StatusUnauthorized {
		t.Errorf("a non-admin lists revocations: %d", r.status)
	}
}

// A login that commits while an IDENTITY revocation is being made (after
// the revocation read the identity's sessions, before it committed) is
// refused too: its session is older than the revocation.
func TestRevocationRefusesSessionsInTheWindow(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": uniq("rev-window"), "type": "User", "isAdmin": false})
	if r := e.do(t, http.MethodPost, mgmt+"/revocations", admin, map[string]any{"id": id, "type": "IDENTITY"}); r.status != http.StatusCreated {
		t.Fatalf("revoke: %d %s", r.status, r.raw)
	}
	// The window's login: a session whose command time precedes the
	// revocation's, committed after it.
	session := func(token string, at time.Time) {
		t.Helper()
		op, err := fsm.CreateOp(fsm.KindApiSession, uuid.NewString(), &pb.ApiSession{IdentityId: id, TokenHash: edge.TokenHash(token),
			LastActivityAt: time.Now().UnixNano(), ExpirationSeconds: 600}, nil)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if res, _, err := e.apiNode.node.Apply(ctx, &pb.Command{Timestamp: at.UnixNano(), Ops: []*pb.Op{op}}); err != nil || res.GetCode() != pb.Result_OK {
			t.Fatalf("session: %v %v", res, err)
		}
	}
	session("window-token-"+id, time.Now().Add(-time.Second))
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", "window-token-"+id, nil); r.status != http.StatusUnauthorized {
		t.Errorf("a session from the revocation's window: %d", r.status)
	}
	session("later-token-"+id, time.Now())
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", "later-token-"+id, nil); r.status != http.StatusOK {
		t.Errorf("a session after the revocation: %d %s", r.status, r.raw)
	}
}
