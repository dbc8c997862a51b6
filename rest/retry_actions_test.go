package rest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// The action endpoints answer a retry (the same Idempotency-Key) whose
// first attempt took effect with that attempt's outcome, not one judged
// against the state it left: a spent code, a verified or deleted
// enrollment, a session certificate slot taken.

// sendKeyed sends a request with an Idempotency-Key (keyed), checked
// against the spec.
func sendKeyed(t *testing.T, e *testEnv, method, path, token, key string, body any, header ...string) *response {
	t.Helper()
	return e.doWithHeader(t, method, path, token, body, keyed(key, header...))
}

// mfaUser is a password user enrolled in MFA: its id, its session token,
// its TOTP secret and a new login.
type mfaUser struct {
	id, token, secret string
	login             func() string
}

// newMfaUser enrolls a new user, and verifies the enrollment (spending
// the step-0 code) if verified.

func newMfaUser(t *testing.T, e *testEnv, verified bool) *mfaUser {
	t.Helper()
	id, token := userWith(t, e)
	name := e.do(t, http.MethodGet, mgmt+"/identities/"+id, e.adminToken(t), nil).data()["name"].(string)
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa", token, nil); r.status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.status, r.raw)
	}
	d := e.do(t, http.MethodGet, ClientBase+"/current-identity/mfa", token, nil).data()
	u, err := url.Parse(stringOf(d["provisioningUrl"]))
	if err != nil {
		t.Fatal(err)
	}
	m := &mfaUser{id: id, token: token, secret: u.Query().Get("secret"),
		login: func() string { return e.login(t, ClientBase, name, "sp-password-1") }}
	if verified {
		if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa/verify", token, map[string]any{"code": totpAt(t, m.secret, 0)}); r.status != http.StatusOK {
			t.Fatalf("verify: %d %s", r.status, r.raw)
		}
	}
	return m
}

// storedMfa is the identity's enrollment as stored, nil if none.
func storedMfa(t *testing.T, e *testEnv, identityID string) *pb.Mfa {
	t.Helper()
	_, m, err := e.srv.loadMfa(identityID)
	if err != nil && !isNotFound(err) {
		t.Fatal(err)
	}
	return m
}

// wantMfaFailures fails the test unless the session gave want wrong codes.
func wantMfaFailures(t *testing.T, e *testEnv, token string, want int64) {
	t.Helper()
	rec, err := e.store.Get(fsm.KindApiSession, sessionID(t, e.apiNode, token))
	if err != nil {
		t.Fatal(err)
	}
	if n := rec.Body.(*pb.ApiSession).GetMfaFailures(); n != want {
		t.Fatalf("%d wrong codes counted, want %d", n, want)
	}
}

func TestRetriedMfaVerify(t *testing.T) {
	e := env(t)
	m := newMfaUser(t, e, false)
	verify := ClientBase + "/current-identity/mfa/verify"
	// A refused code is refused again, and each attempt is counted.
	wrong, wrongKey := map[string]any{"code": wrongTotp(t, m.secret)}, uniq("verify-wrong")
	for i := range 2 {
		wantError(t, fmt.Sprintf("a wrong code, attempt %d", i+1), sendKeyed(t, e, http.MethodPost, verify, m.token, wrongKey, wrong),
			http.StatusUnauthorized, codeMfaInvalidToken)
	}
	body, key := map[string]any{"code": totpAt(t, m.secret, 0)}, uniq("verify")
	for i := range 2 {
		if r := sendKeyed(t, e, http.MethodPost, verify, m.token, key, body); r.status != http.StatusOK {
			t.Fatalf("verify, attempt %d: %d %s", i+1, r.status, r.raw)
		}
	}
	if got := storedMfa(t, e, m.id); !got.GetIsVerified() {
		t.Fatalf("enrollment after a retried verify: %v", got)
	}
	wantMfaFailures(t, e, m.token, 2)
}

func TestRetriedMfaAuthenticate(t *testing.T) {
	e := env(t)
	m := newMfaUser(t, e, true)
	partial := m.login()
	auth := ClientBase + "/authenticate/mfa"
	wrong, wrongKey := map[string]any{"code": wrongTotp(t, m.secret)}, uniq("auth-wrong")
	for i := range 2 {
		wantError(t, fmt.Sprintf("a wrong code, attempt %d", i+1), sendKeyed(t, e, http.MethodPost, auth, partial, wrongKey, wrong),
			http.StatusUnauthorized, codeMfaInvalidToken)
	}
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", partial, nil); r.status != http.StatusUnauthorized {
		t.Fatalf("a refused code completed the session: %d %s", r.status, r.raw)
	}
	body, key := map[string]any{"code": totpAt(t, m.secret, 1)}, uniq("auth")
	for i := range 2 {
		if r := sendKeyed(t, e, http.MethodPost, auth, partial, key, body); r.status != http.StatusOK {
			t.Fatalf("authenticate/mfa, attempt %d: %d %s", i+1, r.status, r.raw)
		}
	}
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", partial, nil); r.status != http.StatusOK {
		t.Fatalf("a full route after the code: %d %s", r.status, r.raw)
	}
	wantMfaFailures(t, e, partial, 2)
}

