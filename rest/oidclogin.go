package rest

import (
	"encoding/json"
	"mime"
	"net/http"
	"net/url"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// The login steps of an authorization request, OpenZiti's non-browser
// flow: /oidc/authorize redirects to GET /oidc/login/username, which names
// the request in the auth-request-id header; the client posts its
// credentials to /oidc/login/{password|username|cert|ext-jwt} with that id
// and gets a 302 to its redirect_uri with the code, or, when the identity
// owes a TOTP code, 200 with the authQueries and a totp-required header,
// and then posts {id, code} to /oidc/login/totp for the 302 (or, when its
// auth policy requires TOTP and it has none, enrolls at
// /oidc/login/totp/enroll and verifies at /oidc/login/totp/enroll/verify,
// which gives the 302). The login is
// the same as /authenticate's (lockout, auth policy, disabled identities),
// and its session is the grant, created under the request's id, so a
// request logs in once.
const (
	authRequestHeader  = "auth-request-id"
	totpRequiredHeader = "totp-required"
)

func (s *Server) oidcLoginRoutes() http.Handler {
	m := mux.NewRouter()
	m.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.WriteError(w, r, api.NotFound()) })
	m.HandleFunc("/login/totp", api.Handle(s.oidcTotp)).Methods(http.MethodPost)
	m.HandleFunc("/login/totp/enroll", api.Handle(s.oidcTotpEnroll)).Methods(http.MethodPost)
	m.HandleFunc("/login/totp/enroll/verify", api.Handle(s.oidcTotpEnrollVerify)).Methods(http.MethodPost)
	m.HandleFunc("/login/{method}", api.Handle(s.oidcLoginPage)).Methods(http.MethodGet)
	m.HandleFunc("/login/{method}", api.Handle(s.oidcLogin)).Methods(http.MethodPost)
	return m
}

// oidcLoginPage names the authorization request for a client that
// followed the redirect of /oidc/authorize.
func (s *Server) oidcLoginPage(w http.ResponseWriter, r *http.Request) error {
	id := r.URL.Query().Get("authRequestID")
	if _, aerr := s.authRequest(id); aerr != nil {
		return aerr
	}
	w.Header().Set(authRequestHeader, id)
	api.WriteJSON(w, http.StatusOK, map[string]any{"authRequestId": id,
		"methods": []string{"password", "cert", "ext-jwt"}})
	return nil
}

// oidcLogin checks the credentials of a login step.
func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request) error {
	method := mux.Vars(r)["method"]
	if method == "username" {
		method = "password"
	}
	login, aerr := s.loginMethod(method)
	if aerr != nil {
		return aerr
	}
	in, aerr := oidcLoginBody(r)
	if aerr != nil {
		return aerr
	}
	ar, aerr := s.authRequest(requestIDOf(r, in))
	if aerr != nil {
		return aerr
	}
	req, aerr := readAuthenticateRequest(in)
	if aerr != nil {
		return aerr
	}
	err := login(w, r, req, func(w http.ResponseWriter, r *http.Request, req *authenticateRequest, ident *identityRec, authID string) error {
		now := time.Now()
		sess := s.grantSession(r, req, ident, authID, ar.Request.ClientID, now)
		// The session's id is new at every login: were it the request's,
		// logging in again with a request whose grant was revoked would
		// bring the revoked tokens back.
		id := uuid.NewString()
		code, hash, err := s.signCode(r, ar, id, ident.rec.ID, []string{method}, now)
		if err != nil {
			return api.Unhandled(err)
		}
		sess.GrantSecretHash, sess.OidcAuthRequestId, sess.OidcLoginMethod = hash, ar.ID, method
		if aerr := s.createLoginSession(r, id, sess); aerr != nil {
			if aerr.Status == http.StatusConflict {
				return api.Invalid("id", "this authorization request has logged in already: start again at /oidc/authorize", nil)
			}
			return aerr
		}
		return s.oidcAnswer(w, r, ar, id, code)
	})
	s.countLogin("oidc-"+method, err)
	return err
}

// oidcTotp takes the TOTP (or recovery) code a login step owes.
func (s *Server) oidcTotp(w http.ResponseWriter, r *http.Request) error {
	r, ar, code, aerr := s.totpStep(r, true)
	if aerr != nil {
		return aerr
	}
	return s.withNextCode(w, r, ar, "totp", func(grant *pb.Op) *api.Error { return s.passMfa(r, code, grant) })
}

