package rest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/internal/edge"
)

const oidcCallback = "http://localhost:8080/auth/callback"

// oauthAnswer is an answer of /oidc: status, headers and JSON body.
type oauthAnswer struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// oidcDo sends a request to /oidc without following redirects; a form is
// posted as application/x-www-form-urlencoded.
func oidcDo(t *testing.T, n *apiNode, method, path string, form url.Values, header http.Header, raw ...[]byte) *oauthAnswer {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	if len(raw) > 0 {
		body = strings.NewReader(string(raw[0]))
	}
	req, err := http.NewRequest(method, n.url+path, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	c := *n.client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	a := &oauthAnswer{status: resp.StatusCode, header: resp.Header, raw: string(out)}
	_ = json.Unmarshal(out, &a.body)
	return a
}

// wantOAuthError checks an RFC 6749 error answer.
func wantOAuthError(t *testing.T, what string, a *oauthAnswer, status int, code string) {
	t.Helper()
	if a.status != status || a.body["error"] != code {
		t.Fatalf("%s: got %d %s, want %d with error %s", what, a.status, a.raw, status, code)
	}
}

type pkce struct{ verifier, challenge string }

func newPKCE() pkce {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	sum := sha256.Sum256([]byte(v))
	return pkce{v, base64.RawURLEncoding.EncodeToString(sum[:])}
}

// oidcAuthorize starts a code flow and returns the auth request id the
// login step names, as the SDK finds it after following the redirect.
func oidcAuthorize(t *testing.T, n *apiNode, p pkce) string {
	t.Helper()
	q := url.Values{"client_id": {"native"}, "response_type": {"code"}, "scope": {"openid offline_access"},
		"state": {"st-1"}, "nonce": {"no-1"}, "code_challenge": {p.challenge}, "code_challenge_method": {"S256"},
		"redirect_uri": {oidcCallback}}
	a := oidcDo(t, n, http.MethodGet, "/oidc/authorize?"+q.Encode(), nil, nil)
	if a.status != http.StatusFound {
		t.Fatalf("authorize: %d %s", a.status, a.raw)
	}
	page := oidcDo(t, n, http.MethodGet, a.header.Get("Location"), nil, nil)
	id := page.header.Get(authRequestHeader)
	if page.status != http.StatusOK || id == "" {
		t.Fatalf("login page %s: %d %s", a.header.Get("Location"), page.status, page.raw)
	}
	return id
}

// codeOf reads the code of a login step's redirect, checking its state.
func codeOf(t *testing.T, a *oauthAnswer) string {
	t.Helper()
	if a.status != http.StatusFound {
		t.Fatalf("login step: %d %s", a.status, a.raw)
	}
	u, err := url.Parse(a.header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.String(), oidcCallback) || u.Query().Get("state") != "st-1" || u.Query().Get("code") == "" {
		t.Fatalf("redirect %q", a.header.Get("Location"))
	}
	return u.Query().Get("code")
}

func exchangeCode(n *apiNode, t *testing.T, code string, p pkce) *oauthAnswer {
	t.Helper()
	return oidcDo(t, n, http.MethodPost, "/oidc/oauth/token", url.Values{"grant_type": {"authorization_code"},
		"client_id": {"native"}, "code": {code}, "code_verifier": {p.verifier}, "redirect_uri": {oidcCallback}}, nil)
}

// oidcPasswordTokens runs the whole code flow with a password.
func oidcPasswordTokens(t *testing.T, n *apiNode, username, password string) map[string]any {
	t.Helper()
	p := newPKCE()
	id := oidcAuthorize(t, n, p)
	code := codeOf(t, oidcDo(t, n, http.MethodPost, "/oidc/login/password",
		url.Values{"id": {id}, "username": {username}, "password": {password}, "sdkType": {"test"}}, nil))
	a := exchangeCode(n, t, code, p)
	if a.status != http.StatusOK {
		t.Fatalf("token: %d %s", a.status, a.raw)
	}
	return a.body
}

func refreshWith(t *testing.T, n *apiNode, refresh string) *oauthAnswer {
	t.Helper()
	return oidcDo(t, n, http.MethodPost, "/oidc/oauth/token",
		url.Values{"grant_type": {"refresh_token"}, "client_id": {"native"}, "refresh_token": {refresh}}, nil)
}

// The code flow of OpenZiti's SDK: authorize, a password login step, the
// code for tokens whose access token opens both Edge APIs and which the
// published key set verifies; a refresh rotates the refresh token, and
// using a spent one (or the code again) revokes the whole grant.
func TestOidcCodeFlowRefreshRotationAndReuse(t *testing.T) {
	e := env(t)
	disc := oidcDo(t, e.apiNode, http.MethodGet, "/oidc/.well-known/openid-configuration", nil, nil)
	host := strings.TrimPrefix(e.url, "https://")
	if disc.status != http.StatusOK || disc.body["issuer"] != "https://"+host+"/oidc" ||
		disc.body["token_endpoint"] != "https://"+host+"/oidc/oauth/token" || disc.body["tls_client_certificate_bound_access_tokens"] != true {
		t.Fatalf("discovery: %d %s", disc.status, disc.raw)
	}
	tokens := oidcPasswordTokens(t, e.apiNode, userUsername, userPassword)
	access, refresh := tokens["access_token"].(string), tokens["refresh_token"].(string)
	if tokens["token_type"] != "Bearer" || tokens["expires_in"] != float64(1800) || tokens["id_token"] == nil ||
		obj(tokens["identity"])["name"] != userName {
		t.Fatalf("token response: %v", tokens)
	}
	for _, path := range []string{ClientBase + "/current-identity", mgmt + "/current-api-session"} {
		if r := bearerGet(t, e.apiNode, path, access); r.status != http.StatusOK {
			t.Fatalf("bearer %s: %d %s", path, r.status, r.raw)
		}
	}
	// The key set at jwks_uri verifies the access token and the ID token.
	keys := oidcDo(t, e.apiNode, http.MethodGet, "/oidc/keys", nil, nil)
	var set jose.JSONWebKeySet
	if err := json.Unmarshal([]byte(keys.raw), &set); err != nil {
		t.Fatal(err)
	}
	for _, tok := range []string{access, tokens["id_token"].(string)} {
		parsed, err := jwt.Parse(tok, func(tk *jwt.Token) (any, error) {
			for _, k := range set.Key(tk.Header["kid"].(string)) {
				return k.Key, nil
			}
			return nil, jwt.ErrTokenUnverifiable
		}, jwt.WithValidMethods([]string{"ES256"}))
		if err != nil || !parsed.Valid {
			t.Fatalf("the published keys do not verify a token: %v", err)
		}
	}
	claims := jwt.MapClaims{}
	_, _, _ = jwt.NewParser().ParseUnverified(tokens["id_token"].(string), claims)
	if claims["nonce"] != "no-1" || claims["aud"] == nil || claims["name"] != userName {
		t.Fatalf("ID token claims: %v", claims)
	}

	// A refresh rotates: new tokens, and the old refresh token is spent.
	a := refreshWith(t, e.apiNode, refresh)
	if a.status != http.StatusOK || a.body["refresh_token"] == refresh || a.body["access_token"] == nil {
		t.Fatalf("refresh: %d %s", a.status, a.raw)
	}
	second := a.body["refresh_token"].(string)
	if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", a.body["access_token"].(string)); r.status != http.StatusOK {
		t.Fatalf("refreshed access token: %d", r.status)
	}
	// The spent one again: the grant is revoked, its newest refresh token
	// and its access tokens with it.
	wantOAuthError(t, "a spent refresh token", refreshWith(t, e.apiNode, refresh), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, "the newest refresh token after a reuse", refreshWith(t, e.apiNode, second), http.StatusBadRequest, "invalid_grant")
	if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", access); r.status != http.StatusUnauthorized {
		t.Fatalf("an access token of a revoked grant: %d", r.status)
	}

	// A code works once; its second use revokes what the first gave.
	p := newPKCE()
	id := oidcAuthorize(t, e.apiNode, p)
	code := codeOf(t, oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/password",
		url.Values{"id": {id}, "username": {userUsername}, "password": {userPassword}}, nil))
	// The auth request logs in once.
	if a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/password",
		url.Values{"id": {id}, "username": {userUsername}, "password": {userPassword}}, nil); a.status != http.StatusBadRequest {
		t.Fatalf("a second login of one auth request: %d %s", a.status, a.raw)
	}
	wantOAuthError(t, "a wrong code verifier", exchangeCode(e.apiNode, t, code, newPKCE()), http.StatusBadRequest, "invalid_grant")
	first := exchangeCode(e.apiNode, t, code, p)
	if first.status != http.StatusOK {
		t.Fatalf("exchange: %d %s", first.status, first.raw)
	}
	wantOAuthError(t, "a code used twice", exchangeCode(e.apiNode, t, code, p), http.StatusBadRequest, "invalid_grant")
	if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", first.body["access_token"].(string)); r.status != http.StatusUnauthorized {
		t.Fatalf("the access token of a replayed code: %d", r.status)
	}
}

