package rest

import (
	"errors"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Revocations refuse tokens on every node from the moment the command
// commits: every authenticated request runs behind a read barrier, so a
// node answering after the revocation was acknowledged has it.
//   - JTI: the access or refresh token with that JWT id (any node's, OAuth
//     tokens included) is refused until it would have expired anyway.
//   - API_SESSION: the session is deleted in the same command, with its
//     certificates and network sessions; every token of it is refused.
//   - IDENTITY: every API session of the identity is deleted, the same way.
//     The identity may log in again.
// A revocation is kept for revocationLifetime, longer than any token the
// cluster issues lives, then ignored; later revocations prune expired ones.

// Revocation types (the spec's revocationTypeEnum).
const (
	revokeJTI        = "JTI"
	revokeIdentity   = "IDENTITY"
	revokeAPISession = "API_SESSION"
)

// revocationLifetime outlives every token: OAuth refresh tokens are the
// longest-lived.
const revocationLifetime = edge.OidcRefreshLifetime

// maxRevocationID bounds a revocation's id (a JWT id or an entity's id).
const maxRevocationID = 256

// prunePerRevocation bounds the expired revocations one new one removes.
const prunePerRevocation = 64

// revocations declares /revocations: created and read, never changed.
func (s *Server) revocations() *Resource {
	return &Resource{
		Kind: fsm.KindRevocation, Path: "revocations",
		Fields: []Field{
			// What is revoked; the entity's id (checkRevocation).
			{Name: "id", Type: String, Required: OnCreate, Access: CreateOnly, NotNull: true, NoFilter: true, Max: maxRevocationID},
			{Name: "type", Proto: "type", Type: Enum, Values: []string{revokeJTI, revokeIdentity, revokeAPISession},
				Required: OnCreate, Access: CreateOnly},
			{Name: "expiresAt", Proto: "expires_at", Type: DateTime, Access: ReadOnly},
		},
		Check:   checkRevocation,
		IDField: "id",
	}
}

// checkRevocation takes the id from the body, names a missing session or
// identity (404), and adds to the command: the deletion of the sessions
// it revokes, a replaced revocation of the same id (a revocation made
// again starts over) and up to prunePerRevocation expired ones.
func checkRevocation(w *Write) error {
	id, _, aerr := w.In.String("id") // required and bounded by its declaration
	if aerr != nil {
		return aerr
	}
	if strings.TrimSpace(id) == "" {
		return api.Invalid("id", "must name the JWT id, API session id or identity id to revoke", id)
	}
	w.ID = id
	now := time.Now()
	rev := w.Body.(*pb.Revocation)
	rev.ExpiresAt = now.Add(revocationLifetime).UnixNano()
	w.Set("expires_at")

	rd := w.Reader
	switch rev.GetType() {
	case revokeAPISession:
		if _, err := rd.Get(fsm.KindApiSession, id); err != nil {
			return api.NotFoundOr(err)
		}
		w.After = append(w.After, deleteMissingOK(fsm.KindApiSession, id))
	case revokeIdentity:
		if _, err := rd.Get(fsm.KindIdentity, id); err != nil {
			return api.NotFoundOr(err)
		}
		sessions, err := rd.IDsByIndex(fsm.ApiSessionIdentity, id)
		if err != nil {
			return err
		}
		for _, sid := range sessions {
			w.After = append(w.After, deleteMissingOK(fsm.KindApiSession, sid))
		}
	}
	if _, err := rd.Get(fsm.KindRevocation, id); err == nil {
		w.Before = append(w.Before, deleteMissingOK(fsm.KindRevocation, id))
	} else if !errors.Is(err, fsm.ErrNotFound) {
		return err
	}
	var expired []string
	err := rd.ForEach(fsm.KindRevocation, func(rec *fsm.Record) error {
		if len(expired) == prunePerRevocation {
			return errStop
		}
		if rec.ID != id && rec.Body.(*pb.Revocation).GetExpiresAt() < now.UnixNano() {
			expired = append(expired, rec.ID)
		}
		return nil
	})
	if err != nil && !errors.Is(err, errStop) {
		return err
	}
	for _, old := range expired {
		w.Before = append(w.Before, deleteMissingOK(fsm.KindRevocation, old))
	}
	return nil
}

// errStop ends a scan early.
var errStop = errors.New("stop")

// deleteMissingOK deletes an entity unless it is gone already.
func deleteMissingOK(kind, id string) *pb.Op {
	return &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: kind, Id: id, SkipMissing: true}}}
}

// revocationInForce reads the revocation of id of type typ still in
// force at now, or nil.
func revocationInForce(rd *fsm.Reader, id, typ string, now time.Time) (*fsm.Record, error) {
	if id == "" {
		return nil, nil
	}
	rec, err := rd.Get(fsm.KindRevocation, id)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	rev := rec.Body.(*pb.Revocation)
	if rev.GetType() != typ || rev.GetExpiresAt() <= now.UnixNano() {
		return nil, nil
	}
	return rec, nil
}

// revoked reports whether a token's JWT id has a JTI revocation in force,
// in the caller's read view.
func revoked(rd *fsm.Reader, jti string, now time.Time) (bool, error) {
	rec, err := revocationInForce(rd, jti, revokeJTI, now)
	return rec != nil, err
}

// sessionRevoked reports whether an IDENTITY revocation in force is newer
// than the API session: the revocation deletes the sessions it reads, and
// this refuses one whose login committed between that read and the
// revocation. Both times are their commands' (the proposing nodes'
// clocks), so a login within the members' clock skew after a revocation
// may be refused too; logging in again works.
func sessionRevoked(rd *fsm.Reader, session *fsm.Record, identityID string, now time.Time) (bool, error) {
	rec, err := revocationInForce(rd, identityID, revokeIdentity, now)
	if err != nil || rec == nil {
		return false, err
	}
	return !session.CreatedAt.After(rec.CreatedAt), nil
}

// checkNotRevoked refuses an OAuth token whose JWT id is revoked, in a
// read of its own (the OAuth endpoints run behind a read barrier).
func (s *Server) checkNotRevoked(jti string) error {
	var gone bool
	if err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		gone, err = revoked(rd, jti, time.Now())
		return err
	}); err != nil {
		return oidc.ErrServerError().WithParent(err)
	}
	if gone {
		return invalidGrant("the token was revoked")
	}
	return nil
}
