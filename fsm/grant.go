package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// GrantRotateOp spends the secret whose hash is spentHash of the OAuth grant
// of API session sessionID and makes nextHash the one to spend next. A
// secret that is not the grant's current one was spent before: the session
// is deleted (every token of the grant is refused from then on). The op
// always succeeds; read the session afterwards to see which happened.
// expirationSeconds, when not zero, becomes the session's idle timeout.
func GrantRotateOp(sessionID, spentHash, nextHash string, expirationSeconds int64) *pb.Op {
	return &pb.Op{Kind: &pb.Op_GrantRotate{GrantRotate: &pb.GrantRotate{ApiSessionId: sessionID, SpentHash: spentHash,
		NextHash: nextHash, ExpirationSeconds: expirationSeconds}}}
}

func (s *Store) grantRotate(j *journal, ts int64, g *pb.GrantRotate) (*pb.Result, error) {
	kind, old, oldBody, err := s.loadKind(j, KindApiSession, g.GetApiSessionId())
	if err != nil {
		return nil, err
	}
	if old == nil {
		return ok(), nil // revoked or ended already
	}
	sess := oldBody.(*pb.ApiSession)
	if sess.GetGrantSecretHash() == "" || sess.GetGrantSecretHash() != g.GetSpentHash() {
		return s.delete(j, ts, KindApiSession, g.GetApiSessionId())
	}
	next := proto.Clone(sess).(*pb.ApiSession)
	next.PreviousGrantSecretHash, next.GrantSecretHash = sess.GetGrantSecretHash(), g.GetNextHash()
	if g.GetExpirationSeconds() != 0 {
		next.ExpirationSeconds = g.GetExpirationSeconds()
	}
	return s.rewrite(j, kind, old, oldBody, next)
}