// Revocation (RFC 7009) of either token ends the grant; an unknown token
// is answered 200 and changes nothing.
func TestOidcRevocation(t *testing.T) {
	e := env(t)
	for _, which := range []string{"refresh_token", "access_token"} {
		tokens := oidcPasswordTokens(t, e.apiNode, userUsername, userPassword)
		a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/revoke",
			url.Values{"client_id": {"native"}, "token": {tokens[which].(string)}, "token_type_hint": {which}}, nil)
		if a.status != http.StatusOK {
			t.Fatalf("revoke %s: %d %s", which, a.status, a.raw)
		}
		if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", tokens["access_token"].(string)); r.status != http.StatusUnauthorized {
			t.Fatalf("access token after revoking the %s: %d", which, r.status)
		}
		wantOAuthError(t, "refresh after revocation", refreshWith(t, e.apiNode, tokens["refresh_token"].(string)), http.StatusBadRequest, "invalid_grant")
	}
	if a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/revoke", url.Values{"client_id": {"native"}, "token": {"not-a-token"}}, nil); a.status != http.StatusOK {
		t.Fatalf("revoke garbage: %d %s", a.status, a.raw)
	}
}

// A client presenting its certificate gets tokens by the client
// credentials grant (RFC 8705 client authentication), bound to that
// certificate: without it they open nothing; its refresh token does not
// go with another identity's certificate.
func TestOidcClientCredentialsWithCertificate(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	alice := newCertUser(t, e.apiNode, e.pki.inter, "oidc-cc-alice", admin)
	bob := newCertUser(t, e.apiNode, e.pki.inter, "oidc-cc-bob", admin)
	asAlice := withClientCert(t, e.apiNode, e.pki.roots, alice.tlsCert())
	asBob := withClientCert(t, e.apiNode, e.pki.roots, bob.tlsCert())
	grant := url.Values{"grant_type": {"client_credentials"}, "client_id": {"openziti"}, "scope": {"openid offline_access"}}

	wantOAuthError(t, "client credentials without a certificate", oidcDo(t, e.apiNode, http.MethodPost, "/oidc/oauth/token", grant, nil),
		http.StatusBadRequest, "invalid_client")
	a := oidcDo(t, asAlice, http.MethodPost, "/oidc/oauth/token", grant, nil)
	if a.status != http.StatusOK || obj(a.body["identity"])["id"] != alice.identityID {
		t.Fatalf("client credentials: %d %s", a.status, a.raw)
	}
	access, refresh := a.body["access_token"].(string), a.body["refresh_token"].(string)
	claims := jwt.MapClaims{}
	_, _, _ = jwt.NewParser().ParseUnverified(access, claims)
	if cnf, _ := claims["cnf"].(map[string]any); cnf["x5t#S256"] != edge.CertThumbprint(alice.leaf) || claims["z_asid"] == nil {
		t.Fatalf("access token claims: %v", claims)
	}
	if r := bearerGet(t, asAlice, ClientBase+"/current-identity", access); r.status != http.StatusOK {
		t.Fatalf("bound token with its certificate: %d %s", r.status, r.raw)
	}
	for what, n := range map[string]*apiNode{"no certificate": e.apiNode, "another certificate": asBob} {
		if r := bearerGet(t, n, ClientBase+"/current-identity", access); r.status != http.StatusUnauthorized {
			t.Fatalf("bound token with %s: %d", what, r.status)
		}
	}
	refreshAs := func(n *apiNode) *oauthAnswer {
		return oidcDo(t, n, http.MethodPost, "/oidc/oauth/token",
			url.Values{"grant_type": {"refresh_token"}, "client_id": {"openziti"}, "refresh_token": {refresh}}, nil)
	}
	wantOAuthError(t, "alice's refresh token with bob's certificate", refreshAs(asBob), http.StatusBadRequest, "invalid_grant")
	if a := refreshAs(asAlice); a.status != http.StatusOK {
		t.Fatalf("refresh with the bound certificate: %d %s", a.status, a.raw)
	}
}