// oidcTotpEnroll starts the TOTP enrollment a login step owes when the
// identity's auth policy requires TOTP and it has none: the provisioning
// URL and recovery codes, as the body of the enrollment itself.
func (s *Server) oidcTotpEnroll(w http.ResponseWriter, r *http.Request) error {
	r, _, _, aerr := s.totpStep(r, false)
	if aerr != nil {
		return aerr
	}
	c := callerOf(r)
	// A client whose answer to this step was lost asks again: the
	// unverified enrollment is answered again (the login proved the
	// password, as a partial session may read it at /current-identity/mfa).
	aerr = s.createMfa(r)
	rec, m, err := s.loadMfa(c.identity.ID)
	if aerr != nil && (err != nil || m.GetIsVerified()) {
		return aerr
	}
	if err != nil {
		return api.Unhandled(err)
	}
	out := resource.BaseEntity(rec, mfaPath)
	out["isVerified"] = false
	out["provisioningUrl"] = edge.TotpURL(m.GetSecret(), c.ident.GetName())
	out["recoveryCodes"] = m.GetPendingRecoveryCodes()
	api.WriteJSON(w, http.StatusCreated, out)
	return nil
}

// oidcTotpEnrollVerify completes that enrollment with its first code,
// which is also the login's second factor.
func (s *Server) oidcTotpEnrollVerify(w http.ResponseWriter, r *http.Request) error {
	r, ar, code, aerr := s.totpStep(r, true)
	if aerr != nil {
		return aerr
	}
	return s.withNextCode(w, r, ar, "totp", func(grant *pb.Op) *api.Error { return s.verifyMfaCode(r, code, grant) })
}

// withNextCode runs a second-factor step with the op that makes a new
// authorization code the grant's, and answers that code.
func (s *Server) withNextCode(w http.ResponseWriter, r *http.Request, ar *edge.OidcClaims, amr string, step func(grant *pb.Op) *api.Error) error {
	c := callerOf(r)
	next, hash, err := s.signCode(r, ar, c.session.ID, c.identity.ID, []string{c.sess.GetOidcLoginMethod(), amr}, time.Now())
	if err != nil {
		return api.Unhandled(err)
	}
	grant, err := fsm.PatchOp(fsm.KindApiSession, c.session.ID, &pb.ApiSession{GrantSecretHash: hash}, nil, "grant_secret_hash")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := step(grant); aerr != nil {
		// OpenZiti's clients read a refused code as 400.
		if aerr.Status == http.StatusUnauthorized {
			aerr.Status = http.StatusBadRequest
		}
		return aerr
	}
	return s.oidcAnswer(w, r, ar, c.session.ID, next)
}

// totpStep reads the body of a second-factor step ({id, code}; the code
// only if withCode) and returns the request carrying, as its caller, the
// session its login created, which must still owe the factor.
func (s *Server) totpStep(r *http.Request, withCode bool) (*http.Request, *edge.OidcClaims, string, *api.Error) {
	in, aerr := oidcLoginBody(r)
	if aerr != nil {
		return nil, nil, "", aerr
	}
	ar, aerr := s.authRequest(requestIDOf(r, in))
	if aerr != nil {
		return nil, nil, "", aerr
	}
	var code string
	if withCode {
		if code, _, aerr = in.String("code"); aerr != nil {
			return nil, nil, "", aerr
		}
		if code == "" || len(code) > 64 {
			return nil, nil, "", api.Invalid("code", "is required: a six-digit code or a recovery code", nil)
		}
	}
	c := &caller{}
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		if c.session, err = rd.Lookup(fsm.ApiSessionAuthRequest, ar.ID); err != nil {
			return err
		}
		c.sess = c.session.Body.(*pb.ApiSession)
		if c.identity, err = rd.Get(fsm.KindIdentity, c.sess.GetIdentityId()); err != nil {
			return err
		}
		c.ident = c.identity.Body.(*pb.Identity)
		policy, err := authPolicyOf(rd, c.ident)
		c.mfaPending = err == nil && mfaPending(c.sess, policy)
		return err
	})
	if isNotFound(err) {
		return nil, nil, "", api.Invalid("id", "this authorization request has not logged in, or its login ended after too many wrong codes", nil)
	}
	if err != nil {
		return nil, nil, "", api.Unhandled(err)
	}
	if !c.mfaPending {
		return nil, nil, "", api.Invalid("id", "this authorization request owes no TOTP code", nil)
	}
	return r.WithContext(withCaller(r.Context(), c)), ar, code, nil
}

