package rest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

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
}

func isNotFound(err error) bool { return errors.Is(err, fsm.ErrNotFound) }

func callerOf(r *http.Request) *caller {
	c, _ := r.Context().Value(authKey).(*caller)
	return c
}

// resolve finds the session behind the request's token, from this node's
// replicated store, so a token minted on any node works on every node and
// a logout applied anywhere is seen here within one Raft apply.
func (s *Server) resolve(r *http.Request) (*caller, *api.Error) {
	c, aerr := s.resolveLocal(r)
	if aerr == nil || aerr.Status != http.StatusUnauthorized || !s.maybeNewSession(r) {
		return c, aerr
	}
	// The session may have been created through another node a moment ago
	// and not be applied here yet: catch up with the leader, then look
	// again. Only misses pay for this. If this node cannot catch up, it
	// cannot tell whether the session exists: a retryable 503, not a 401.
	if cerr := s.catchUp(r); cerr != nil {
		return nil, cerr
	}
	return s.resolveLocal(r)
}

// viewFresh runs fn in a read view; if fn finds nothing, it catches up with
// the leader once and runs it again, so something created through another
// node a moment ago is found here too. Only misses pay for the catch-up. If
// the catch-up fails, the error is a retryable *api.Error (503): "not
// found" would be a lie while this node cannot tell.
func (s *Server) viewFresh(r *http.Request, fn func(rd *fsm.Reader) error) error {
	err := s.store.View(fn)
	if !errors.Is(err, fsm.ErrNotFound) {
		return err
	}
	if aerr := s.catchUp(r); aerr != nil {
		return aerr
	}
	return s.store.View(fn)
}

// catchUp waits, at most 2 s, until this node has applied everything the
// leader had applied when asked.
func (s *Server) catchUp(r *http.Request) *api.Error {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	err := s.node.CatchUp(ctx)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, cluster.ErrNoLeader):
		return api.FromCluster(err)
	}
	return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeTimeout,
		Message: "This node could not catch up with the cluster leader in time; retry", CauseMessage: err.Error()}
}

// maybeNewSession reports whether the request carries a credential that
// could name a session this node has not applied yet.
func (s *Server) maybeNewSession(r *http.Request) bool {
	if tok := r.Header.Get(sessionHeader); tok != "" {
		_, err := uuid.Parse(tok)
		return err == nil
	}
	_, ok := bearerToken(r.Header.Get("Authorization"))
	return ok
}

func (s *Server) resolveLocal(r *http.Request) (*caller, *api.Error) {
	token := r.Header.Get(sessionHeader)
	var claims *edge.AccessClaims
	if token == "" {
		raw, ok := bearerToken(r.Header.Get("Authorization"))
		if !ok {
			return nil, api.Unauthorized()
		}
		var err error
		if claims, err = s.tokens.Verify(raw); err != nil {
			s.log.Debug("bearer token refused", "requestId", api.RequestID(r), "err", err)
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
		if c.identity, err = rd.Get(fsm.KindIdentity, c.sess.GetIdentityId()); err != nil {
			return err
		}
		c.ident, _ = fsm.As[*pb.Identity](c.identity)
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
	s.sessions.Touch(c.session.ID, time.Now())
	return c, nil
}

// authenticated lets only requests with a live session through.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, aerr := s.resolve(r)
		if aerr != nil {
			api.WriteError(w, r, aerr)
			return
		}
		next(w, r.WithContext(context.WithValue(r.Context(), authKey, c)))
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
