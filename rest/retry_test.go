package rest

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// keyed is a request header carrying an Idempotency-Key (and any other
// header pairs given).
func keyed(key string, kv ...string) http.Header {
	h := http.Header{api.IdempotencyHeader: {key}}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return h
}

// Action endpoints whose first attempt changes what they check: a retry
// with the same Idempotency-Key gets the first attempt's answer, and
// nothing happens twice.
func TestRetriedActionsAnswerTheirFirstAttempt(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	expires := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)

	t.Run("re-enroll of an authenticator", func(t *testing.T) {
		id := newIdentity(t, e, map[string]any{"name": uniq("retry-reenroll"), "type": "User", "isAdmin": false})
		auth := createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": id, "username": uniq("retry-reenroll"), "password": "retry-pw-12"})
		path := mgmt + "/authenticators/" + auth + "/re-enroll"
		first := e.doWithHeader(t, http.MethodPost, path, admin, map[string]any{"expiresAt": expires}, keyed("reenroll-1"))
		again := e.doWithHeader(t, http.MethodPost, path, admin, map[string]any{"expiresAt": expires}, keyed("reenroll-1"))
		if first.status != http.StatusCreated || again.status != http.StatusCreated || first.data()["id"] != again.data()["id"] {
			t.Fatalf("re-enroll, then its retry: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
		}
		if l := e.do(t, http.MethodGet, mgmt+"/identities/"+id+"/enrollments", admin, nil).list(); len(l) != 1 {
			t.Fatalf("%d enrollments after a retried re-enroll", len(l))
		}
		wantError(t, "re-enroll without a key", e.do(t, http.MethodPost, path, admin, map[string]any{"expiresAt": expires}), http.StatusNotFound, api.CodeNotFound)
	})

	t.Run("CA verification", func(t *testing.T) {
		ca := newThirdPartyCA(t)
		id := createCA(t, e, ca, nil)
		token, _ := getCA(t, e, id)["verificationToken"].(string)
		proof := certPEM(issueClientCert(t, ca, token))
		path := mgmt + "/cas/" + id + "/verify"
		for i := range 2 {
			if r := e.doWithHeader(t, http.MethodPost, path, admin, proof, keyed("verify-1", "Content-Type", "text/plain")); r.status != http.StatusOK {
				t.Fatalf("verify, attempt %d: %d %s", i+1, r.status, r.raw)
			}
		}
		// (409 is not among the operation's documented statuses; the
		// existing refusal of a second verification is kept.)
		again := readResponse(t, e.send(t, http.MethodPost, path, admin, proof, http.Header{"Content-Type": {"text/plain"}}))
		wantError(t, "verify without a key", again, http.StatusConflict, CodeCaAlreadyVerified)
	})

	t.Run("own password change", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		name := uniq("retry-pw")
		if err := createUser(ctx, e.node, name, name, "old-password", false); err != nil {
			t.Fatal(err)
		}
		tok := e.login(t, ClientBase, name, "old-password")
		authID, _ := dig(e.do(t, http.MethodGet, ClientBase+"/current-identity", tok, nil).data(), "authenticators", "updb", "id").(string)
		path := ClientBase + "/current-identity/authenticators/" + authID
		change := map[string]any{"password": "new-password", "currentPassword": "old-password"}
		for i := range 2 {
			if r := e.doWithHeader(t, http.MethodPatch, path, tok, change, keyed("pw-1")); r.status != http.StatusOK {
				t.Fatalf("change, attempt %d: %d %s", i+1, r.status, r.raw)
			}
		}
		e.login(t, ClientBase, name, "new-password")
		wantError(t, "the same change without a key", e.do(t, http.MethodPatch, path, tok, change), http.StatusBadRequest, api.CodeCouldNotValidate)
		// A refused change is refused again when retried: its failed
		// check is no outcome to answer.
		wrong := map[string]any{"password": "newer-password", "currentPassword": "not-the-password"}
		for i := range 2 {
			wantError(t, fmt.Sprintf("a wrong current password, attempt %d", i+1), e.doWithHeader(t, http.MethodPatch, path, tok, wrong, keyed("pw-wrong")),
				http.StatusBadRequest, api.CodeCouldNotValidate)
		}
		e.login(t, ClientBase, name, "new-password")
	})

	t.Run("extend", func(t *testing.T) {
		u := newCertUser(t, e.apiNode, e.pki.inter, uniq("retry-extend"), admin)
		path := authenticatorPath(ClientBase, u.authID)
		withOld := withClientCert(t, e.apiNode, e.pki.roots, u.tlsCert())
		csr, _ := newCSR(t, "retry-extend-renewed")
		body := map[string]any{"clientCertCsr": csr}
		first := withOld.doWithHeader(t, http.MethodPost, path+"/extend", u.token, body, keyed("extend-1"))
		again := withOld.doWithHeader(t, http.MethodPost, path+"/extend", u.token, body, keyed("extend-1"))
		if first.status != http.StatusOK || again.status != http.StatusOK {
			t.Fatalf("extend, then its retry: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
		}
		for _, f := range []string{"clientCert", "ca"} {
			if stringOf(first.data()[f]) != stringOf(again.data()[f]) {
				t.Fatalf("the retry answered another %s", f)
			}
		}
		if r := e.do(t, http.MethodPost, path+"/extend-verify", u.token, map[string]any{"clientCert": stringOf(again.data()["clientCert"])}); r.status != http.StatusOK {
			t.Fatalf("extend-verify with the retry's certificate: %d %s", r.status, r.raw)
		}
	})

	t.Run("extend-verify", func(t *testing.T) {
		u := newCertUser(t, e.apiNode, e.pki.inter, uniq("retry-ext"), admin)
		path := authenticatorPath(ClientBase, u.authID)
		csr, _ := newCSR(t, "retry-ext-renewed")
		r := withClientCert(t, e.apiNode, e.pki.roots, u.tlsCert()).do(t, http.MethodPost, path+"/extend", u.token, map[string]any{"clientCertCsr": csr})
		if r.status != http.StatusOK {
			t.Fatalf("extend: %d %s", r.status, r.raw)
		}
		body := map[string]any{"clientCert": stringOf(r.data()["clientCert"])}
		for i := range 2 {
			if r := e.doWithHeader(t, http.MethodPost, path+"/extend-verify", u.token, body, keyed("ext-verify-1")); r.status != http.StatusOK {
				t.Fatalf("extend-verify, attempt %d: %d %s", i+1, r.status, r.raw)
			}
		}
		wantError(t, "extend-verify without a key", e.doUnchecked(t, http.MethodPost, path+"/extend-verify", u.token, body), http.StatusConflict, api.CodeCanNotUpdateAuthenticator)
	})

	t.Run("disable and enable, retried late", func(t *testing.T) {
		id := newIdentity(t, e, map[string]any{"name": uniq("retry-disable"), "type": "User", "isAdmin": false})
		for _, step := range []struct {
			path string
			body map[string]any
		}{{"/disable", map[string]any{"durationMinutes": 0}}, {"/enable", nil}} {
			for i := range 2 {
				if r := e.doWithHeader(t, http.MethodPost, mgmt+"/identities/"+id+step.path, admin, step.body, keyed("toggle"+step.path)); r.status != http.StatusOK {
					t.Fatalf("%s, attempt %d: %d %s", step.path, i+1, r.status, r.raw)
				}
			}
		}
		if d := e.do(t, http.MethodGet, mgmt+"/identities/"+id, admin, nil).data(); d["disabled"] != false {
			t.Fatalf("a retried disable undid the enable after it: %v", d["disabled"])
		}
		// The disable's key, sent again after the enable: its first
		// answer, and the identity stays enabled.
		if r := e.doWithHeader(t, http.MethodPost, mgmt+"/identities/"+id+"/disable", admin, map[string]any{"durationMinutes": 0}, keyed("toggle/disable")); r.status != http.StatusOK {
			t.Fatalf("late retry of the disable: %d %s", r.status, r.raw)
		}
		if d := e.do(t, http.MethodGet, mgmt+"/identities/"+id, admin, nil).data(); d["disabled"] != false {
			t.Fatal("a late retry of a disable took effect again")
		}
	})
}