func TestRetriedMfaDelete(t *testing.T) {
	e := env(t)
	m := newMfaUser(t, e, true)
	key, code := uniq("mfa-delete"), totpAt(t, m.secret, 1)
	for i := range 2 {
		if r := sendKeyed(t, e, http.MethodDelete, ClientBase+"/current-identity/mfa", m.token, key, nil, mfaCodeHeader, code); r.status != http.StatusOK {
			t.Fatalf("delete, attempt %d: %d %s", i+1, r.status, r.raw)
		}
	}
	if got := storedMfa(t, e, m.id); got != nil {
		t.Fatalf("enrollment after delete: %v", got)
	}
	wantMfaFailures(t, e, m.token, 0)
}

func TestRetriedMfaRecoveryCodes(t *testing.T) {
	e := env(t)
	m := newMfaUser(t, e, true)
	path := ClientBase + "/current-identity/mfa/recovery-codes"
	hashes := func(codes []any) []string {
		var out []string
		for _, c := range codes {
			out = append(out, edge.HashRecoveryCode(stringOf(c)))
		}
		return out
	}
	// With a TOTP code, then with a recovery code (one the first made):
	// the retry is told the codes went to its first attempt, and changes
	// nothing.
	code := totpAt(t, m.secret, 1)
	for range 2 {
		body, key := map[string]any{"code": code}, uniq("recovery")
		first := sendKeyed(t, e, http.MethodPost, path, m.token, key, body)
		codes, _ := first.data()["recoveryCodes"].([]any)
		if first.status != http.StatusOK || len(codes) != edge.RecoveryCodeCount {
			t.Fatalf("new recovery codes: %d %s", first.status, first.raw)
		}
		wantError(t, "the retry", sendKeyed(t, e, http.MethodPost, path, m.token, key, body), http.StatusNotFound, api.CodeNotFound)
		if got := storedMfa(t, e, m.id).GetRecoveryCodeHashes(); !slices.Equal(got, hashes(codes)) {
			t.Fatalf("stored recovery codes after the retry are not the first attempt's")
		}
		code = stringOf(codes[0])
	}
	wantMfaFailures(t, e, m.token, 0)
}

func TestRetriedTotpToken(t *testing.T) {
	e := env(t)
	m := newMfaUser(t, e, true)
	body, key := map[string]any{"code": totpAt(t, m.secret, 1)}, uniq("totp-token")
	for i := range 2 {
		r := sendKeyed(t, e, http.MethodPost, ClientBase+"/current-api-session/totp-token", m.token, key, body)
		var claims totpClaims
		if _, _, err := jwt.NewParser().ParseUnverified(stringOf(r.data()["token"]), &claims); r.status != http.StatusOK || err != nil ||
			claims.Subject != m.id || claims.SessionID != sessionID(t, e.apiNode, m.token) {
			t.Fatalf("totp token, attempt %d: %d %s %v", i+1, r.status, r.raw, err)
		}
	}
	wantMfaFailures(t, e, m.token, 0)
}

func TestRetriedSessionCertificate(t *testing.T) {
	e := env(t)
	_, tok := userWith(t, e)
	sid := sessionID(t, e.apiNode, tok)
	csr, _ := newCSR(t, "retried")
	// Answers are compared with the stored certificate, the first
	// attempt's; a retry that took the last slot is not refused for it.
	check := func(what string, want int) {
		t.Helper()
		key := uniq("session-cert")
		first := sendKeyed(t, e, http.MethodPost, sessionCerts, tok, key, map[string]any{"csr": csr})
		if first.status != http.StatusCreated {
			t.Fatalf("%s: %d %s", what, first.status, first.raw)
		}
		id := stringOf(first.data()["id"])
		rec, err := e.store.Get(fsm.KindApiSessionCertificate, id)
		if err != nil {
			t.Fatal(err)
		}
		stored := rec.Body.(*pb.ApiSessionCertificate).GetCertPem()
		again := sendKeyed(t, e, http.MethodPost, sessionCerts, tok, key, map[string]any{"csr": csr})
		if again.status != http.StatusCreated || stringOf(again.data()["id"]) != id || stringOf(again.data()["certificate"]) != stored ||
			stringOf(first.data()["certificate"]) != stored || stringOf(again.data()["cas"]) != stringOf(first.data()["cas"]) ||
			dig(again.data(), "_links", "self", "href") != dig(first.data(), "_links", "self", "href") {
			t.Fatalf("%s retried: %d %s, want the first answer %s", what, again.status, again.raw, first.raw)
		}
		if n := len(sessionCertIDs(t, e.apiNode, sid)); n != want {
			t.Fatalf("%s: %d certificates stored, want %d", what, n, want)
		}
	}
	check("a certificate", 1)
	for range maxSessionCerts - 2 {
		createSessionCert(t, e.apiNode, tok, csr)
	}
	check("the last certificate", maxSessionCerts)
}

