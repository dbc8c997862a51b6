package rest

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// The default policy exists, as the ziti CLI looks it up before creating an
// identity, and cannot be deleted; nested members are checked with their
// path named and nothing stored.
func TestAuthPolicyDefaultAndBadInput(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	l := e.do(t, http.MethodGet, mgmt+"/auth-policies?filter="+url.QueryEscape(`id="default"`), admin, nil)
	if len(l.list()) != 1 {
		t.Fatalf("the default policy by filter: %s", l.raw)
	}
	d := obj(l.list()[0])
	updb := obj(obj(d["primary"])["updb"])
	if d["name"] != "Default" || updb["allowed"] != true || updb["minPasswordLength"] != float64(5) || updb["maxAttempts"] != float64(0) {
		t.Fatalf("the default policy: %v", d)
	}
	wantFieldError(t, "delete the default policy", e.do(t, http.MethodDelete, mgmt+"/auth-policies/default", admin, nil), "id")

	before := e.count(t, fsm.KindAuthPolicy)
	for what, c := range map[string]struct {
		edit  func(b map[string]any)
		field string
	}{
		"negative attempts":      {func(b map[string]any) { obj(obj(b["primary"])["updb"])["maxAttempts"] = -1 }, "primary.updb.maxAttempts"},
		"a lockout of ten years": {func(b map[string]any) { obj(obj(b["primary"])["updb"])["lockoutDurationMinutes"] = 10 * 525600 }, "primary.updb.lockoutDurationMinutes"},
		"too short a minimum":    {func(b map[string]any) { obj(obj(b["primary"])["updb"])["minPasswordLength"] = 2 }, "primary.updb.minPasswordLength"},
		"no cert member":         {func(b map[string]any) { delete(obj(b["primary"]), "cert") }, "primary.cert"},
		"no secondary":           {func(b map[string]any) { delete(b, "secondary") }, "secondary"},
		"an unknown signer":      {func(b map[string]any) { obj(obj(b["primary"])["extJwt"])["allowedSigners"] = []any{"nope"} }, "primary.extJwt.allowedSigners"},
		"an unknown 2nd signer":  {func(b map[string]any) { obj(b["secondary"])["requireExtJwtSigner"] = "nope" }, "secondary.requireExtJwtSigner"},
	} {
		b := authPolicyBody(uniq("ap-bad"), 8, 3)
		c.edit(b)
		wantFieldError(t, what, e.do(t, http.MethodPost, mgmt+"/auth-policies", admin, b), c.field)
	}
	if n := e.count(t, fsm.KindAuthPolicy); n != before {
		t.Fatalf("refused policies were stored: %d -> %d", before, n)
	}
	wantFieldError(t, "an identity with an unknown policy", e.do(t, http.MethodPost, mgmt+"/identities", admin,
		map[string]any{"name": uniq("ap-id"), "type": "User", "isAdmin": false, "authPolicyId": "no-such-policy"}), "authPolicyId")
}