// An Idempotency-Key used before, sent with guesses of the current
// password: refused as reused before any guess is checked, and the guesses
// the lockout counts still lock it.
func TestReusedKeyChecksNoPasswordGuess(t *testing.T) {
	e := env(t)
	auth, username, token := lockablePasswordUser(t, e, "reuse")
	path := ClientBase + "/current-identity/authenticators/" + auth
	first := map[string]any{"currentPassword": "LongEnough1", "password": "LongEnough2"}
	if r := e.doWithHeader(t, http.MethodPatch, path, token, first, keyed("used")); r.status != http.StatusOK {
		t.Fatalf("a first use of the key: %d %s", r.status, r.raw)
	}
	for i := range 6 {
		guess := map[string]any{"currentPassword": fmt.Sprintf("Guess%d-xyz", i), "password": "NewPassword2"}
		wantError(t, "a guess under a reused key", e.doWithHeader(t, http.MethodPatch, path, token, guess, keyed("used")), http.StatusBadRequest, api.CodeIdempotencyKeyReused)
	}
	// Nothing was checked, so nothing counted: the password still works.
	e.login(t, ClientBase, username, "LongEnough2")
	for range 3 {
		wantFieldError(t, "a wrong current password", e.do(t, http.MethodPatch, path, token,
			map[string]any{"currentPassword": "NotTheOne1", "password": "NewPassword2"}), "currentPassword")
	}
	if r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]any{"username": username, "password": "LongEnough2"}); r.status != http.StatusUnauthorized {
		t.Fatalf("the right password after three counted guesses: %d %s", r.status, r.raw)
	}
}
