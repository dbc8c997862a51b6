package rest

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/resource"
)

// authenticateRequest is the spec's "authenticate" body.
type authenticateRequest struct {
	Username    string `json:"username"`
	Password    string `json:"password"`
	ConfigTypes []string
	// EnvInfo and SdkInfo are compact JSON objects, or nil.
	EnvInfo, SdkInfo []byte
}

// loginDone ends a login whose credentials were accepted: /authenticate
// starts an API session and answers it, /oidc continues its authorization
// request. authenticatorID names the credential that was used ("" when
// none was stored, as for a third-party certificate matched by its
// external id).
type loginDone func(w http.ResponseWriter, r *http.Request, req *authenticateRequest, ident *identityRec, authenticatorID string) error

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request) error {
	method := r.URL.Query().Get("method")
	login, aerr := s.loginMethod(method)
	if aerr != nil {
		return aerr
	}
	req, aerr := decodeAuthenticateRequest(r)
	if aerr != nil {
		return aerr
	}
	err := login(w, r, req, s.startSession)
	s.countLogin(method, err)
	return err
}

// countLogin counts a login by method and outcome: success, refused (a
// 401: wrong or unusable credentials), busy (429) or error.
func (s *Server) countLogin(method string, err error) {
	outcome := "success"
	if err != nil {
		switch asAPIError(err).Status {
		case http.StatusUnauthorized:
			outcome = "refused"
		case http.StatusTooManyRequests:
			outcome = "busy"
		default:
			outcome = "error"
		}
	}
	s.cfg.Metrics.Login(method, outcome)
}

// loginMethod is the login of a method name, as /authenticate?method=
// and /oidc/login/ name them.
func (s *Server) loginMethod(method string) (func(http.ResponseWriter, *http.Request, *authenticateRequest, loginDone) error, *api.Error) {
	switch method {
	case "password":
		return s.passwordLogin, nil
	case "cert":
		return s.certLogin, nil
	case "ext-jwt":
		return s.extJwtLogin, nil
	case "":
		return nil, api.Invalid("method", "method is required", nil)
	}
	return nil, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidAuthMethod,
		Message: "The supplied authentication method is not valid", Cause: &api.FieldError{Field: "method", Reason: "must be one of password, cert, ext-jwt", Value: method}}
}

// passwordLogin checks a username and password, counting a wrong password
// against the identity's lockout.
func (s *Server) passwordLogin(w http.ResponseWriter, r *http.Request, req *authenticateRequest, done loginDone) error {
	if req.Username == "" {
		return api.Invalid("username", "username and password fields are required", nil)
	}
	if req.Password == "" {
		return api.Invalid("password", "username and password fields are required", nil)
	}

	// One password check per username at a time on this node, reading the
	// identity only once it is this request's turn: each check sees the
	// failures and lockout the previous one replicated, so guesses sent in
	// parallel get at most one per node past the policy's limit.
	unlock, err := s.passwordChecks.lock(r.Context(), req.Username)
	if err != nil {
		return busyKey()
	}
	defer unlock()
	authRec, ident, err := s.findPasswordAuthenticator(req.Username)
	if err != nil {
		return api.Unhandled(err)
	}
	hash := s.hasher.Dummy()
	if authRec != nil {
		hash = authRec.body.GetPasswordHash()
	}
	if aerr := s.acquireHashing(r); aerr != nil {
		return aerr
	}
	match, herr := edge.VerifyPassword(hash, req.Password)
	s.releaseHashing()
	if authRec == nil || herr != nil || edge.IsDisabled(ident.body, time.Now()) {
		if herr != nil && authRec != nil {
			s.log.Error("stored password hash is unreadable", "authenticator", authRec.rec.ID, "err", herr)
		}
		return api.InvalidAuth()
	}
	policy, err := s.loginPolicy(ident)
	if err != nil {
		return api.Unhandled(err)
	}
	updb := policy.GetPrimary().GetUpdb()
	if !updb.GetAllowed() {
		return api.InvalidAuth()
	}
	if !match {
		// A guess the cluster could not count is not answered as a wrong
		// password: that would be an uncounted attempt.
		if aerr := s.countFailedLogin(r, ident.rec.ID, updb); aerr != nil {
			return aerr
		}
		return api.InvalidAuth()
	}
	return done(w, r, req, ident, authRec.rec.ID)
}

// loginPolicy reads the auth policy ident logs in under.
func (s *Server) loginPolicy(ident *identityRec) (*pb.AuthPolicy, error) {
	var p *pb.AuthPolicy
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		p, err = authPolicyOf(rd, ident.body)
		return err
	})
	return p, err
}

