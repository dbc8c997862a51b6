package fsm

import (
	"testing"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// A grant's secret is spent once: the current one rotates, a replayed one
// deletes the session (the whole token family), and a session without a
// grant cannot be rotated into one.
func TestGrantRotateSpendsOnceAndRevokesOnReplay(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})),
		createOp(entity(t, KindApiSession, "s1", &pb.ApiSession{IdentityId: "i1", TokenHash: "t1", GrantSecretHash: "code"})),
		createOp(entity(t, KindApiSession, "s2", &pb.ApiSession{IdentityId: "i1", TokenHash: "t2"})))
	hashOf := func(id string) string {
		t.Helper()
		rec, err := s.Get(KindApiSession, id)
		if err != nil {
			return "<gone>"
		}
		return rec.Body.(*pb.ApiSession).GetGrantSecretHash()
	}
	a.mustOK(2, GrantRotateOp("s1", "code", "r1", 86400))
	a.mustOK(3, GrantRotateOp("s1", "r1", "r2", 0))
	if got := hashOf("s1"); got != "r2" {
		t.Fatalf("after two rotations the grant's secret is %q, want r2", got)
	}
	if rec, _ := s.Get(KindApiSession, "s1"); rec.Body.(*pb.ApiSession).GetExpirationSeconds() != 86400 ||
		rec.Body.(*pb.ApiSession).GetPreviousGrantSecretHash() != "r1" {
		t.Fatalf("the rotations did not set the grant's lifetime and previous secret: %v", rec.Body)
	}
	a.mustOK(4, GrantRotateOp("s1", "r1", "r3", 0)) // r1 again: a replay
	if got := hashOf("s1"); got != "<gone>" {
		t.Fatalf("a replayed refresh token left the session with secret %q", got)
	}
	a.mustOK(5, GrantRotateOp("s1", "r2", "r4", 0)) // the family is gone: nothing to do
	a.mustOK(6, GrantRotateOp("s2", "", "r1", 0))
	if got := hashOf("s2"); got != "<gone>" {
		t.Fatalf("a session of /authenticate was rotated into a grant: %q", got)
	}
}
