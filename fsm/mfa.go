package fsm

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindMfa is the type name of TOTP enrollments, one per identity (same id),
// deleted with it.
const KindMfa = "mfa"

// MfaIdentity indexes enrollments by identity.
var MfaIdentity = MultiIndex(KindMfa, "identity")

var mfaKind = Kind{
	Name: KindMfa,
	New:  func() proto.Message { return &pb.Mfa{} },
	Indexes: []Index{
		MfaIdentity.Index("identityId", func(m proto.Message) []string { return keysOf(m.(*pb.Mfa).GetIdentityId()) }),
	},
	Refs: []Ref{{Index: MfaIdentity, Field: "identityId", Target: KindIdentity, OnDelete: Cascade}},
}

// MfaCodeUsedOp spends a TOTP code of time step step (recoveryHash "") or
// the recovery code whose SHA-256 hex is recoveryHash (step 0).
func MfaCodeUsedOp(identityID string, step int64, recoveryHash string) *pb.Op {
	return &pb.Op{Kind: &pb.Op_MfaCodeUsed{MfaCodeUsed: &pb.MfaCodeUsed{IdentityId: identityID, Step: step, RecoveryHash: recoveryHash}}}
}

func (s *Store) mfaCodeUsed(j *journal, u *pb.MfaCodeUsed) (*pb.Result, error) {
	kind, old, oldBody, err := s.loadKind(j, KindMfa, u.GetIdentityId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return failure(pb.Result_NOT_FOUND, "code", "", "the identity has no MFA enrollment"), nil
	}
	m := proto.Clone(oldBody).(*pb.Mfa)
	if h := u.GetRecoveryHash(); h != "" {
		i := slices.Index(m.RecoveryCodeHashes, h)
		if i < 0 {
			return failure(pb.Result_NOT_FOUND, "code", "", "no such unused recovery code"), nil
		}
		m.RecoveryCodeHashes = slices.Delete(m.RecoveryCodeHashes, i, i+1)
	} else {
		if u.GetStep() <= m.GetLastStep() {
			return failure(pb.Result_CONFLICT, "code", "", "this code, or a later one, was already used"), nil
		}
		m.LastStep = u.GetStep()
	}
	return s.rewrite(j, kind, old, oldBody, m)
}

// MfaFailedOp counts a wrong MFA code of API session sessionID, ending the
// session at maxFailures.
func MfaFailedOp(sessionID string, maxFailures int64) *pb.Op {
	return &pb.Op{Kind: &pb.Op_MfaFailed{MfaFailed: &pb.MfaFailed{ApiSessionId: sessionID, MaxFailures: maxFailures}}}
}

func (s *Store) mfaFailed(j *journal, ts int64, f *pb.MfaFailed) (*pb.Result, error) {
	kind, old, oldBody, err := s.loadKind(j, KindApiSession, f.GetApiSessionId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return ok(), nil // ended meanwhile
	}
	sess := proto.Clone(oldBody).(*pb.ApiSession)
	sess.MfaFailures++
	if f.GetMaxFailures() > 0 && sess.MfaFailures >= f.GetMaxFailures() {
		return s.delete(j, ts, KindApiSession, f.GetApiSessionId())
	}
	return s.rewrite(j, kind, old, oldBody, sess)
}

// MfaExpectOp guards a step decided on a read of enrollment m of identity
// identityID: the command fails unless the enrollment is still that one,
// in the same verified state.
func MfaExpectOp(identityID string, m *pb.Mfa) *pb.Op {
	return &pb.Op{Kind: &pb.Op_MfaExpect{MfaExpect: &pb.MfaExpect{IdentityId: identityID,
		SecretSha256: secretDigest(m.GetSecret()), Verified: m.GetIsVerified()}}}
}

func secretDigest(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

func (s *Store) mfaExpect(j *journal, e *pb.MfaExpect) (*pb.Result, error) {
	_, _, body, err := s.loadKind(j, KindMfa, e.GetIdentityId())
	if err != nil {
		return nil, err
	}
	m, _ := body.(*pb.Mfa)
	if m == nil || secretDigest(m.GetSecret()) != e.GetSecretSha256() || m.GetIsVerified() != e.GetVerified() {
		return failure(pb.Result_CONFLICT, "mfa", "", "the MFA enrollment changed meanwhile"), nil
	}
	return ok(), nil
}