// countFailedLogin replicates one failed password login of identityID, so
// the lockout of its policy counts attempts on every node; an error when
// the cluster could not take it.
func (s *Server) countFailedLogin(r *http.Request, identityID string, updb *pb.AuthPolicyUpdb) *api.Error {
	lockout := time.Duration(updb.GetLockoutDurationMinutes()) * time.Minute
	res, aerr := s.applyAside(r, fsm.LoginFailedOp(identityID, updb.GetMaxAttempts(), int64(lockout)))
	if aerr != nil {
		s.log.Warn("could not count a failed login", "identity", identityID, "err", aerr)
		return aerr
	}
	if rec, err := s.store.Get(fsm.KindIdentity, identityID); err == nil && updb.GetMaxAttempts() > 0 &&
		rec.Body.(*pb.Identity).GetFailedLogins() == 0 && fsm.IdentityLocked(rec.Body.(*pb.Identity), time.Now().UnixNano()) {
		s.cfg.Metrics.Lockout()
	}
	return api.FromResult(res)
}

// Bounds of what a login may say about its client: it is replicated with
// the session, so it is kept small. OpenZiti's SDKs send a handful of short
// fields.
var clientInfoLimits = api.Limits{MaxBytes: 4 << 10, MaxItems: 64, MaxDepth: 4}

const maxConfigTypes = 100

// decodeAuthenticateRequest reads the "authenticate" body every method
// shares (all of it optional): credentials, config types and the client's
// environment and SDK info.
func decodeAuthenticateRequest(r *http.Request) (*authenticateRequest, *api.Error) {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return nil, aerr
	}
	return readAuthenticateRequest(in)
}

// readAuthenticateRequest reads the members of an "authenticate" body.
func readAuthenticateRequest(in api.Object) (*authenticateRequest, *api.Error) {
	var aerr *api.Error
	req := &authenticateRequest{}
	if req.Username, _, aerr = in.String("username"); aerr != nil {
		return nil, aerr
	}
	if req.Password, _, aerr = in.String("password"); aerr != nil {
		return nil, aerr
	}
	if req.ConfigTypes, _, aerr = in.Strings("configTypes"); aerr != nil {
		return nil, aerr
	}
	if len(req.ConfigTypes) > maxConfigTypes {
		return nil, api.Invalid("configTypes", fmt.Sprintf("must have at most %d elements", maxConfigTypes), nil)
	}
	for _, ct := range req.ConfigTypes {
		if len(ct) > resource.DefaultMaxString {
			return nil, api.Invalid("configTypes", fmt.Sprintf("elements must be at most %d bytes long", resource.DefaultMaxString), nil)
		}
	}
	if req.EnvInfo, _, aerr = in.FreeObject("envInfo", clientInfoLimits); aerr != nil {
		return nil, aerr
	}
	if req.SdkInfo, _, aerr = in.FreeObject("sdkInfo", clientInfoLimits); aerr != nil {
		return nil, aerr
	}
	return req, nil
}

// startSession creates the API session of a successful login, whatever the
// method, and answers it with its token. authenticatorID names the
// credential that was used ("" when none was stored, as for a third-party
// certificate matched by its external id).
func (s *Server) startSession(w http.ResponseWriter, r *http.Request, req *authenticateRequest, ident *identityRec, authenticatorID string) error {
	token := uuid.NewString()
	now := time.Now()
	sess := s.loginSession(r, req, ident, authenticatorID, token, now)
	id := uuid.NewString()
	if aerr := s.createLoginSession(r, id, sess); aerr != nil {
		return aerr
	}
	var d map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindApiSession, id)
		if err != nil {
			return err
		}
		d, err = s.renderCurrentSession(rd, rec, token)
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	exp := edge.ExpiresAt(sess)
	access, accessExp, err := s.tokens.Issue(id, ident.rec.ID, now)
	if err != nil {
		return api.Unhandled(err)
	}
	w.Header().Set(sessionHeader, token)
	w.Header().Set("expiration-seconds", strconv.FormatInt(sess.GetExpirationSeconds(), 10))
	w.Header().Set("expires-at", api.Time(exp))
	addAccessToken(d, access, accessExp)
	s.addSecondaryQuery(r, d, ident)
	api.WriteData(w, http.StatusOK, d, api.Meta{})
	return nil
}

// loginSession is the API session of a login, with the hash of its token.
func (s *Server) loginSession(r *http.Request, req *authenticateRequest, ident *identityRec, authenticatorID, token string, now time.Time) *pb.ApiSession {
	return &pb.ApiSession{
		IdentityId:        ident.rec.ID,
		AuthenticatorId:   authenticatorID,
		TokenHash:         edge.TokenHash(token),
		IpAddress:         clientIP(r),
		ConfigTypes:       req.ConfigTypes,
		EnvInfoJson:       req.EnvInfo,
		SdkInfoJson:       req.SdkInfo,
		LastActivityAt:    now.UnixNano(),
		ExpirationSeconds: int64(s.cfg.SessionTimeout / time.Second),
	}
}

