package rest

import (
	"cmp"
	"errors"
	"net/http"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// grantStep is one issue of tokens for a grant: after a code, a refresh
// token, or (noRefresh) an access token exchanged for a new one.
type grantStep struct {
	sessionID, identityID, clientID string
	// spent is the id of the code or refresh token this step spends.
	spent     string
	noRefresh bool
	// notAfter bounds the new access token (an exchanged access token's
	// expiry); zero for none.
	notAfter time.Time
	// exchange: the answer is a token exchange's (RFC 8693).
	exchange bool
	scopes   []string
	nonce    string
	authTime time.Time
	amr      []string
}

// tokenResponse is RFC 6749's token response (RFC 8693's for an exchange)
// with the identity the tokens stand for.
type tokenResponse struct {
	oidc.AccessTokenResponse
	IssuedTokenType oidc.TokenType `json:"issued_token_type,omitempty"`
	Identity        *tokenIdentity `json:"identity,omitempty"`
}

type tokenIdentity struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// grantTokens spends step's secret (GrantRotate) and answers new tokens.
// A secret spent before revokes the grant: the session is gone when read
// back, and the answer is invalid_grant.
func (s *Server) grantTokens(r *http.Request, step grantStep) (*op.Response, error) {
	now := time.Now()
	iss := issuer(r)
	// Refuse what the grant cannot give before spending its secret, so a
	// refused request leaves the client's refresh token good.
	if _, _, err := s.liveGrant(step.sessionID, step.identityID); err != nil {
		return nil, err
	}
	cnf, fingerprints, err := s.certBinding(r, step.identityID)
	if err != nil {
		return nil, err
	}
	base := edge.OidcClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: step.identityID, Audience: jwt.ClaimStrings{edge.OidcAudience}},
		ApiSessionID:     step.sessionID, ClientID: step.clientID, Scopes: step.scopes, Confirmation: cnf,
	}
	var refresh string
	if !step.noRefresh {
		rc := base
		rc.AuthTime, rc.AMR = jwt.NewNumericDate(step.authTime), step.amr
		var claims *edge.OidcClaims
		if refresh, claims, err = s.tokens.SignOidc(iss, edge.OidcRefresh, rc, now, edge.OidcRefreshLifetime); err != nil {
			return nil, oidc.ErrServerError().WithParent(err)
		}
		rotate := fsm.GrantRotateOp(step.sessionID, edge.TokenHash(step.spent), edge.TokenHash(claims.ID),
			int64(edge.OidcRefreshLifetime/time.Second))
		if aerr := s.apply(r, rotate); aerr != nil {
			return nil, oauthError(aerr)
		}
		step.spent = claims.ID
	}
	sess, ident, err := s.liveGrant(step.sessionID, step.identityID)
	if err != nil {
		return nil, err
	}
	if !step.noRefresh && sess.GetGrantSecretHash() != edge.TokenHash(step.spent) {
		// Another request spent the same secret at the same moment: one of
		// them is a replay, and the grant is revoked (or about to be).
		return nil, invalidGrant("the grant was revoked: a code or refresh token was used twice")
	}
	s.sessions.Touch(step.sessionID, now)
	ac := base
	ac.IsAdmin, ac.ExternalID, ac.ConfigTypes, ac.CertFingerprints = ident.body.GetIsAdmin(), ident.body.GetExternalId(), sess.GetConfigTypes(), fingerprints
	// An access token exchanged for another never outlives it: only a
	// refresh token renews access.
	lifetime := edge.OidcAccessLifetime
	if !step.notAfter.IsZero() && step.notAfter.Sub(now) < lifetime {
		lifetime = step.notAfter.Sub(now)
	}
	access, _, err := s.tokens.SignOidc(iss, edge.OidcAccess, ac, now, lifetime)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	resp := &tokenResponse{AccessTokenResponse: oidc.AccessTokenResponse{
		AccessToken: access, TokenType: oidc.BearerToken, RefreshToken: refresh,
		ExpiresIn: uint64(lifetime / time.Second), Scope: step.scopes,
	}, Identity: &tokenIdentity{ID: ident.rec.ID, Name: ident.body.GetName()}}
	if slices.Contains(step.scopes, oidc.ScopeOpenID) {
		if resp.IDToken, err = s.signIDToken(r, step, ident, now); err != nil {
			return nil, err
		}
	}
	if step.exchange {
		resp.IssuedTokenType = oidc.AccessTokenType
	}
	return op.NewResponse(resp), nil
}

