package rest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/fsm"
)

// jwksServer serves, on loopback over plain http, the key set of key as
// kid.
func jwksServer(t *testing.T, key *ecdsa.PrivateKey, kid string) *httptest.Server {
	t.Helper()
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &key.PublicKey, KeyID: kid, Algorithm: "ES256", Use: "sig"}}}
	raw, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func signedJWT(t *testing.T, method jwt.SigningMethod, key any, kid string, claims jwt.MapClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	s, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// External JWT signers: a token of a JWKS signer or of a certificate
// signer logs its identity in; every kind of bad token is the same 401 and
// creates no session; signers are checked on the way in and a signer a
// policy names stays; clients list the enabled ones without a session.
func TestExternalJwtLogin(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := jwksServer(t, key, "k1")
	issuer := "https://" + uniq("idp") + ".test"
	signer := createOK(t, e, "/external-jwt-signers", map[string]any{"name": uniq("idp"), "enabled": true, "issuer": issuer,
		"audience": "garrison", "jwksEndpoint": jwks.URL, "useExternalId": true, "claimsProperty": "email"})
	email := uniq("alice") + "@idp.test"
	ident := newIdentity(t, e, map[string]any{"name": uniq("ext-user"), "type": "User", "isAdmin": false, "externalId": email})

	claims := func(edit func(jwt.MapClaims)) jwt.MapClaims {
		c := jwt.MapClaims{"iss": issuer, "aud": "garrison", "email": email, "exp": time.Now().Add(time.Minute).Unix(), "iat": time.Now().Unix()}
		if edit != nil {
			edit(c)
		}
		return c
	}
	login := func(token string) *response {
		return e.doWithHeader(t, http.MethodPost, ClientBase+"/authenticate?method=ext-jwt", "", nil, http.Header{"Authorization": {"Bearer " + token}})
	}
	r := login(signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(nil)))
	if r.status != http.StatusOK || r.data()["identityId"] != ident {
		t.Fatalf("ext-jwt login: %d %s", r.status, r.raw)
	}
	if cur := e.do(t, http.MethodGet, ClientBase+"/current-identity", r.data()["token"].(string), nil); cur.status != http.StatusOK {
		t.Fatalf("the session of an ext-jwt login: %d %s", cur.status, cur.raw)
	}

	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	noneTok, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(nil)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	pubDER, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	before := e.count(t, fsm.KindApiSession)
	for what, token := range map[string]string{
		"another issuer":           signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["iss"] = "https://nobody.test" })),
		"another audience":         signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["aud"] = "someone-else" })),
		"expired":                  signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["exp"] = time.Now().Add(-time.Hour).Unix() })),
		"no expiry":                signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { delete(c, "exp") })),
		"alg none":                 noneTok,
		"HMAC with the public key": signedJWT(t, jwt.SigningMethodHS256, pubDER, "k1", claims(nil)),
		"another key":              signedJWT(t, jwt.SigningMethodES256, other, "k1", claims(nil)),
		"an unknown kid":           signedJWT(t, jwt.SigningMethodES256, key, "k2", claims(nil)),
		"nobody's email":           signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(func(c jwt.MapClaims) { c["email"] = "nobody@idp.test" })),
		"not a JWT":                "not-a-jwt",
	} {
		if r := login(token); r.status != http.StatusUnauthorized {
			t.Errorf("%s: %d %s", what, r.status, r.raw)
		}
	}
	if n := e.count(t, fsm.KindApiSession); n != before {
		t.Fatalf("refused logins created %d sessions", n-before)
	}

	// A certificate signer, and a policy allowing only it.
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "cert-idp"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &certKey.PublicKey, certKey)
	if err != nil {
		t.Fatal(err)
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	certIssuer := "https://" + uniq("cert-idp") + ".test"
	certSigner := createOK(t, e, "/external-jwt-signers", map[string]any{"name": uniq("cert-idp"), "enabled": true, "issuer": certIssuer,
		"audience": "garrison", "certPem": certPEM})
	if d := e.do(t, http.MethodGet, mgmt+"/external-jwt-signers/"+certSigner, admin, nil).data(); d["commonName"] != "cert-idp" || d["jwksEndpoint"] != nil {
		t.Fatalf("certificate signer: %v", d)
	}
	policy := authPolicyBody(uniq("ap-ext"), 8, 0)
	obj(obj(policy["primary"])["extJwt"])["allowed"] = true
	obj(obj(policy["primary"])["extJwt"])["allowedSigners"] = []string{certSigner}
	policyID := createOK(t, e, "/auth-policies", policy)
	if r := e.do(t, http.MethodPatch, mgmt+"/identities/"+ident, admin, map[string]any{"authPolicyId": policyID}); r.status != http.StatusOK {
		t.Fatalf("set the policy: %d %s", r.status, r.raw)
	}
	byID := jwt.MapClaims{"iss": certIssuer, "aud": []string{"x", "garrison"}, "sub": ident, "exp": time.Now().Add(time.Minute).Unix()}
	if r := login(signedJWT(t, jwt.SigningMethodES256, certKey, "", byID)); r.status != http.StatusOK {
		t.Fatalf("certificate signer login: %d %s", r.status, r.raw)
	}
	if r := login(signedJWT(t, jwt.SigningMethodES256, key, "k1", claims(nil))); r.status != http.StatusUnauthorized {
		t.Fatalf("a signer the identity's policy does not allow: %d %s", r.status, r.raw)
	}
	wantFieldError(t, "delete a signer a policy names", e.do(t, http.MethodDelete, mgmt+"/external-jwt-signers/"+certSigner, admin, nil), "id")

	// Disabled: refused, and not listed to clients.
	if r := e.do(t, http.MethodPatch, mgmt+"/external-jwt-signers/"+certSigner, admin, map[string]any{"enabled": false}); r.status != http.StatusOK {
		t.Fatalf("disable: %d %s", r.status, r.raw)
	}
	if r := login(signedJWT(t, jwt.SigningMethodES256, certKey, "", byID)); r.status != http.StatusUnauthorized {
		t.Fatalf("a disabled signer: %d %s", r.status, r.raw)
	}
	listed := map[string]bool{}
	for _, it := range e.do(t, http.MethodGet, ClientBase+"/external-jwt-signers?limit=500", "", nil).list() {
		listed[obj(it)["id"].(string)] = true
	}
	if !listed[signer] || listed[certSigner] {
		t.Fatalf("client list: %v (want %s, not %s)", listed, signer, certSigner)
	}

	// Bad signers are refused, naming the field, and nothing is stored.
	before = e.count(t, fsm.KindExtJwtSigner)
	for what, c := range map[string]struct {
		edit  map[string]any
		field string
	}{
		"both":                  {map[string]any{"certPem": certPEM, "jwksEndpoint": jwks.URL}, "jwksEndpoint"},
		"neither":               {map[string]any{}, "certPem"},
		"http to a remote":      {map[string]any{"jwksEndpoint": "http://idp.example.com/keys"}, "jwksEndpoint"},
		"not a URL":             {map[string]any{"jwksEndpoint": "keys"}, "jwksEndpoint"},
		"not a certificate":     {map[string]any{"certPem": "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}, "certPem"},
		"unknown enroll policy": {map[string]any{"jwksEndpoint": jwks.URL, "enrollAuthPolicyId": "nope"}, "enrollAuthPolicyId"},
	} {
		body := map[string]any{"name": uniq("bad-idp"), "enabled": true, "issuer": "https://" + uniq("bad") + ".test", "audience": "a"}
		for k, v := range c.edit {
			body[k] = v
		}
		wantFieldError(t, what, e.do(t, http.MethodPost, mgmt+"/external-jwt-signers", admin, body), c.field)
	}
	if n := e.count(t, fsm.KindExtJwtSigner); n != before {
		t.Fatalf("refused signers were stored: %d -> %d", before, n)
	}
}

// Token enrollment: a signer's JWT creates the identity it describes (its
// external id, name and attributes from the claims, the signer's enroll
// policy), which then logs in with such tokens; with a CSR it also gets a
// certificate. Twice is a conflict; what the signer does not allow, and a
// bad token, are refused with nothing stored.
func TestTokenEnrollment(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := jwksServer(t, key, "te")
	policy := authPolicyBody(uniq("ap-enroll"), 8, 0)
	obj(obj(policy["primary"])["extJwt"])["allowed"] = true
	policyID := createOK(t, e, "/auth-policies", policy)
	issuer := "https://" + uniq("enroll-idp") + ".test"
	signer := createOK(t, e, "/external-jwt-signers", map[string]any{"name": uniq("enroll-idp"), "enabled": true, "issuer": issuer,
		"audience": "garrison", "jwksEndpoint": jwks.URL, "useExternalId": true, "enrollToTokenEnabled": true, "enrollToCertEnabled": true,
		"enrollNameClaimsSelector": "name", "enrollAttributeClaimsSelector": "/groups", "enrollAuthPolicyId": policyID})
	token := func(sub string) string {
		return signedJWT(t, jwt.SigningMethodES256, key, "te", jwt.MapClaims{"iss": issuer, "aud": "garrison", "sub": sub,
			"name": "user " + sub, "groups": []string{"g1", "g2"}, "exp": time.Now().Add(time.Minute).Unix()})
	}
	enroll := func(tok string, body map[string]any) *response {
		return e.doWithHeader(t, http.MethodPost, ClientBase+"/enroll/token", "", body, http.Header{"Authorization": {"Bearer " + tok}})
	}
	sub := uniq("sub")
	if r := enroll(token(sub), map[string]any{}); r.status != http.StatusOK {
		t.Fatalf("token enrollment: %d %s", r.status, r.raw)
	}
	l := e.do(t, http.MethodGet, mgmt+`/identities?filter=`+queryEscape(`externalId = "`+sub+`"`), admin, nil).list()
	if len(l) != 1 {
		t.Fatalf("the enrolled identity: %v", l)
	}
	d := obj(l[0])
	if d["name"] != "user "+sub || d["authPolicyId"] != policyID || len(d["roleAttributes"].([]any)) != 2 {
		t.Fatalf("the enrolled identity: %v", d)
	}
	login := e.doWithHeader(t, http.MethodPost, ClientBase+"/authenticate?method=ext-jwt", "", nil, http.Header{"Authorization": {"Bearer " + token(sub)}})
	if login.status != http.StatusOK || login.data()["identityId"] != d["id"] {
		t.Fatalf("the enrolled identity's login: %d %s", login.status, login.raw)
	}
	wantError(t, "enroll twice", enroll(token(sub), map[string]any{}), http.StatusConflict, codeAlreadyEnrolled)

	// With a CSR: a certificate authenticator too.
	certKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	certSub := uniq("sub")
	r := enroll(token(certSub), map[string]any{"clientCsr": csrPEM(t, certKey, "token-device", nil, nil)})
	if r.status != http.StatusOK || r.data()["cert"] == nil || r.data()["ca"] == nil {
		t.Fatalf("token enrollment with a CSR: %d %s", r.status, r.raw)
	}
	id := obj(e.do(t, http.MethodGet, mgmt+`/identities?filter=`+queryEscape(`externalId = "`+certSub+`"`), admin, nil).list()[0])["id"].(string)
	auths := e.do(t, http.MethodGet, mgmt+"/identities/"+id+"/authenticators", admin, nil).list()
	if len(auths) != 1 || obj(auths[0])["method"] != "cert" {
		t.Fatalf("the certificate authenticator: %v", auths)
	}

	// Not allowed, bad tokens: refused, nothing stored.
	if r := e.do(t, http.MethodPatch, mgmt+"/external-jwt-signers/"+signer, admin, map[string]any{"enrollToTokenEnabled": false}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	before := e.count(t, fsm.KindIdentity)
	wantError(t, "token enrollment the signer does not allow", enroll(token(uniq("sub")), map[string]any{}), http.StatusBadRequest, codeEnrollmentNotAllowed)
	wantError(t, "a bad token", enroll("not-a-token", map[string]any{}), http.StatusBadRequest, "INVALID_ENROLLMENT_TOKEN")
	if r := enroll(token(uniq("sub")), map[string]any{"clientCsr": "not a CSR"}); r.status != http.StatusBadRequest {
		t.Fatalf("a bad CSR: %d %s", r.status, r.raw)
	}
	if r := enroll(token(uniq("sub")), map[string]any{"clientCsr": 7}); r.status != http.StatusBadRequest {
		t.Fatalf("a CSR that is not a string: %d %s", r.status, r.raw)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	forged := signedJWT(t, jwt.SigningMethodES256, other, "te", jwt.MapClaims{"iss": issuer, "aud": "garrison", "sub": "forged", "exp": time.Now().Add(time.Minute).Unix()})
	wantError(t, "a forged token", enroll(forged, map[string]any{"clientCsr": csrPEM(t, certKey, "x", nil, nil)}), http.StatusBadRequest, "INVALID_ENROLLMENT_TOKEN")
	if n := e.count(t, fsm.KindIdentity); n != before {
		t.Fatalf("refused enrollments created %d identities", n-before)
	}
	// Token enrollment makes identities that log in by external id.
	wantFieldError(t, "token enrollment without external ids", e.do(t, http.MethodPatch, mgmt+"/external-jwt-signers/"+signer, admin,
		map[string]any{"enrollToTokenEnabled": true, "useExternalId": false}), "useExternalId")
	// A signer cannot promise what its enroll policy refuses.
	strict := authPolicyBody(uniq("ap-strict"), 8, 0) // extJwt not allowed
	strictID := createOK(t, e, "/auth-policies", strict)
	wantFieldError(t, "token enrollment under a policy without ext-jwt", e.do(t, http.MethodPatch, mgmt+"/external-jwt-signers/"+signer, admin,
		map[string]any{"enrollToTokenEnabled": true, "enrollAuthPolicyId": strictID}), "enrollToTokenEnabled")
}

// An auth policy requiring an external signer as second factor: a
// session is partial on every request that does not carry a valid JWT of
// that signer naming its identity, and says so in its authQueries.
func TestSecondaryExternalJwt(t *testing.T) {
	e := env(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks := jwksServer(t, key, "2nd")
	issuer := "https://" + uniq("second") + ".test"
	signer := createOK(t, e, "/external-jwt-signers", map[string]any{"name": uniq("second"), "enabled": true, "issuer": issuer,
		"audience": "garrison", "jwksEndpoint": jwks.URL, "externalAuthUrl": "https://idp.example/auth", "clientId": "garrison-cli"})
	policy := authPolicyBody(uniq("ap-2nd"), 8, 0)
	obj(policy["secondary"])["requireExtJwtSigner"] = signer
	ident, name := userUnderPolicy(t, e, policy)
	jwtFor := func(sub string) string {
		return signedJWT(t, jwt.SigningMethodES256, key, "2nd", jwt.MapClaims{"iss": issuer, "aud": "garrison", "sub": sub, "exp": time.Now().Add(time.Minute).Unix()})
	}
	r := e.do(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]any{"username": name, "password": "sp-password-1"})
	qs, _ := r.data()["authQueries"].([]any)
	if r.status != http.StatusOK || len(qs) != 1 || obj(qs[0])["typeId"] != "EXT-JWT" || obj(qs[0])["id"] != signer || obj(qs[0])["clientId"] != "garrison-cli" {
		t.Fatalf("login without the second factor: %d %s", r.status, r.raw)
	}
	session := r.data()["token"].(string)
	with := func(jwtText string) http.Header {
		h := http.Header{sessionHeader: {session}}
		if jwtText != "" {
			h.Set("Authorization", "Bearer "+jwtText)
		}
		return h
	}
	for what, c := range map[string]struct {
		jwt  string
		want int
	}{
		"no JWT": {"", http.StatusUnauthorized}, "another identity's JWT": {jwtFor("someone-else"), http.StatusUnauthorized},
		"its JWT": {jwtFor(ident), http.StatusOK},
	} {
		if r := e.doWithHeader(t, http.MethodGet, ClientBase+"/current-identity", "", nil, with(c.jwt)); r.status != c.want {
			t.Errorf("%s: %d %s, want %d", what, r.status, r.raw, c.want)
		}
	}
	// Holding only the password, one may not bind a TOTP to the identity.
	if r := e.doWithHeader(t, http.MethodPost, ClientBase+"/current-identity/mfa", "", nil, with("")); r.status != http.StatusUnauthorized {
		t.Fatalf("MFA enrollment without the second factor: %d %s", r.status, r.raw)
	}
	cur := e.doWithHeader(t, http.MethodGet, ClientBase+"/current-api-session", "", nil, with(jwtFor(ident)))
	if q := cur.data()["authQueries"].([]any); cur.status != http.StatusOK || len(q) != 0 {
		t.Fatalf("the session with its JWT: %d %s", cur.status, cur.raw)
	}
	login := e.doWithHeader(t, http.MethodPost, ClientBase+"/authenticate?method=password", "", map[string]any{"username": name, "password": "sp-password-1"},
		http.Header{"Authorization": {"Bearer " + jwtFor(ident)}})
	if q, _ := login.data()["authQueries"].([]any); login.status != http.StatusOK || len(q) != 0 {
		t.Fatalf("login with the second factor: %d %s", login.status, login.raw)
	}
}
