package rest

import (
	"cmp"
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

type ctxKey int

// authKey holds the request's *caller.
const authKey ctxKey = 0

// sessionHeader carries the API session token, as in OpenZiti.
const sessionHeader = "zt-session"

// caller is the authenticated principal of a request.
type caller struct {
	token    string
	session  *fsm.Record
	sess     *pb.ApiSession
	identity *fsm.Record
	ident    *pb.Identity
	// mfaPending: the session still owes its MFA code (partial routes
	// only).
	mfaPending bool
	// extJwtSigner is the signer whose JWT the identity's auth policy
	// requires with every request as a second factor; extJwtPending says
	// this request lacks a valid one (partial routes only).
	extJwtSigner  string
	extJwtPending bool
}

func isNotFound(err error) bool { return errors.Is(err, fsm.ErrNotFound) }

// withCaller is ctx carrying the request's caller.
func withCaller(ctx context.Context, c *caller) context.Context {
	return context.WithValue(ctx, authKey, c)
}

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(authKey).(*caller)
	return c
}

// fresh runs a read barrier (cluster.Node.ReadBarrier) before next, so
// what the request reads (its session included) holds every write
// acknowledged anywhere in the cluster before it arrived. If this node
// cannot tell (no leader, 5 s passed) the answer is a retryable 503: "not
// found" or "unauthorized" would be a lie.
func (s *Server) fresh(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := s.node.ReadBarrier(r.Context()); err != nil {
			if errors.Is(err, cluster.ErrNoLeader) || errors.Is(err, cluster.ErrNotMember) {
				api.WriteError(w, r, api.FromCluster(err))
				return
			}
			api.WriteError(w, r, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeTimeout,
				Message: "This node could not catch up with the cluster leader in time; retry", CauseMessage: err.Error()})
			return
		}
		next(w, r)
	}
}

// resolve finds the session behind the request's token, from this node's
// replicated store after the request's read barrier, so a token minted on
// any node works on every node and a logout acknowledged anywhere is
// refused here.
func (s *Server) resolve(r *http.Request) (*caller, *api.Error) {
	token := r.Header.Get(sessionHeader)
	var claims *edge.AccessClaims
	if token == "" {
		// Beside an access token a request may carry an external JWT (a
		// second factor): the first bearer token this node verifies is
		// the access token.
		var err error
		for _, raw := range bearerTokens(r) {
			if claims, err = s.tokens.Verify(raw); err == nil {
				break
			}
		}
		if claims == nil {
			s.log.Debug("no valid bearer token", "requestId", api.RequestID(r), "err", err)
			return nil, api.Unauthorized()
		}
	}
	c := &caller{token: token}
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		if claims != nil {
			c.session, err = rd.Get(fsm.KindApiSession, claims.SessionID)
		} else {
			c.session, err = rd.Lookup(fsm.ApiSessionToken, edge.TokenHash(token))
		}
		if err != nil {
			return err
		}
		c.sess, _ = fsm.As[*pb.ApiSession](c.session)
		if claims != nil && claims.Subject != c.sess.GetIdentityId() {
			return fsm.ErrNotFound
		}
		if claims != nil {
			if gone, err := revoked(rd, claims.ID, time.Now()); err != nil || gone {
				return cmp.Or(err, fsm.ErrNotFound)
			}
		}
		if gone, err := sessionRevoked(rd, c.session, c.sess.GetIdentityId(), time.Now()); err != nil || gone {
			return cmp.Or(err, fsm.ErrNotFound)
		}
		if c.identity, err = rd.Get(fsm.KindIdentity, c.sess.GetIdentityId()); err != nil {
			return err
		}
		c.ident, _ = fsm.As[*pb.Identity](c.identity)
		policy, err := authPolicyOf(rd, c.ident)
		if err != nil {
			return err
		}
		c.mfaPending = mfaPending(c.sess, policy)
		c.extJwtSigner = policy.GetSecondary().GetRequireExtJwtSigner()
		return nil
	})
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, api.Unauthorized()
	}
	if err != nil {
		return nil, api.Unhandled(err)
	}
	// This node's own record of the session's last use may be newer than the
	// replicated one, which is only refreshed every few seconds.
	if last, ok := s.sessions.LastUse(c.session.ID); ok && last > c.sess.GetLastActivityAt() {
		c.sess.LastActivityAt = last
	}
	if time.Now().After(edge.ExpiresAt(c.sess)) || edge.IsDisabled(c.ident, time.Now()) {
		return nil, api.Unauthorized()
	}
	// An OAuth access token issued to a client presenting a certificate
	// is good only with that certificate (RFC 8705 §3).
	if claims != nil && claims.CertThumbprint != "" {
		if leaf := leafOf(r); leaf == nil || edge.CertThumbprint(leaf) != claims.CertThumbprint {
			return nil, api.Unauthorized()
		}
	}
	if c.extJwtSigner != "" {
		c.extJwtPending = !s.hasSecondaryJwt(r, c.extJwtSigner, c.identity.ID, c.ident)
	}
	now := time.Now()
	s.sessions.Touch(c.session.ID, now)
	s.logTraced(r, c, now)
	return c, nil
}