// signIDToken signs the ID token of a grant step: its audience is the
// client (OpenID Connect Core §2).
func (s *Server) signIDToken(r *http.Request, step grantStep, ident *identityRec, now time.Time) (string, error) {
	claims := edge.OidcClaims{
		RegisteredClaims: jwt.RegisteredClaims{Subject: step.identityID, Audience: jwt.ClaimStrings{step.clientID}},
		ApiSessionID:     step.sessionID, Name: ident.body.GetName(), Nonce: step.nonce, AMR: step.amr, AZP: step.clientID,
	}
	if !step.authTime.IsZero() {
		claims.AuthTime = jwt.NewNumericDate(step.authTime)
	}
	tok, _, err := s.tokens.SignOidc(issuer(r), edge.OidcID, claims, now, edge.OidcAccessLifetime)
	if err != nil {
		return "", oidc.ErrServerError().WithParent(err)
	}
	return tok, nil
}

// idTokenOnly answers a token exchange for an ID token of a live grant.
// A refresh token must be the grant's newest or the one it replaced (the
// Go SDK asks for the ID token with the refresh token it just rotated).
func (s *Server) idTokenOnly(r *http.Request, claims *edge.OidcClaims) (*op.Response, error) {
	sess, ident, err := s.liveGrant(claims.ApiSessionID, claims.Subject)
	if err != nil {
		return nil, err
	}
	if h := edge.TokenHash(claims.ID); claims.Type == edge.OidcRefresh && h != sess.GetGrantSecretHash() && h != sess.GetPreviousGrantSecretHash() {
		return nil, invalidGrant("the refresh token was spent")
	}
	step := grantStep{sessionID: claims.ApiSessionID, identityID: claims.Subject, clientID: claims.ClientID, amr: claims.AMR}
	if claims.AuthTime != nil {
		step.authTime = claims.AuthTime.Time
	}
	tok, err := s.signIDToken(r, step, ident, time.Now())
	if err != nil {
		return nil, err
	}
	return op.NewResponse(&oidc.TokenExchangeResponse{AccessToken: tok, IssuedTokenType: oidc.IDTokenType,
		TokenType: "N_A", ExpiresIn: uint64(edge.OidcAccessLifetime / time.Second)}), nil
}

// liveGrant reads the session of a grant and its identity: the session
// must exist, belong to identityID, owe no second factor and not have
// expired, and the identity must not be disabled.
func (s *Server) liveGrant(sessionID, identityID string) (*pb.ApiSession, *identityRec, error) {
	var sess *pb.ApiSession
	var ident *identityRec
	var pending bool
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindApiSession, sessionID)
		if err != nil {
			return err
		}
		sess = rec.Body.(*pb.ApiSession)
		if sess.GetIdentityId() != identityID || sess.GetOidcClientId() == "" {
			return fsm.ErrNotFound
		}
		if gone, err := sessionRevoked(rd, rec, identityID, time.Now()); err != nil || gone {
			return cmp.Or(err, fsm.ErrNotFound)
		}
		if ident, err = readIdentity(rd, identityID); err != nil {
			return err
		}
		policy, err := authPolicyOf(rd, ident.body)
		if err != nil {
			return err
		}
		pending = mfaPending(sess, policy)
		return nil
	})
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil, invalidGrant("the grant was revoked or has ended")
	}
	if err != nil {
		return nil, nil, oidc.ErrServerError().WithParent(err)
	}
	if last, ok := s.sessions.LastUse(sessionID); ok && last > sess.GetLastActivityAt() {
		sess.LastActivityAt = last
	}
	now := time.Now()
	switch {
	case pending:
		return nil, nil, invalidGrant("the identity owes a TOTP code: log in through /oidc/authorize and answer it")
	case now.After(edge.ExpiresAt(sess)):
		return nil, nil, invalidGrant("the grant has ended")
	case edge.IsDisabled(ident.body, now):
		return nil, nil, invalidGrant("the identity is disabled")
	}
	return sess, ident, nil
}

// verifyRefresh checks a refresh token presented by clientID: its
// signature and type, its client, the certificate it is bound to, and
// that a client certificate presented with it is not another identity's.
func (s *Server) verifyRefresh(r *http.Request, raw, clientID string) (*edge.OidcClaims, error) {
	claims, err := s.tokens.VerifyOidc(raw, edge.OidcRefresh)
	if err != nil {
		return nil, invalidGrant("the refresh token is not valid: %v", err)
	}
	if claims.ClientID != clientID {
		return nil, invalidGrant("the refresh token was issued to another client")
	}
	if !claims.Bound(leafOf(r)) {
		return nil, invalidGrant("the refresh token is bound to another client certificate")
	}
	if err := s.checkNotRevoked(claims.ID); err != nil {
		return nil, err
	}
	return claims, nil
}