// Bad token requests: each an RFC 6749 error, nothing issued.
func TestOidcBadRequests(t *testing.T) {
	e := env(t)
	post := func(form url.Values) *oauthAnswer {
		return oidcDo(t, e.apiNode, http.MethodPost, "/oidc/oauth/token", form, nil)
	}
	wantOAuthError(t, "unknown grant type", post(url.Values{"grant_type": {"password"}, "client_id": {"native"}}), http.StatusBadRequest, "unsupported_grant_type")
	wantOAuthError(t, "no grant type", post(url.Values{"client_id": {"native"}}), http.StatusBadRequest, "invalid_request")
	wantOAuthError(t, "unknown client", post(url.Values{"grant_type": {"refresh_token"}, "client_id": {"evil"}, "refresh_token": {"x"}}),
		http.StatusBadRequest, "invalid_client")
	wantOAuthError(t, "a client secret", post(url.Values{"grant_type": {"refresh_token"}, "client_id": {"native"}, "client_secret": {"s"}, "refresh_token": {"x"}}),
		http.StatusBadRequest, "invalid_client")
	wantOAuthError(t, "garbage refresh token", post(url.Values{"grant_type": {"refresh_token"}, "client_id": {"native"}, "refresh_token": {"x.y.z"}}),
		http.StatusBadRequest, "invalid_grant")
	tokens := oidcPasswordTokens(t, e.apiNode, userUsername, userPassword)
	// An access token is not a refresh token, nor a code.
	wantOAuthError(t, "access token as refresh token", post(url.Values{"grant_type": {"refresh_token"}, "client_id": {"native"},
		"refresh_token": {tokens["access_token"].(string)}}), http.StatusBadRequest, "invalid_grant")
	wantOAuthError(t, "refresh token as code", post(url.Values{"grant_type": {"authorization_code"}, "client_id": {"native"},
		"code": {tokens["refresh_token"].(string)}, "redirect_uri": {oidcCallback}, "code_verifier": {newPKCE().verifier}}), http.StatusBadRequest, "invalid_grant")
	// Authorize without PKCE, or to a redirect that is not a loopback callback.
	q := url.Values{"client_id": {"native"}, "response_type": {"code"}, "scope": {"openid"}, "redirect_uri": {oidcCallback}}
	if a := oidcDo(t, e.apiNode, http.MethodGet, "/oidc/authorize?"+q.Encode(), nil, nil); a.status == http.StatusFound &&
		strings.Contains(a.header.Get("Location"), "/oidc/login/") {
		t.Fatalf("authorize without PKCE went on to the login: %s", a.header.Get("Location"))
	}
	q.Set("code_challenge", newPKCE().challenge)
	q.Set("code_challenge_method", "S256")
	q.Set("redirect_uri", "https://evil.example/cb")
	if a := oidcDo(t, e.apiNode, http.MethodGet, "/oidc/authorize?"+q.Encode(), nil, nil); a.status != http.StatusBadRequest {
		t.Fatalf("authorize to a foreign redirect: %d %s", a.status, a.raw)
	}
	// A login step naming no or a forged auth request.
	for _, id := range []string{"", "forged"} {
		a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/password",
			url.Values{"id": {id}, "username": {userUsername}, "password": {userPassword}}, nil)
		if a.status != http.StatusBadRequest {
			t.Fatalf("login step with id %q: %d %s", id, a.status, a.raw)
		}
	}
	// A wrong password is the same 401 as /authenticate's.
	id := oidcAuthorize(t, e.apiNode, newPKCE())
	if a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/password",
		url.Values{"id": {id}, "username": {userUsername}, "password": {"wrong"}}, nil); a.status != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d %s", a.status, a.raw)
	}
}