// A policy's password rules hold whenever a password is set, its lockout
// counts failed logins, a policy without passwords refuses them, and a
// policy in use cannot be deleted.
func TestAuthPolicyPasswordsAndLockout(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	policy := createOK(t, e, "/auth-policies", authPolicyBody(uniq("ap-strict"), 8, 3))
	ident := newIdentity(t, e, map[string]any{"name": uniq("ap-user"), "type": "User", "isAdmin": false, "authPolicyId": policy})
	d := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data()
	if d["authPolicyId"] != policy || obj(d["authPolicy"])["id"] != policy {
		t.Fatalf("the identity's policy: %v", d)
	}
	username := uniq("ap-login")
	for pw, field := range map[string]string{"Short1": "password", "longenough1": "password", "LongEnoughNoDigit": "password"} {
		wantFieldError(t, "password "+pw, e.do(t, http.MethodPost, mgmt+"/authenticators", admin,
			map[string]any{"method": "updb", "identityId": ident, "username": username, "password": pw}), field)
	}
	const password = "LongEnough1"
	createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": username, "password": password})
	login := func(pw string) int {
		return e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]any{"username": username, "password": pw}).status
	}
	// Two failures, a success clears them; then three in a row lock.
	for range 2 {
		if st := login("wrong-password"); st != http.StatusUnauthorized {
			t.Fatalf("a wrong password: %d", st)
		}
	}
	if st := login(password); st != http.StatusOK {
		t.Fatalf("the right password after two failures: %d", st)
	}
	for range 3 {
		login("wrong-password")
	}
	if st := login(password); st != http.StatusUnauthorized {
		t.Fatalf("the right password during the lockout: %d", st)
	}
	d = e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data()
	until, err := time.Parse(time.RFC3339Nano, d["disabledUntil"].(string))
	if d["disabled"] != true || err != nil || time.Until(until) < 4*time.Minute || time.Until(until) > 6*time.Minute {
		t.Fatalf("the locked identity: %v", d)
	}
	if r := e.do(t, http.MethodPost, mgmt+"/identities/"+ident+"/enable", admin, nil); r.status != http.StatusOK {
		t.Fatalf("enable: %d %s", r.status, r.raw)
	}
	if st := login(password); st != http.StatusOK {
		t.Fatalf("the right password once enabled: %d", st)
	}

	// No passwords under this policy: the right one is refused too.
	noUpdb := authPolicyBody(uniq("ap-no-updb"), 8, 0)
	obj(obj(noUpdb["primary"])["updb"])["allowed"] = false
	if r := e.do(t, http.MethodPut, mgmt+"/auth-policies/"+policy, admin, noUpdb); r.status != http.StatusOK {
		t.Fatalf("put: %d %s", r.status, r.raw)
	}
	if st := login(password); st != http.StatusUnauthorized {
		t.Fatalf("a password login the policy does not allow: %d", st)
	}

	wantFieldError(t, "delete a policy in use", e.do(t, http.MethodDelete, mgmt+"/auth-policies/"+policy, admin, nil), "id")
	if r := e.do(t, http.MethodPatch, mgmt+"/identities/"+ident, admin, map[string]any{"authPolicyId": "default"}); r.status != http.StatusOK {
		t.Fatalf("back to the default policy: %d %s", r.status, r.raw)
	}
	if st := login(password); st != http.StatusOK {
		t.Fatalf("a password login under the default policy: %d", st)
	}
	if r := e.do(t, http.MethodDelete, mgmt+"/auth-policies/"+policy, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete a policy no longer used: %d %s", r.status, r.raw)
	}
	wantError(t, "the deleted policy", e.do(t, http.MethodGet, mgmt+"/auth-policies/"+policy, admin, nil), http.StatusNotFound, api.CodeNotFound)
}

// A wrong currentPassword on the caller's own authenticator counts as a
// failed login: a stolen session cannot guess the password there freely.
// lockablePasswordUser is a user under a policy that locks after three
// wrong passwords (of at least 8 characters), with password LongEnough1:
// its updb authenticator, username and session.
func lockablePasswordUser(t *testing.T, e *testEnv, prefix string) (auth, username, token string) {
	t.Helper()
	policy := createOK(t, e, "/auth-policies", authPolicyBody(uniq(prefix+"-ap"), 8, 3))
	ident := newIdentity(t, e, map[string]any{"name": uniq(prefix + "-user"), "type": "User", "isAdmin": false, "authPolicyId": policy})
	username = uniq(prefix + "-login")
	auth = createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": ident, "username": username, "password": "LongEnough1"})
	return auth, username, e.login(t, ClientBase, username, "LongEnough1")
}

func TestCurrentPasswordGuessesCount(t *testing.T) {
	e := env(t)
	auth, username, token := lockablePasswordUser(t, e, "cur")
	for range 3 {
		wantFieldError(t, "a wrong current password", e.do(t, http.MethodPatch, ClientBase+"/current-identity/authenticators/"+auth, token,
			map[string]any{"currentPassword": "NotTheOne1", "password": "NewPassword2"}), "currentPassword")
	}
	r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]any{"username": username, "password": "LongEnough1"})
	if r.status != http.StatusUnauthorized {
		t.Fatalf("the right password after three wrong current passwords: %d %s", r.status, r.raw)
	}
}
