package rest

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

// doWithHeader is do (checked against the spec) with extra headers.
func (n *apiNode) doWithHeader(t *testing.T, method, path, token string, body any, h http.Header) *response {
	t.Helper()
	resp := n.send(t, method, path, token, body, h)
	if _, err := apispec.Check(resp); err != nil {
		t.Errorf("%s %s -> %d: response does not match the spec: %v", method, path, resp.StatusCode, err)
	}
	return readResponse(t, resp)
}

// totpAt is the code of the enrollment's secret (read from its
// provisioning URL) at now shifted by steps.
func totpAt(t *testing.T, secret string, steps int) string {
	t.Helper()
	code, err := edge.TotpCode(secret, time.Now().Add(time.Duration(steps)*30*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// The TOTP life cycle: enroll (secret and recovery codes shown until
// verified), verify, then every login owes a code on the partial routes
// only; codes and recovery codes work once; new recovery codes replace the
// old; deleting needs a code; an admin deletes without.
func TestMfaLifeCycle(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	ident, token := userWith(t, e)
	name := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data()["name"].(string)
	login := func() string { return e.login(t, ClientBase, name, "sp-password-1") }

	wantError(t, "no enrollment yet", e.do(t, http.MethodGet, ClientBase+"/current-identity/mfa", token, nil), http.StatusNotFound, "NOT_FOUND")
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa", token, nil); r.status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.status, r.raw)
	}
	wantError(t, "enroll twice", e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa", token, nil), http.StatusConflict, codeMfaExists)
	d := e.do(t, http.MethodGet, ClientBase+"/current-identity/mfa", token, nil).data()
	u, err := url.Parse(d["provisioningUrl"].(string))
	if err != nil || d["isVerified"] != false || len(d["recoveryCodes"].([]any)) != edge.RecoveryCodeCount {
		t.Fatalf("the unverified enrollment: %v %v", d, err)
	}
	secret := u.Query().Get("secret")
	recovery := d["recoveryCodes"].([]any)
	resp := e.send(t, http.MethodGet, ClientBase+"/current-identity/mfa/qr-code", token, nil, nil)
	png, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "image/png" || string(png[1:4]) != "PNG" {
		t.Fatalf("qr code: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}

	wantError(t, "verify with a wrong code", e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa/verify", token, map[string]any{"code": "000000"}),
		http.StatusUnauthorized, codeMfaInvalidToken)
	// A body without its code is a 400, which the spec does not list here.
	wantFieldError(t, "verify without a code", e.doUnchecked(t, http.MethodPost, ClientBase+"/current-identity/mfa/verify", token, map[string]any{}), "code")
	// The codes are kept, not computed again: a 30-second step may pass
	// between two uses, and the second must be the very same code.
	first := totpAt(t, secret, 0)
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa/verify", token, map[string]any{"code": first}); r.status != http.StatusOK {
		t.Fatalf("verify: %d %s", r.status, r.raw)
	}
	d = e.do(t, http.MethodGet, ClientBase+"/current-identity/mfa", token, nil).data()
	if _, shown := d["provisioningUrl"]; shown || d["recoveryCodes"] != nil || d["isVerified"] != true {
		t.Fatalf("the verified enrollment shows its secrets: %v", d)
	}
	if r := e.send(t, http.MethodGet, ClientBase+"/current-identity/mfa/qr-code", token, nil, nil); r.StatusCode != http.StatusNotFound {
		t.Fatalf("qr code once verified: %d", r.StatusCode)
	} else {
		r.Body.Close()
	}
	if d := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data(); d["isMfaEnabled"] != true {
		t.Fatalf("isMfaEnabled: %v", d["isMfaEnabled"])
	}

	// A new login owes a code: partial routes only.
	partial := login()
	cur := e.do(t, http.MethodGet, ClientBase+"/current-api-session", partial, nil).data()
	queries := cur["authQueries"].([]any)
	if len(queries) != 1 || obj(queries[0])["provider"] != "ziti" || obj(queries[0])["typeId"] != "MFA" || cur["isMfaRequired"] != true {
		t.Fatalf("the partial session: %v", cur)
	}
	wantError(t, "a full route with a partial session", e.do(t, http.MethodGet, ClientBase+"/current-identity", partial, nil), http.StatusUnauthorized, "UNAUTHORIZED")
	wantError(t, "a code already spent", e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", partial, map[string]any{"code": first}),
		http.StatusUnauthorized, codeMfaInvalidToken)
	next := totpAt(t, secret, 1)
	if r := e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", partial, map[string]any{"code": next}); r.status != http.StatusOK {
		t.Fatalf("authenticate/mfa: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", partial, nil); r.status != http.StatusOK {
		t.Fatalf("a full route once the code was given: %d %s", r.status, r.raw)
	}
	if q := e.do(t, http.MethodGet, ClientBase+"/current-api-session", partial, nil).data()["authQueries"].([]any); len(q) != 0 {
		t.Fatalf("queries after the code: %v", q)
	}
	// An MFA posture check passes for that session, not for one of an
	// identity without MFA.
	tag := uniq("mfa-pc")
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("mfa-svc"), "encryptionRequired": true})
	check := createOK(t, e, "/posture-checks", map[string]any{"name": uniq("mfa-check"), "typeId": "MFA", "timeoutSeconds": 600})
	other, otherToken := userWith(t, e, tag)
	createOK(t, e, "/service-policies", map[string]any{"name": uniq("mfa-sp"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + ident, "@" + other}, "serviceRoles": []string{"@" + svc}, "postureCheckRoles": []string{"@" + check}})
	for who, c := range map[string]struct {
		token string
		want  bool
	}{"the MFA session": {partial, true}, "no MFA": {otherToken, false}} {
		qs := e.do(t, http.MethodGet, ClientBase+"/services/"+svc, c.token, nil).data()["postureQueries"].([]any)
		if len(qs) != 1 || obj(qs[0])["isPassing"] != c.want {
			t.Fatalf("%s: MFA posture %v, want passing %v", who, qs, c.want)
		}
	}
	// The same code on another session (any node: it is replicated) is a replay.
	again := login()
	wantError(t, "a replayed code", e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", again, map[string]any{"code": next}),
		http.StatusUnauthorized, codeMfaInvalidToken)
	rc := recovery[0].(string)
	if r := e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", again, map[string]any{"code": rc}); r.status != http.StatusOK {
		t.Fatalf("a recovery code: %d %s", r.status, r.raw)
	}
	wantError(t, "a recovery code twice", e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", login(), map[string]any{"code": rc}),
		http.StatusUnauthorized, codeMfaInvalidToken)

	// Wrong codes are counted on the session: the fifth ends it. Codes of
	// no valid shape cannot be right and are not counted.
	guesser := login()
	for range 2 * maxMfaFailures {
		wantError(t, "a malformed code", e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", guesser, map[string]any{"code": "12345x"}),
			http.StatusUnauthorized, codeMfaInvalidToken)
	}
	wrong := wrongTotp(t, secret)
	for i := range maxMfaFailures {
		r := e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", guesser, map[string]any{"code": wrong})
		if want := http.StatusUnauthorized; r.status != want {
			t.Fatalf("wrong code %d: %d %s", i+1, r.status, r.raw)
		}
	}
	wantError(t, "the session after five wrong codes", e.do(t, http.MethodGet, ClientBase+"/current-api-session", guesser, nil),
		http.StatusUnauthorized, "UNAUTHORIZED")

	// A TOTP token: a JWT of this node's key naming the identity; the
	// code is spent.
	wantFieldError(t, "a totp token without a code", e.doUnchecked(t, http.MethodPost, ClientBase+"/current-api-session/totp-token", partial,
		map[string]any{}), "code")
	wantError(t, "a totp token with a spent code", e.do(t, http.MethodPost, ClientBase+"/current-api-session/totp-token", partial,
		map[string]any{"code": next}), http.StatusUnauthorized, codeMfaInvalidToken)

	// Recovery codes: kept only hashed, so new ones are answered once.
	wantError(t, "recovery codes once verified", e.doWithHeader(t, http.MethodGet, ClientBase+"/current-identity/mfa/recovery-codes", again, nil,
		http.Header{mfaCodeHeader: {totpAt(t, secret, 1)}}), http.StatusNotFound, "NOT_FOUND")
	regen := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa/recovery-codes", again, map[string]any{"code": recovery[1].(string)})
	fresh, _ := regen.data()["recoveryCodes"].([]any)
	if regen.status != http.StatusOK || len(fresh) != edge.RecoveryCodeCount {
		t.Fatalf("new recovery codes: %d %s", regen.status, regen.raw)
	}
	wantError(t, "an old recovery code", e.do(t, http.MethodPost, ClientBase+"/authenticate/mfa", login(), map[string]any{"code": recovery[2].(string)}),
		http.StatusUnauthorized, codeMfaInvalidToken)

	// Deleting needs a code; an admin needs none.
	wantError(t, "delete without a code", e.do(t, http.MethodDelete, ClientBase+"/current-identity/mfa", again, nil), http.StatusUnauthorized, codeMfaInvalidToken)
	if r := e.doWithHeader(t, http.MethodDelete, ClientBase+"/current-identity/mfa", again, nil, http.Header{mfaCodeHeader: {fresh[0].(string)}}); r.status != http.StatusOK {
		t.Fatalf("delete with a recovery code: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodGet, ClientBase+"/current-identity", login(), nil); r.status != http.StatusOK {
		t.Fatalf("a login after the enrollment was deleted: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa", token, nil); r.status != http.StatusCreated {
		t.Fatalf("enroll again: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodDelete, mgmt+"/identities/"+ident+"/mfa", admin, nil); r.status != http.StatusOK {
		t.Fatalf("admin delete: %d %s", r.status, r.raw)
	}
	wantError(t, "admin delete of nothing", e.do(t, http.MethodDelete, mgmt+"/identities/"+ident+"/mfa", admin, nil), http.StatusNotFound, "NOT_FOUND")
}

// An auth policy that requires TOTP makes every session partial until the
// identity enrolls and verifies, which the partial session may do.
func TestAuthPolicyRequiringTotp(t *testing.T) {
	e := env(t)
	body := authPolicyBody(uniq("ap-totp"), 8, 0)
	obj(body["secondary"])["requireTotp"] = true
	ident, name := userUnderPolicy(t, e, body)
	partial := e.login(t, ClientBase, name, "sp-password-1")
	q := e.do(t, http.MethodGet, ClientBase+"/current-api-session", partial, nil).data()["authQueries"].([]any)
	if len(q) != 1 || obj(q[0])["isTotpEnrolled"] != false {
		t.Fatalf("queries of a policy requiring TOTP, not enrolled: %v", q)
	}
	wantError(t, "a full route", e.do(t, http.MethodGet, ClientBase+"/services", partial, nil), http.StatusUnauthorized, "UNAUTHORIZED")
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa", partial, nil); r.status != http.StatusCreated {
		t.Fatalf("enroll from the partial session: %d %s", r.status, r.raw)
	}
	u, _ := url.Parse(e.do(t, http.MethodGet, ClientBase+"/current-identity/mfa", partial, nil).data()["provisioningUrl"].(string))
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa/verify", partial, map[string]any{"code": totpAt(t, u.Query().Get("secret"), 0)}); r.status != http.StatusOK {
		t.Fatalf("verify from the partial session: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodGet, ClientBase+"/services", partial, nil); r.status != http.StatusOK {
		t.Fatalf("a full route once verified: %d %s", r.status, r.raw)
	}
	tt := e.do(t, http.MethodPost, ClientBase+"/current-api-session/totp-token", partial, map[string]any{"code": totpAt(t, u.Query().Get("secret"), 1)})
	var claims totpClaims
	if _, _, err := jwt.NewParser().ParseUnverified(tt.data()["token"].(string), &claims); tt.status != http.StatusOK || err != nil ||
		claims.Subject != ident || claims.Type != "totp" || claims.ExpiresAt == nil {
		t.Fatalf("totp token: %d %s %v %+v", tt.status, tt.raw, err, claims)
	}
}

// wrongTotp is a six-digit code that no step around now accepts.
func wrongTotp(t *testing.T, secret string) string {
	t.Helper()
	valid := map[string]bool{}
	for d := -3; d <= 3; d++ {
		valid[totpAt(t, secret, d)] = true
	}
	for n := 0; ; n++ {
		if c := fmt.Sprintf("%06d", n); !valid[c] {
			return c
		}
	}
}