// An identity with TOTP owes its code at the login step: 200 with the
// auth queries, then /oidc/login/totp gives the code's redirect.
func TestOidcLoginOwingTotp(t *testing.T) {
	e := env(t)
	ident, token := userWith(t, e)
	name := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, e.adminToken(t), nil).data()["name"].(string)
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa", token, nil); r.status != http.StatusCreated {
		t.Fatalf("enroll: %d %s", r.status, r.raw)
	}
	u, _ := url.Parse(e.do(t, http.MethodGet, ClientBase+"/current-identity/mfa", token, nil).data()["provisioningUrl"].(string))
	secret := u.Query().Get("secret")
	first := totpAt(t, secret, 0)
	if r := e.do(t, http.MethodPost, ClientBase+"/current-identity/mfa/verify", token, map[string]any{"code": first}); r.status != http.StatusOK {
		t.Fatalf("verify: %d %s", r.status, r.raw)
	}
	p := newPKCE()
	id := oidcAuthorize(t, e.apiNode, p)
	a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/password", url.Values{"id": {id}, "username": {name}, "password": {"sp-password-1"}}, nil)
	queries, _ := a.body["authQueries"].([]any)
	if a.status != http.StatusOK || a.header.Get(totpRequiredHeader) == "" || len(queries) != 1 || obj(queries[0])["isTotpEnrolled"] != true {
		t.Fatalf("login owing TOTP: %d %v %s", a.status, a.header, a.raw)
	}
	totp := func(code string) *oauthAnswer {
		return oidcJSON(t, e.apiNode, "/oidc/login/totp", map[string]string{"id": id, "code": code})
	}
	if a := totp(first); a.status != http.StatusBadRequest {
		t.Fatalf("a spent TOTP code: %d %s", a.status, a.raw)
	}
	code := codeOf(t, totp(totpAt(t, secret, 1)))
	if a := exchangeCode(e.apiNode, t, code, p); a.status != http.StatusOK {
		t.Fatalf("exchange after TOTP: %d %s", a.status, a.raw)
	}
}

