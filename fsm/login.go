package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Failed logins are counted, and identities locked, by ops applied in Raft
// order, so the count is the cluster's, not a node's: guesses spread over
// the nodes add up, and a login that succeeds after a lockout another node
// applied first is refused.

// LoginFailedOp counts one failed password login of identity id under the
// limits of its auth policy (maxAttempts 0: no lockout).
func LoginFailedOp(id string, maxAttempts, lockoutNanos int64) *pb.Op {
	return &pb.Op{Kind: &pb.Op_LoginFailed{LoginFailed: &pb.LoginFailed{
		IdentityId: id, MaxAttempts: maxAttempts, LockoutNanos: lockoutNanos}}}
}

// LoginAllowedOp guards a login's session: the command fails with LOCKED if
// identity id is disabled at the command's time. With sessionID (created
// before it in the same command) it also marks whether that session owes
// an MFA code, from the enrollment as it is at that point in the log.
func LoginAllowedOp(id, sessionID string) *pb.Op {
	return &pb.Op{Kind: &pb.Op_LoginAllowed{LoginAllowed: &pb.LoginAllowed{IdentityId: id, ApiSessionId: sessionID}}}
}

// IdentityLocked reports whether an identity is disabled at unix time ns:
// disabled with no end, or before its end.
func IdentityLocked(ident *pb.Identity, ns int64) bool {
	return ident.GetDisabled() && (ident.GetDisabledUntil() == 0 || ns < ident.GetDisabledUntil())
}

func (s *Store) loginFailed(j *journal, ts int64, f *pb.LoginFailed) (*pb.Result, error) {
	kind, old, oldBody, err := s.loadKind(j, KindIdentity, f.GetIdentityId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return ok(), nil // deleted meanwhile: nothing to count
	}
	ident := proto.Clone(oldBody).(*pb.Identity)
	if IdentityLocked(ident, ts) {
		return ok(), nil // already locked: the count starts after it
	}
	ident.FailedLogins++
	if f.GetMaxAttempts() > 0 && ident.FailedLogins >= f.GetMaxAttempts() {
		ident.FailedLogins = 0
		ident.Disabled, ident.DisabledAt, ident.DisabledUntil = true, ts, 0
		if f.GetLockoutNanos() > 0 {
			ident.DisabledUntil = ts + f.GetLockoutNanos()
		}
	}
	// Bookkeeping, not a change an admin made: updatedAt stays.
	return s.rewrite(j, kind, old, oldBody, ident)
}

func (s *Store) loginAllowed(j *journal, ts int64, a *pb.LoginAllowed) (*pb.Result, error) {
	kind, old, oldBody, err := s.loadKind(j, KindIdentity, a.GetIdentityId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return failure(pb.Result_NOT_FOUND, "identityId", a.GetIdentityId(), "identity "+a.GetIdentityId()+" not found"), nil
	}
	ident := oldBody.(*pb.Identity)
	if IdentityLocked(ident, ts) {
		return failure(pb.Result_LOCKED, "identityId", a.GetIdentityId(), "the identity is locked or disabled"), nil
	}
	if res, err := s.markMfaRequired(j, a); err != nil || res.GetCode() != pb.Result_OK {
		return res, err
	}
	if ident.GetFailedLogins() == 0 {
		return ok(), nil
	}
	cleared := proto.Clone(ident).(*pb.Identity)
	cleared.FailedLogins = 0
	return s.rewrite(j, kind, old, oldBody, cleared)
}

// markMfaRequired sets whether a login's new session owes an MFA code: the
// identity has a verified enrollment.
func (s *Store) markMfaRequired(j *journal, a *pb.LoginAllowed) (*pb.Result, error) {
	if a.GetApiSessionId() == "" {
		return ok(), nil
	}
	_, _, mfaBody, err := s.loadKind(j, KindMfa, a.GetIdentityId())
	if err != nil {
		return nil, err
	}
	required := mfaBody != nil && mfaBody.(*pb.Mfa).GetIsVerified()
	kind, old, oldBody, err := s.loadKind(j, KindApiSession, a.GetApiSessionId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return failure(pb.Result_NOT_FOUND, "apiSessionId", a.GetApiSessionId(), "the login's session does not exist"), nil
	}
	if oldBody.(*pb.ApiSession).GetIsMfaRequired() == required {
		return ok(), nil
	}
	sess := proto.Clone(oldBody).(*pb.ApiSession)
	sess.IsMfaRequired = required
	return s.rewrite(j, kind, old, oldBody, sess)
}

// rewrite stores body as the new version of old, keeping its timestamps
// and tags: bookkeeping (counts, flags), not a change anyone made.
func (s *Store) rewrite(j *journal, kind *Kind, old *pb.Entity, oldBody, body proto.Message) (*pb.Result, error) {
	stored := &pb.Entity{Type: kind.Name, Id: old.GetId(), CreatedAt: old.GetCreatedAt(), UpdatedAt: old.GetUpdatedAt(), Tags: old.GetTags()}
	return s.write(j, kind, stored, old, oldBody, body)
}

// loadKind is load of the entity id of kind kindName (nil if there is
// none), with the kind.
func (s *Store) loadKind(j *journal, kindName, id string) (*Kind, *pb.Entity, proto.Message, error) {
	kind, err := s.knownKind(kindName)
	if err != nil {
		return nil, nil, nil, err
	}
	old, body, err := s.load(j, kind, id)
	return kind, old, body, err
}