// oidcAnswer ends a login step: the code, or what is still owed.
func (s *Server) oidcAnswer(w http.ResponseWriter, r *http.Request, ar *edge.OidcClaims, sessionID, code string) error {
	var queries []any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindApiSession, sessionID)
		if err != nil {
			return err
		}
		queries, err = authQueries(rd, rec.Body.(*pb.ApiSession))
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	if len(queries) > 0 {
		w.Header().Set(totpRequiredHeader, "true")
		api.WriteJSON(w, http.StatusOK, map[string]any{"authQueries": queries})
		return nil
	}
	back, err := url.Parse(ar.Request.RedirectURI)
	if err != nil {
		return api.Unhandled(err)
	}
	q := back.Query()
	q.Set("code", code)
	if ar.Request.State != "" {
		q.Set("state", ar.Request.State)
	}
	back.RawQuery = q.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
	return nil
}

// signCode signs the authorization code of the grant sessionID of
// identityID for request ar, and returns the hash the grant keeps of it.
func (s *Server) signCode(r *http.Request, ar *edge.OidcClaims, sessionID, identityID string, amr []string, now time.Time) (string, string, error) {
	claims := edge.OidcClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: identityID, Audience: jwt.ClaimStrings{edge.OidcAudience}},
		ApiSessionID:     sessionID, ClientID: ar.Request.ClientID, Request: ar.Request, AMR: amr, AuthTime: jwt.NewNumericDate(now),
	}
	code, signed, err := s.tokens.SignOidc(issuer(r), edge.OidcCode, claims, now, edge.OidcCodeLifetime)
	if err != nil {
		return "", "", err
	}
	return code, edge.TokenHash(signed.ID), nil
}

// authRequest verifies the id of an authorization request.
func (s *Server) authRequest(id string) (*edge.OidcClaims, *api.Error) {
	if id == "" {
		return nil, api.Invalid("id", "is required: the auth-request-id of /oidc/authorize", nil)
	}
	ar, err := s.tokens.VerifyOidc(id, edge.OidcAuthRequest)
	if err != nil {
		return nil, api.Invalid("id", "is not a current authorization request of this network: start again at /oidc/authorize", nil)
	}
	return ar, nil
}

// requestIDOf is the authorization request a login step names: in its
// body, or as OpenZiti's clients may also send it, in the query or header.
func requestIDOf(r *http.Request, in api.Object) string {
	if id, _, aerr := in.String("id"); aerr == nil && id != "" {
		return id
	}
	if id := r.URL.Query().Get("authRequestID"); id != "" {
		return id
	}
	return r.Header.Get(authRequestHeader)
}

// oidcLoginBody reads a login step's body: JSON, or the form OpenZiti's Go
// SDK posts (flat env*/sdk* fields), turned into the JSON members of an
// authenticate body.
func oidcLoginBody(r *http.Request) (api.Object, *api.Error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "application/x-www-form-urlencoded" {
		return api.DecodeObject(r)
	}
	if err := r.ParseForm(); err != nil {
		return nil, api.BadBody(err)
	}
	in := api.Object{}
	set := func(name string, v any) {
		raw, _ := json.Marshal(v)
		in[name] = raw
	}
	for _, name := range []string{"id", "username", "password", "code"} {
		if vs, ok := r.PostForm[name]; ok && len(vs) > 0 {
			set(name, vs[0])
		}
	}
	if vs := r.PostForm["configTypes"]; len(vs) > 0 {
		set("configTypes", vs)
	}
	group := func(member string, fields map[string]string) {
		obj := map[string]string{}
		for form, name := range fields {
			if v := r.PostForm.Get(form); v != "" {
				obj[name] = v
			}
		}
		if len(obj) > 0 {
			set(member, obj)
		}
	}
	group("envInfo", map[string]string{"envArch": "arch", "envOs": "os", "envOsRelease": "osRelease", "envOsVersion": "osVersion"})
	group("sdkInfo", map[string]string{"sdkAppID": "appId", "sdkAppVersion": "appVersion", "sdkBranch": "branch",
		"sdkRevision": "revision", "sdkType": "type", "sdkVersion": "version"})
	return in, nil
}