// oidcJSON posts a JSON body to /oidc without following redirects.
func oidcJSON(t *testing.T, n *apiNode, path string, body any) *oauthAnswer {
	t.Helper()
	raw, _ := json.Marshal(body)
	return oidcDo(t, n, http.MethodPost, path, nil, http.Header{"Content-Type": {"application/json"}}, raw)
}

// An identity whose auth policy requires TOTP and that has none enrolls
// during the login step, as OpenZiti's SDK does when the query says it is
// not enrolled: the enrollment's provisioning URL, then its first code
// gives the redirect with the code.
func TestOidcLoginEnrollsTotp(t *testing.T) {
	e := env(t)
	body := authPolicyBody(uniq("ap-oidc-totp"), 8, 0)
	obj(body["secondary"])["requireTotp"] = true
	ident, name := userUnderPolicy(t, e, body)
	admin := e.adminToken(t)
	p := newPKCE()
	id := oidcAuthorize(t, e.apiNode, p)
	a := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/username", url.Values{"id": {id}, "username": {name}, "password": {"sp-password-1"}}, nil)
	queries, _ := a.body["authQueries"].([]any)
	if a.status != http.StatusOK || len(queries) != 1 || obj(queries[0])["isTotpEnrolled"] != false {
		t.Fatalf("login owing a TOTP enrollment: %d %s", a.status, a.raw)
	}
	enroll := oidcJSON(t, e.apiNode, "/oidc/login/totp/enroll", map[string]string{"id": id})
	u, err := url.Parse(stringOf(enroll.body["provisioningUrl"]))
	if enroll.status != http.StatusCreated || err != nil || u.Query().Get("secret") == "" || len(enroll.body["recoveryCodes"].([]any)) != edge.RecoveryCodeCount {
		t.Fatalf("enroll during the login: %d %s", enroll.status, enroll.raw)
	}
	secret := u.Query().Get("secret")
	if a := oidcJSON(t, e.apiNode, "/oidc/login/totp/enroll/verify", map[string]string{"id": id, "code": wrongTotp(t, secret)}); a.status != http.StatusBadRequest {
		t.Fatalf("verify with a wrong code: %d %s", a.status, a.raw)
	}
	code := codeOf(t, oidcJSON(t, e.apiNode, "/oidc/login/totp/enroll/verify", map[string]string{"id": id, "code": totpAt(t, secret, 0)}))
	if a := exchangeCode(e.apiNode, t, code, p); a.status != http.StatusOK {
		t.Fatalf("exchange after enrolling: %d %s", a.status, a.raw)
	}
	if d := e.do(t, http.MethodGet, mgmt+"/identities/"+ident, admin, nil).data(); d["isMfaEnabled"] != true {
		t.Fatalf("the enrollment is not verified: %v", d["isMfaEnabled"])
	}
}