// bearerTokens are the request's bearer tokens, at most three (OpenZiti's
// bound), from all its Authorization headers.
func bearerTokens(r *http.Request) []string {
	var out []string
	for _, h := range r.Header.Values("Authorization") {
		if tok, ok := bearerToken(h); ok && len(out) < 3 {
			out = append(out, tok)
		}
	}
	return out
}

// hasSecondaryJwt reports whether the request carries a valid JWT of
// signer signerID naming the caller's identity (by id, or by externalId
// when the signer uses it).
func (s *Server) hasSecondaryJwt(r *http.Request, signerID, identityID string, ident *pb.Identity) bool {
	for _, tok := range bearerTokens(r) {
		_, signer, claims, err := s.verifyExtToken(r.Context(), tok, signerID)
		if err != nil {
			continue
		}
		name, err := claimString(claims, signer.GetClaimsProperty())
		if err == nil && (name == identityID || (signer.GetUseExternalId() && name == ident.GetExternalId() && name != "")) {
			return true
		}
	}
	return false
}

// authenticated lets only requests with a live session through.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, aerr := s.resolve(r)
		if aerr == nil && (c.mfaPending || c.extJwtPending) {
			aerr = api.Unauthorized()
		}
		if aerr != nil {
			api.WriteError(w, r, aerr)
			return
		}
		next(w, r.WithContext(withCaller(r.Context(), c)))
	}
}

// partiallyAuthenticated is authenticated that also lets through a session
// still owing a second factor; with mfaOnly, not one owing its secondary
// external JWT. emptyData adds "data": {} to its refusals, for an
// operation whose spec answers 401 so (POST /authenticate/mfa).
func (s *Server) partiallyAuthenticated(next http.HandlerFunc, mfaOnly, emptyData bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, aerr := s.resolve(r)
		if aerr == nil && mfaOnly && c.extJwtPending {
			aerr = api.Unauthorized()
		}
		if aerr != nil {
			aerr.EmptyData = emptyData && aerr.Status == http.StatusUnauthorized
			api.WriteError(w, r, aerr)
			return
		}
		next(w, r.WithContext(withCaller(r.Context(), c)))
	}
}

// admin lets only admins through. Like OpenZiti, a non-admin gets 401, not
// 403, so the answer does not say whether the resource exists.
func (s *Server) admin(next http.HandlerFunc) http.HandlerFunc {
	return s.authenticated(func(w http.ResponseWriter, r *http.Request) {
		if !callerOf(r).ident.GetIsAdmin() {
			api.WriteError(w, r, api.Unauthorized())
			return
		}
		next(w, r)
	})
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}

// mfaPending reports whether an API session still owes an MFA code: its
// identity had verified MFA when it logged in, or its auth policy (as it
// says now) requires TOTP, and no code was taken since.
func mfaPending(sess *pb.ApiSession, policy *pb.AuthPolicy) bool {
	return !sess.GetIsMfaComplete() && (sess.GetIsMfaRequired() || policy.GetSecondary().GetRequireTotp())
}

// totpEnrolled reports whether identityID has a verified TOTP enrollment.
func totpEnrolled(rd *fsm.Reader, identityID string) (bool, error) {
	rec, err := rd.Get(fsm.KindMfa, identityID)
	if errors.Is(err, fsm.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return rec.Body.(*pb.Mfa).GetIsVerified(), nil
}

// authQueries renders what a session still owes: the TOTP code, as
// OpenZiti's SDKs expect to find it.
func authQueries(rd *fsm.Reader, sess *pb.ApiSession) ([]any, error) {
	identRec, err := rd.Get(fsm.KindIdentity, sess.GetIdentityId())
	if err != nil {
		return []any{}, nil // gone: nothing to owe
	}
	policy, err := authPolicyOf(rd, identRec.Body.(*pb.Identity))
	if err != nil || !mfaPending(sess, policy) {
		return []any{}, err
	}
	enrolled, err := totpEnrolled(rd, identRec.ID)
	if err != nil {
		return nil, err
	}
	return []any{map[string]any{
		"typeId": "MFA", "provider": "ziti", "format": "alphaNumeric", "httpMethod": "POST",
		"httpUrl": "./authenticate/mfa", "minLength": 4, "maxLength": 6, "isTotpEnrolled": enrolled,
	}}, nil
}
