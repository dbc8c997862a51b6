package rest

import (
	"bytes"
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"
)

func TestAuthenticatorsManagement(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	idA := newIdentity(t, e, map[string]any{"name": "auth-a", "type": "User", "isAdmin": false})

	r := e.do(t, http.MethodPost, mgmt+"/authenticators", admin, map[string]any{
		"method": "updb", "identityId": idA, "username": "auth-a-user", "password": "auth-a-pass"})
	if r.status != http.StatusCreated {
		t.Fatalf("create updb: %d %s", r.status, r.raw)
	}
	authID := r.data()["id"].(string)
	tok := e.login(t, ClientBase, "auth-a-user", "auth-a-pass")
	if tok == "" {
		t.Fatal("no token")
	}
	g := e.do(t, http.MethodGet, mgmt+"/authenticators/"+authID, admin, nil)
	if g.status != http.StatusOK || g.data()["username"] != "auth-a-user" || g.data()["method"] != "updb" || dig(g.data(), "identity", "name") != "auth-a" {
		t.Fatalf("get: %d %s", g.status, g.raw)
	}
	if bytes.Contains(g.raw, []byte("argon2")) || bytes.Contains(g.raw, []byte("auth-a-pass")) {
		t.Fatalf("secret in response: %s", g.raw)
	}
	idView := e.do(t, http.MethodGet, mgmt+"/identities/"+idA, admin, nil).data()
	if dig(idView, "authenticators", "updb", "username") != "auth-a-user" {
		t.Fatalf("identity does not show its authenticator: %v", idView["authenticators"])
	}

	cases := []struct {
		name  string
		body  map[string]any
		field string
	}{
		{"second updb for the same identity", map[string]any{"method": "updb", "identityId": idA, "username": "auth-a-two", "password": "secret-2"}, "method"},
		{"username taken", map[string]any{"method": "updb", "identityId": newIdentity(t, e, map[string]any{"name": "auth-b", "type": "User", "isAdmin": false}), "username": "auth-a-user", "password": "secret-2"}, "username"},
		{"short username", map[string]any{"method": "updb", "identityId": idA, "username": "abc", "password": "secret-2"}, "username"},
		{"short password", map[string]any{"method": "updb", "identityId": idA, "username": "abcdef", "password": "1234"}, "password"},
		{"long password", map[string]any{"method": "updb", "identityId": idA, "username": "abcdef", "password": string(bytes.Repeat([]byte("p"), 101))}, "password"},
		{"unknown identity", map[string]any{"method": "updb", "identityId": "nope", "username": "abcdefg", "password": "secret-2"}, "identityId"},
		{"missing identity", map[string]any{"method": "updb", "username": "abcdefg", "password": "secret-2"}, "identityId"},
		{"bad method", map[string]any{"method": "carrier-pigeon", "identityId": idA}, "method"},
		{"missing method", map[string]any{"identityId": idA}, "method"},
		{"garbage cert", map[string]any{"method": "cert", "identityId": idA, "certPem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "certPem"},
	}
	for _, c := range cases {
		ae := wantError(t, c.name, e.do(t, http.MethodPost, mgmt+"/authenticators", admin, c.body), http.StatusBadRequest, api.CodeCouldNotValidate)
		if causeField(ae) != c.field {
			t.Errorf("%s: cause.field %q, want %q", c.name, causeField(ae), c.field)
		}
	}

	// A cert authenticator stores the certificate and its fingerprint.
	certPEM, _, err := e.pki.inter.IssueSigningCert("auth-a-device", "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	certs, _ := pki.ParseCertificatesPEM(certPEM)
	leaf := string(pki.EncodeCertificatesPEM(certs[0]))
	r = e.do(t, http.MethodPost, mgmt+"/authenticators", admin, map[string]any{"method": "cert", "identityId": idA, "certPem": leaf})
	if r.status != http.StatusCreated {
		t.Fatalf("create cert: %d %s", r.status, r.raw)
	}
	c := e.do(t, http.MethodGet, mgmt+"/authenticators/"+r.data()["id"].(string), admin, nil).data()
	if c["fingerprint"] != pki.Fingerprint(certs[0]) || c["certPem"] != leaf {
		t.Fatalf("cert authenticator %v", c)
	}
	wantError(t, "same cert twice", e.do(t, http.MethodPost, mgmt+"/authenticators", admin,
		map[string]any{"method": "cert", "identityId": idA, "certPem": leaf}), http.StatusBadRequest, api.CodeCouldNotValidate)

	// Admin PUT needs both fields; PATCH changes the password.
	wantError(t, "put without password", e.do(t, http.MethodPut, mgmt+"/authenticators/"+authID, admin, map[string]any{"username": "auth-a-user"}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if r := e.do(t, http.MethodPatch, mgmt+"/authenticators/"+authID, admin, map[string]any{"password": "auth-a-new"}); r.status != http.StatusOK {
		t.Fatalf("patch password: %d %s", r.status, r.raw)
	}
	wantError(t, "old password", e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "",
		map[string]string{"username": "auth-a-user", "password": "auth-a-pass"}), http.StatusUnauthorized, api.CodeInvalidAuth)
	e.login(t, ClientBase, "auth-a-user", "auth-a-new")

	if r := e.do(t, http.MethodDelete, mgmt+"/authenticators/"+authID, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	wantError(t, "login after delete", e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "",
		map[string]string{"username": "auth-a-user", "password": "auth-a-new"}), http.StatusUnauthorized, api.CodeInvalidAuth)
	wantError(t, "get deleted", e.do(t, http.MethodGet, mgmt+"/authenticators/"+authID, admin, nil), http.StatusNotFound, api.CodeNotFound)
	wantError(t, "non-admin create", e.do(t, http.MethodPost, mgmt+"/authenticators", e.userToken(t), cases[0].body), http.StatusUnauthorized, api.CodeUnauthorized)
}

func TestOwnAuthenticatorNeedsCurrentPassword(t *testing.T) {
	e := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := createUser(ctx, e.node, "self-service", "self-service", "old-password", false); err != nil {
		t.Fatal(err)
	}
	tok := e.login(t, ClientBase, "self-service", "old-password")
	mine := e.do(t, http.MethodGet, ClientBase+"/current-identity", tok, nil).data()
	authID, _ := dig(mine, "authenticators", "updb", "id").(string)
	if authID == "" {
		t.Fatalf("current identity lists no updb authenticator: %v", mine)
	}
	path := ClientBase + "/current-identity/authenticators/" + authID
	if r := e.do(t, http.MethodGet, path, tok, nil); r.status != http.StatusOK || r.data()["username"] != "self-service" {
		t.Fatalf("get own: %d %s", r.status, r.raw)
	}
	ae := wantError(t, "no current password", e.do(t, http.MethodPatch, path, tok, map[string]any{"password": "new-password"}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if causeField(ae) != "currentPassword" {
		t.Errorf("cause %v", ae)
	}
	wantError(t, "wrong current password", e.do(t, http.MethodPatch, path, tok, map[string]any{"password": "new-password", "currentPassword": "guess-guess"}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if r := e.do(t, http.MethodPatch, path, tok, map[string]any{"password": "new-password", "currentPassword": "old-password"}); r.status != http.StatusOK {
		t.Fatalf("own patch: %d %s", r.status, r.raw)
	}
	e.login(t, ClientBase, "self-service", "new-password")
	// Someone else's authenticator is invisible.
	adminMe := e.do(t, http.MethodGet, ClientBase+"/current-identity", e.adminToken(t), nil).data()
	other, _ := dig(adminMe, "authenticators", "updb", "id").(string)
	wantError(t, "other's authenticator", e.do(t, http.MethodGet, ClientBase+"/current-identity/authenticators/"+other, tok, nil), http.StatusNotFound, api.CodeNotFound)
	wantError(t, "patch other's", e.do(t, http.MethodPatch, ClientBase+"/current-identity/authenticators/"+other, tok,
		map[string]any{"password": "hijacked", "currentPassword": "new-password"}), http.StatusNotFound, api.CodeNotFound)
}