// Login step bodies from outside (form or JSON) never panic: they are read
// or refused with a 4xx.
func FuzzOidcLoginBody(f *testing.F) {
	f.Add("id=x&username=u&password=p&configTypes=a&configTypes=b&envArch=amd64&sdkType=go", true)
	f.Add(`{"id":"x","username":"u","password":"p","envInfo":{"os":"linux"}}`, false)
	f.Add("%zz=1&id=%", true)
	f.Add(`{"id":1}`, false)
	f.Fuzz(func(t *testing.T, body string, form bool) {
		r, _ := http.NewRequest(http.MethodPost, "https://n/oidc/login/password?authRequestID=q", strings.NewReader(body))
		if form {
			r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		in, aerr := oidcLoginBody(r)
		if aerr == nil {
			_ = requestIDOf(r, in)
			_, aerr = readAuthenticateRequest(in)
		}
		if aerr != nil && (aerr.Status < 400 || aerr.Status >= 500) {
			t.Fatalf("status %d for %q", aerr.Status, body)
		}
	})
}

// bearerGet GETs path with an access token, checking the answer against
// the spec.
func bearerGet(t *testing.T, n *apiNode, path, token string) *response {
	t.Helper()
	return n.doWithHeader(t, http.MethodGet, path, "", nil, http.Header{"Authorization": {"Bearer " + token}})
}

// exchange posts an RFC 8693 token exchange.
func exchange(t *testing.T, n *apiNode, subject, subjectType, requested string) *oauthAnswer {
	t.Helper()
	return oidcDo(t, n, http.MethodPost, "/oidc/oauth/token", url.Values{"grant_type": {"urn:ietf:params:oauth:grant-type:token-exchange"},
		"client_id": {"native"}, "subject_token": {subject}, "subject_token_type": {subjectType}, "requested_token_type": {requested}}, nil)
}

const (
	refreshType = "urn:ietf:params:oauth:token-type:refresh_token"
	accessType  = "urn:ietf:params:oauth:token-type:access_token"
	idType      = "urn:ietf:params:oauth:token-type:id_token"
)

// Token exchange as the Go SDK uses it, and its limits: a refresh token
// for new tokens (a rotation), the just-rotated one for an ID token but
// not one spent before that; an access token for another that does not
// outlive it.
func TestOidcTokenExchange(t *testing.T) {
	e := env(t)
	tokens := oidcPasswordTokens(t, e.apiNode, userUsername, userPassword)
	first := tokens["refresh_token"].(string)
	a := exchange(t, e.apiNode, first, refreshType, refreshType)
	if a.status != http.StatusOK || a.body["refresh_token"] == nil || a.body["issued_token_type"] != accessType {
		t.Fatalf("refresh by exchange: %d %s", a.status, a.raw)
	}
	second := a.body["refresh_token"].(string)
	if a := exchange(t, e.apiNode, first, refreshType, idType); a.status != http.StatusOK || a.body["issued_token_type"] != idType {
		t.Fatalf("an ID token for the just-rotated refresh token: %d %s", a.status, a.raw)
	}
	if a := exchange(t, e.apiNode, second, refreshType, refreshType); a.status != http.StatusOK {
		t.Fatalf("second rotation: %d %s", a.status, a.raw)
	}
	wantOAuthError(t, "an ID token for a refresh token spent two rotations ago", exchange(t, e.apiNode, first, refreshType, idType),
		http.StatusBadRequest, "invalid_grant")

	access := a.body["access_token"].(string)
	subject := jwt.MapClaims{}
	_, _, _ = jwt.NewParser().ParseUnverified(access, subject)
	b := exchange(t, e.apiNode, access, accessType, accessType)
	if b.status != http.StatusOK || b.body["refresh_token"] != nil {
		t.Fatalf("access for access: %d %s", b.status, b.raw)
	}
	renewed := jwt.MapClaims{}
	_, _, _ = jwt.NewParser().ParseUnverified(b.body["access_token"].(string), renewed)
	if renewed["exp"].(float64) > subject["exp"].(float64) {
		t.Fatalf("an exchanged access token outlives its subject: %v > %v", renewed["exp"], subject["exp"])
	}
	wantOAuthError(t, "an access token for a refresh token", exchange(t, e.apiNode, access, accessType, refreshType), http.StatusBadRequest, "invalid_grant")
}

// Revoking a grant is final: logging in again with the same authorization
// request makes a new grant, and the revoked grant's tokens stay refused.
func TestOidcRevokedGrantStaysRevoked(t *testing.T) {
	e := env(t)
	p := newPKCE()
	id := oidcAuthorize(t, e.apiNode, p)
	login := func() *oauthAnswer {
		return oidcDo(t, e.apiNode, http.MethodPost, "/oidc/login/password", url.Values{"id": {id}, "username": {userUsername}, "password": {userPassword}}, nil)
	}
	a := exchangeCode(e.apiNode, t, codeOf(t, login()), p)
	access := a.body["access_token"].(string)
	if r := oidcDo(t, e.apiNode, http.MethodPost, "/oidc/revoke", url.Values{"client_id": {"native"}, "token": {access}}, nil); r.status != http.StatusOK {
		t.Fatalf("revoke: %d", r.status)
	}
	again := exchangeCode(e.apiNode, t, codeOf(t, login()), p)
	if again.status != http.StatusOK {
		t.Fatalf("a new login of the request: %d %s", again.status, again.raw)
	}
	if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", access); r.status != http.StatusUnauthorized {
		t.Fatalf("the revoked grant's access token after a new login of its request: %d", r.status)
	}
	// The token endpoint and revocation take POST bodies only.
	for _, path := range []string{"/oidc/oauth/token?grant_type=refresh_token&client_id=native&refresh_token=x", "/oidc/revoke?token=x&client_id=native"} {
		if r := oidcDo(t, e.apiNode, http.MethodGet, path, nil, nil); r.status != http.StatusMethodNotAllowed || r.body["error"] != "invalid_request" {
			t.Fatalf("GET %s: %d %s", path, r.status, r.raw)
		}
	}
	wantOAuthError(t, "parameters in the query", oidcDo(t, e.apiNode, http.MethodPost,
		"/oidc/oauth/token?grant_type=refresh_token&client_id=native&refresh_token="+again.body["refresh_token"].(string), url.Values{}, nil),
		http.StatusBadRequest, "invalid_request")
}

