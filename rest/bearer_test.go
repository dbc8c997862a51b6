package rest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// bearer sends a request with an Authorization: Bearer header.
func (n *apiNode) bearer(t *testing.T, method, path, token string) *response {
	t.Helper()
	h := http.Header{}
	h.Set("Authorization", "Bearer "+token)
	resp := n.send(t, method, path, "", nil, h)
	return readResponse(t, resp)
}

func loginWithAccessToken(t *testing.T, e *testEnv, username, password string) (session, access string) {
	t.Helper()
	r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]string{"username": username, "password": password})
	if r.status != http.StatusOK {
		t.Fatalf("login: %d %s", r.status, r.raw)
	}
	session, _ = r.data()["token"].(string)
	access, _ = r.data()["accessToken"].(string)
	if access == "" || r.data()["accessTokenExpiresAt"] == nil {
		t.Fatalf("no access token in %s", r.raw)
	}
	return session, access
}

func TestBearerTokenAcceptedAndRevokedWithSession(t *testing.T) {
	e := env(t)
	session, access := loginWithAccessToken(t, e, adminUsername, adminPassword)
	// The header is ES256 with this node's kid.
	hdr, _ := base64.RawURLEncoding.DecodeString(strings.Split(access, ".")[0])
	var h map[string]any
	_ = json.Unmarshal(hdr, &h)
	if h["alg"] != "ES256" || h["kid"] == "" {
		t.Fatalf("token header %v", h)
	}
	for _, path := range []string{ClientBase + "/current-identity", mgmt + "/identity-types", mgmt + "/current-api-session"} {
		if r := e.bearer(t, http.MethodGet, path, access); r.status != http.StatusOK {
			t.Fatalf("bearer %s: %d %s", path, r.status, r.raw)
		}
	}
	// Logging out the session revokes its access tokens.
	if r := e.do(t, http.MethodDelete, ClientBase+"/current-api-session", session, nil); r.status != http.StatusOK {
		t.Fatalf("logout: %d", r.status)
	}
	wantError(t, "bearer after logout", e.bearer(t, http.MethodGet, ClientBase+"/current-identity", access), http.StatusUnauthorized, api.CodeUnauthorized)
}

func TestForgedBearerTokensAreRefused(t *testing.T) {
	e := env(t)
	_, access := loginWithAccessToken(t, e, adminUsername, adminPassword)
	parts := strings.Split(access, ".")
	var claims map[string]any
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	_ = json.Unmarshal(payload, &claims)
	var hdr map[string]any
	raw, _ := base64.RawURLEncoding.DecodeString(parts[0])
	_ = json.Unmarshal(raw, &hdr)
	kid := hdr["kid"].(string)
	enc := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }

	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	signWith := func(key any, method jwt.SigningMethod, c jwt.MapClaims, kid string) string {
		tok := jwt.NewWithClaims(method, c)
		tok.Header["kid"] = kid
		s, err := tok.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	mapClaims := func(change func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{}
		for k, v := range claims {
			c[k] = v
		}
		change(c)
		return c
	}
	forged := map[string]string{
		"alg none":        enc(map[string]any{"alg": "none", "kid": kid}) + "." + parts[1] + ".",
		"tampered claims": parts[0] + "." + enc(mapClaims(func(c jwt.MapClaims) { c["sub"] = "someone-else" })) + "." + parts[2],
		"wrong key":       signWith(otherKey, jwt.SigningMethodES256, mapClaims(func(jwt.MapClaims) {}), kid),
		"unknown kid":     signWith(otherKey, jwt.SigningMethodES256, mapClaims(func(jwt.MapClaims) {}), "no-such-kid"),
		// HMAC keyed with public material (here the kid) must not pass.
		"HS256 with kid":    signWith([]byte(kid), jwt.SigningMethodHS256, mapClaims(func(jwt.MapClaims) {}), kid),
		"expired":           "",
		"wrong audience":    "",
		"truncated":         parts[0] + "." + parts[1],
		"garbage":           "not-a-jwt",
		"foreign issuer":    "",
		"signature swapped": parts[0] + "." + parts[1] + "." + base64.RawURLEncoding.EncodeToString(make([]byte, 64)),
	}
	// Tokens that need the node's real key to be otherwise valid are minted
	// through the server's own signer with one claim wrong.
	mint := func(change func(jwt.MapClaims)) string {
		return signWith(e.srv.cfg.Signer.Key, jwt.SigningMethodES256, mapClaims(change), kid)
	}
	forged["expired"] = mint(func(c jwt.MapClaims) {
		c["exp"] = time.Now().Add(-time.Hour).Unix()
		c["iat"] = time.Now().Add(-2 * time.Hour).Unix()
		c["nbf"] = time.Now().Add(-2 * time.Hour).Unix()
	})
	forged["wrong audience"] = mint(func(c jwt.MapClaims) { c["aud"] = []string{"someone-else"} })
	forged["foreign issuer"] = mint(func(c jwt.MapClaims) { c["iss"] = "https://evil.example" })
	// Control: the same minting with nothing changed is accepted, so the
	// refusals above are about the one changed thing.
	if r := e.bearer(t, http.MethodGet, ClientBase+"/current-identity", mint(func(jwt.MapClaims) {})); r.status != http.StatusOK {
		t.Fatalf("control token refused: %d %s", r.status, r.raw)
	}
	for name, tok := range forged {
		wantError(t, name, e.bearer(t, http.MethodGet, ClientBase+"/current-identity", tok), http.StatusUnauthorized, api.CodeUnauthorized)
	}
}