// createLoginSession replicates a login's session under id. LoginAllowed
// also refuses it if the identity was locked or disabled through another
// node after this node read it, and clears its failed-login count. An
// identity with a verified TOTP enrollment owes its code before the
// session may do more than the partial routes: LoginAllowed marks it, from
// the enrollment as it is when the session is created.
func (s *Server) createLoginSession(r *http.Request, id string, sess *pb.ApiSession) *api.Error {
	op, err := fsm.CreateOp(fsm.KindApiSession, id, sess, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	res, aerr := s.applyResult(r, op, fsm.LoginAllowedOp(sess.GetIdentityId(), id))
	if aerr != nil {
		return aerr
	}
	if res.GetCode() == pb.Result_LOCKED {
		return api.InvalidAuth()
	}
	if aerr := api.FromResult(res); aerr != nil {
		// The identity or authenticator was deleted through another node
		// after this node read it: the store refused the session, and to
		// the caller that is a failed login, not a bad request.
		if aerr.Cause != nil && aerr.Cause.Field == "identityId" {
			return api.InvalidAuth()
		}
		return aerr
	}
	return nil
}

// addAccessToken adds the bearer token to a session view. These two fields
// are Garrison's: the spec's session has no place for a JWT.
func addAccessToken(d map[string]any, token string, exp time.Time) {
	if token == "" {
		return
	}
	d["accessToken"] = token
	d["accessTokenExpiresAt"] = api.Time(exp)
}

type authenticatorRec struct {
	rec  *fsm.Record
	body *pb.Authenticator
}

type identityRec struct {
	rec  *fsm.Record
	body *pb.Identity
}

// findPasswordAuthenticator returns the updb authenticator for username and
// its identity, or nils if there is none.
func (s *Server) findPasswordAuthenticator(username string) (*authenticatorRec, *identityRec, error) {
	var a *authenticatorRec
	var id *identityRec
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Lookup(fsm.AuthenticatorUsername, username)
		if err != nil {
			return err
		}
		body, _ := fsm.As[*pb.Authenticator](rec)
		irec, err := rd.Get(fsm.KindIdentity, body.GetIdentityId())
		if err != nil {
			return err
		}
		ibody, _ := fsm.As[*pb.Identity](irec)
		a, id = &authenticatorRec{rec, body}, &identityRec{irec, ibody}
		return nil
	})
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil, nil
	}
	return a, id, err
}

// serviceUpdates answers when the services the session may use last
// changed: the later of the session's start and the last write to anything
// that can change what an identity reaches (fsm Kind.Access). It is the
// same for every identity, so it may move for changes that do not concern
// this one; SDKs then list their services again, which is only work.
func (s *Server) serviceUpdates(w http.ResponseWriter, r *http.Request) error {
	last := callerOf(r).session.CreatedAt
	_ = s.store.View(func(rd *fsm.Reader) error {
		if t := rd.AccessChangedAt(); t.After(last) {
			last = t
		}
		return nil
	})
	api.WriteData(w, http.StatusOK, map[string]any{"lastChangeAt": api.Time(last)}, api.Meta{})
	return nil
}

func (s *Server) currentAPISession(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var d map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		d, err = s.renderCurrentSession(rd, c.session, c.token)
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	// A fresh access token here lets a client renew before the old expires.
	access, exp, err := s.tokens.Issue(c.session.ID, c.identity.ID, time.Now())
	if err != nil {
		return api.Unhandled(err)
	}
	addAccessToken(d, access, exp)
	if c.extJwtPending {
		queries, _ := d["authQueries"].([]any)
		d["authQueries"] = append(queries, s.extJwtQuery(c.extJwtSigner))
	}
	api.WriteData(w, http.StatusOK, d, api.Meta{})
	return nil
}

// logout deletes the session through Raft: once applied, the token is
// refused on every node.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) error {
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindApiSession, callerOf(r).session.ID))
}

func (s *Server) currentIdentity(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	var detail map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		detail, err = s.res.identities.RenderRecord(rd, c.identity)
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	detail["hasApiSession"] = true
	api.WriteData(w, http.StatusOK, detail, api.Meta{})
	return nil
}

// renderCurrentSession renders the caller's session with its token, which
// only the caller knows, and how long it has left.
func (s *Server) renderCurrentSession(rd *fsm.Reader, rec *fsm.Record, token string) (map[string]any, error) {
	d, err := s.res.apiSessions.RenderRecord(rd, rec)
	if err != nil {
		return nil, err
	}
	d["_links"] = map[string]any{
		"self":             map[string]string{"href": "./current-api-session"},
		"current-identity": map[string]string{"href": "./current-identity"},
	}
	exp := edge.ExpiresAt(rec.Body.(*pb.ApiSession))
	d["token"] = token
	d["expiresAt"] = api.Time(exp)
	d["expirationSeconds"] = int64(time.Until(exp) / time.Second)
	return d, nil
}

// clientIP is the caller's address as seen by this node. Behind HAProxy in
// TCP mode that is HAProxy's address unless the PROXY protocol is enabled.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