// certBinding is what the tokens of identityID's grant say of the
// request's client certificate: bound to it (RFC 8705 cnf) whatever it
// is, and its fingerprint in z_cfs only if it is that identity's. The
// certificate of another identity is refused.
func (s *Server) certBinding(r *http.Request, identityID string) (*edge.Confirmation, []string, error) {
	cert := leafOf(r)
	if cert == nil {
		return nil, nil, nil
	}
	ident, _, _, err := s.certIdentity(clientChain(r), time.Now())
	if err != nil {
		return nil, nil, oidc.ErrServerError().WithParent(err)
	}
	cnf := &edge.Confirmation{X5tS256: edge.CertThumbprint(cert)}
	switch {
	case ident == nil:
		return cnf, nil, nil
	case ident.rec.ID != identityID:
		return nil, nil, invalidGrant("the grant belongs to another identity than the client certificate")
	}
	return cnf, []string{pki.Fingerprint(cert)}, nil
}

// refreshStep is the grant step of a refresh token.
func (s *Server) refreshStep(r *http.Request, raw, clientID string) (grantStep, error) {
	claims, err := s.verifyRefresh(r, raw, clientID)
	if err != nil {
		return grantStep{}, err
	}
	step := grantStep{sessionID: claims.ApiSessionID, identityID: claims.Subject, clientID: clientID,
		spent: claims.ID, scopes: claims.Scopes, amr: claims.AMR}
	if claims.AuthTime != nil {
		step.authTime = claims.AuthTime.Time
	}
	return step, nil
}

// startGrant creates the grant of a login that needs no authorization
// request (the client credentials grant) and answers its first tokens.
func (s *Server) startGrant(r *http.Request, req *authenticateRequest, ident *identityRec, authID, clientID string, scopes []string, amr string) (*op.Response, error) {
	owes, err := s.owesTotp(ident)
	if err != nil {
		return nil, oidc.ErrServerError().WithParent(err)
	}
	if owes {
		return nil, invalidGrant("the identity owes a TOTP code: log in through /oidc/authorize and answer it")
	}
	now := time.Now()
	first := uuid.NewString()
	sess := s.grantSession(r, req, ident, authID, clientID, now)
	sess.OidcLoginMethod = amr
	sess.GrantSecretHash = edge.TokenHash(first)
	id := uuid.NewString()
	if aerr := s.createLoginSession(r, id, sess); aerr != nil {
		return nil, oauthError(aerr)
	}
	resp, err := s.grantTokens(r, grantStep{sessionID: id, identityID: ident.rec.ID, clientID: sess.GetOidcClientId(),
		spent: first, scopes: scopes, authTime: now, amr: []string{amr}})
	if err != nil {
		_ = s.endGrant(r, id, ident.rec.ID)
	}
	return resp, err
}

// owesTotp reports whether a login of ident would owe a TOTP code: a
// verified enrollment, or an auth policy requiring one.
func (s *Server) owesTotp(ident *identityRec) (bool, error) {
	var owes bool
	err := s.store.View(func(rd *fsm.Reader) error {
		enrolled, err := totpEnrolled(rd, ident.rec.ID)
		if err != nil {
			return err
		}
		policy, err := authPolicyOf(rd, ident.body)
		owes = enrolled || policy.GetSecondary().GetRequireTotp()
		return err
	})
	return owes, err
}

// grantSession is the API session of an OAuth grant; its zt-session
// token is never given out. Until its first tokens it lives as long as a
// login step may take; from then on (GrantRotate), as long as its refresh
// tokens are used.
func (s *Server) grantSession(r *http.Request, req *authenticateRequest, ident *identityRec, authID, clientID string, now time.Time) *pb.ApiSession {
	sess := s.loginSession(r, req, ident, authID, uuid.NewString(), now)
	sess.OidcClientId = clientID
	sess.ExpirationSeconds = int64(edge.OidcLoginLifetime / time.Second)
	return sess
}

// oauthError answers an API error (a cluster refusal, a store failure) in
// OAuth's shape, with its status: a cluster without a leader is
// temporarily_unavailable (RFC 6749 §4.1.2.1), never a server_error.
func oauthError(aerr *api.Error) error {
	e := &oidc.Error{ErrorType: oidc.ServerError, Description: aerr.Message}
	switch {
	case aerr.Status == http.StatusServiceUnavailable || aerr.Status == http.StatusTooManyRequests:
		e.ErrorType = "temporarily_unavailable"
	case aerr.Status == http.StatusUnauthorized:
		e.ErrorType = oidc.AccessDenied
	case aerr.Status < 500:
		e.ErrorType = oidc.InvalidRequest
	}
	return op.NewStatusError(e, aerr.Status)
}

// asAPIError is the *api.Error a handler returned, or a 500 for any other
// error.
func asAPIError(err error) *api.Error {
	if err == nil {
		return nil
	}
	var aerr *api.Error
	if errors.As(err, &aerr) {
		return aerr
	}
	return api.Unhandled(err)
}