func TestRetriedIdentityTrace(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": uniq("retried-trace"), "type": "User", "isAdmin": false})
	path := mgmt + "/identities/" + id + "/trace"
	for _, body := range []map[string]any{{"enabled": true, "duration": "5m"}, {"enabled": false}} {
		key := uniq("trace")
		first := sendKeyed(t, e, http.MethodPut, path, admin, key, body)
		again := sendKeyed(t, e, http.MethodPut, path, admin, key, body)
		if first.status != http.StatusOK || again.status != http.StatusOK {
			t.Fatalf("trace %v: %d %s, then %d %s", body, first.status, first.raw, again.status, again.raw)
		}
		rec, err := e.store.Get(fsm.KindIdentity, id)
		if err != nil {
			t.Fatal(err)
		}
		stored := rec.Body.(*pb.Identity)
		for _, d := range []map[string]any{first.data(), again.data()} {
			if d["enabled"] != body["enabled"] || d["traceId"] != stored.GetTraceId() || (stored.GetTraceUntil() != 0) != (d["until"] != nil) {
				t.Fatalf("trace %v answered %v, stored %v", body, d, stored)
			}
		}
		if again.data()["until"] != first.data()["until"] {
			t.Fatalf("trace %v: the retry answered until %v, the first %v", body, again.data()["until"], first.data()["until"])
		}
	}
}

func TestRetriedIdentityMfaDelete(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	m := newMfaUser(t, e, false)
	path := mgmt + "/identities/" + m.id + "/mfa"
	// A delete of nothing is a 404, retried too.
	none := uniq("admin-mfa-delete")
	other := newIdentity(t, e, map[string]any{"name": uniq("retried-no-mfa"), "type": "User", "isAdmin": false})
	for i := range 2 {
		wantError(t, fmt.Sprintf("delete of nothing, attempt %d", i+1), sendKeyed(t, e, http.MethodDelete, mgmt+"/identities/"+other+"/mfa", admin, none, nil),
			http.StatusNotFound, api.CodeNotFound)
	}
	key := uniq("admin-mfa-delete")
	if r := sendKeyed(t, e, http.MethodDelete, path, admin, key, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	if got := storedMfa(t, e, m.id); got != nil {
		t.Fatalf("enrollment after delete: %v", got)
	}
	// Retried after the identity, too, was deleted: the first answer.
	if r := e.do(t, http.MethodDelete, mgmt+"/identities/"+m.id, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete the identity: %d %s", r.status, r.raw)
	}
	if r := sendKeyed(t, e, http.MethodDelete, path, admin, key, nil); r.status != http.StatusOK {
		t.Fatalf("delete retried after the identity's: %d %s", r.status, r.raw)
	}
}

// One Idempotency-Key sent with one wrong code after another is no way
// around the lockout: every guess counts, and after the last one allowed
// the session is gone, the right code with it.
func TestReusedKeyCountsEveryWrongCode(t *testing.T) {
	e := env(t)
	m := newMfaUser(t, e, true)
	partial := m.login()
	auth := ClientBase + "/authenticate/mfa"
	valid := map[string]bool{}
	for d := -3; d <= 3; d++ {
		valid[totpAt(t, m.secret, d)] = true
	}
	guesses := 0
	for n := 0; guesses < maxMfaFailures; n++ {
		code := fmt.Sprintf("%06d", n)
		if valid[code] {
			continue
		}
		guesses++
		if r := sendKeyed(t, e, http.MethodPost, auth, partial, "one-key", map[string]any{"code": code}); r.status/100 == 2 {
			t.Fatalf("wrong code %d answered %d", guesses, r.status)
		}
	}
	if r := sendKeyed(t, e, http.MethodPost, auth, partial, "one-key", map[string]any{"code": totpAt(t, m.secret, 0)}); r.status != http.StatusUnauthorized {
		t.Fatalf("the right code after %d wrong ones under one key: %d %s", maxMfaFailures, r.status, r.raw)
	}
}