// End of session: a redirect that is not a callback is refused before
// anything ends; a loopback callback on any port is where the client goes.
func TestOidcEndSession(t *testing.T) {
	e := env(t)
	tokens := oidcPasswordTokens(t, e.apiNode, userUsername, userPassword)
	hint := tokens["id_token"].(string)
	bad := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"https://evil.example/bye"}}
	if a := oidcDo(t, e.apiNode, http.MethodGet, "/oidc/end_session?"+bad.Encode(), nil, nil); a.status != http.StatusBadRequest {
		t.Fatalf("end session to a foreign redirect: %d %s", a.status, a.raw)
	}
	if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", tokens["access_token"].(string)); r.status != http.StatusOK {
		t.Fatalf("a refused end of session ended the grant: %d", r.status)
	}
	good := url.Values{"id_token_hint": {hint}, "post_logout_redirect_uri": {"http://127.0.0.1:51234/auth/callback"}, "state": {"bye"}}
	a := oidcDo(t, e.apiNode, http.MethodGet, "/oidc/end_session?"+good.Encode(), nil, nil)
	if a.status != http.StatusFound || a.header.Get("Location") != "http://127.0.0.1:51234/auth/callback?state=bye" {
		t.Fatalf("end session: %d %q %s", a.status, a.header.Get("Location"), a.raw)
	}
	if r := bearerGet(t, e.apiNode, ClientBase+"/current-identity", tokens["access_token"].(string)); r.status != http.StatusUnauthorized {
		t.Fatalf("the ended grant's access token: %d", r.status)
	}
}
