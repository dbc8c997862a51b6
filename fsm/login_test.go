package fsm

import (
	"testing"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Failed logins add up to a lockout for the policy's duration; a login in
// the lockout is refused, one after it clears the count.
func TestLoginFailuresLockAndClear(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})))
	ident := func() *pb.Identity {
		t.Helper()
		rec, err := s.Get(KindIdentity, "i1")
		if err != nil {
			t.Fatal(err)
		}
		return rec.Body.(*pb.Identity)
	}
	const minute = int64(60e9)
	a.mustOK(10, LoginFailedOp("i1", 3, minute))
	a.mustOK(20, LoginFailedOp("i1", 3, minute))
	if got := ident(); got.GetFailedLogins() != 2 || got.GetDisabled() {
		t.Fatalf("after two failures: %v", got)
	}
	// A success clears the count.
	a.mustOK(30, LoginAllowedOp("i1", ""))
	if got := ident().GetFailedLogins(); got != 0 {
		t.Fatalf("a login left the count at %d", got)
	}
	for ts := int64(40); ts < 70; ts += 10 {
		a.mustOK(ts, LoginFailedOp("i1", 3, minute))
	}
	got := ident()
	if !got.GetDisabled() || got.GetDisabledAt() != 60 || got.GetDisabledUntil() != 60+minute || got.GetFailedLogins() != 0 {
		t.Fatalf("after three failures in a row: %v", got)
	}
	if res := a.apply(70, LoginAllowedOp("i1", "")); res.GetCode() != pb.Result_LOCKED {
		t.Fatalf("a login during the lockout: %v", res)
	}
	// Failures during the lockout do not count towards the next one.
	a.mustOK(80, LoginFailedOp("i1", 3, minute))
	if got := ident().GetFailedLogins(); got != 0 {
		t.Fatalf("a failure during the lockout counted: %d", got)
	}
	a.mustOK(60+minute, LoginAllowedOp("i1", ""))
	// No limit: failures count but never lock; no duration: locked until
	// an admin enables it.
	a.mustOK(2*minute, LoginFailedOp("i1", 0, 0))
	if got := ident(); got.GetFailedLogins() != 1 || got.GetDisabledUntil() != 60+minute {
		t.Fatalf("unlimited attempts: %v", got)
	}
	a.mustOK(2*minute+1, LoginFailedOp("i1", 2, 0))
	if got := ident(); !IdentityLocked(got, 1<<62) {
		t.Fatalf("a lockout without a duration ends: %v", got)
	}
	if res := a.apply(3*minute, LoginAllowedOp("nobody", "")); res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("a login of nobody: %v", res)
	}
}

// A TOTP step is accepted once and only after the last one accepted; a
// recovery code once.
func TestMfaCodesAreSpentOnce(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})),
		createOp(entity(t, KindMfa, "i1", &pb.Mfa{IdentityId: "i1", IsVerified: true, Secret: "S", RecoveryCodeHashes: []string{"h1", "h2"}})))
	a.mustOK(2, MfaCodeUsedOp("i1", 100, ""))
	for _, step := range []int64{100, 99} {
		if res := a.apply(3, MfaCodeUsedOp("i1", step, "")); res.GetCode() != pb.Result_CONFLICT {
			t.Fatalf("step %d again: %v", step, res)
		}
	}
	a.mustOK(4, MfaCodeUsedOp("i1", 101, ""))
	a.mustOK(5, MfaCodeUsedOp("i1", 0, "h2"))
	if res := a.apply(6, MfaCodeUsedOp("i1", 0, "h2")); res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("a recovery code twice: %v", res)
	}
	rec, err := s.Get(KindMfa, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if m := rec.Body.(*pb.Mfa); m.GetLastStep() != 101 || len(m.GetRecoveryCodeHashes()) != 1 || m.GetRecoveryCodeHashes()[0] != "h1" {
		t.Fatalf("after the codes: %v", m)
	}
	if res := a.apply(7, MfaCodeUsedOp("nobody", 5, "")); res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("a code of no enrollment: %v", res)
	}
	// Deleting the identity deletes its enrollment.
	a.mustOK(8, deleteOp(KindIdentity, "i1"))
	if _, err := s.Get(KindMfa, "i1"); err == nil {
		t.Fatal("the enrollment outlived its identity")
	}
}

// Wrong MFA codes are counted on the session, which ends at the limit.
func TestMfaFailuresEndTheSession(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})),
		createOp(entity(t, KindApiSession, "s1", &pb.ApiSession{IdentityId: "i1", TokenHash: "h"})))
	a.mustOK(2, MfaFailedOp("s1", 3))
	a.mustOK(3, MfaFailedOp("s1", 3))
	rec, err := s.Get(KindApiSession, "s1")
	if err != nil || rec.Body.(*pb.ApiSession).GetMfaFailures() != 2 {
		t.Fatalf("after two: %v %v", rec, err)
	}
	a.mustOK(4, MfaFailedOp("s1", 3))
	if _, err := s.Get(KindApiSession, "s1"); err == nil {
		t.Fatal("the session outlived its third wrong code")
	}
	a.mustOK(5, MfaFailedOp("s1", 3)) // ended already: nothing to do
}

// A login's session owes an MFA code exactly when the identity's
// enrollment is verified where the session is created in the log.
func TestLoginMarksMfaRequired(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})),
		createOp(entity(t, KindMfa, "i1", &pb.Mfa{IdentityId: "i1", Secret: "S"})))
	login := func(ts int64, sid string) bool {
		t.Helper()
		a.mustOK(ts, createOp(entity(t, KindApiSession, sid, &pb.ApiSession{IdentityId: "i1", TokenHash: sid})), LoginAllowedOp("i1", sid))
		rec, err := s.Get(KindApiSession, sid)
		if err != nil {
			t.Fatal(err)
		}
		return rec.Body.(*pb.ApiSession).GetIsMfaRequired()
	}
	if login(2, "s1") {
		t.Fatal("an unverified enrollment made the session owe a code")
	}
	a.mustOK(3, &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: entity(t, KindMfa, "i1", &pb.Mfa{IsVerified: true}), Fields: []string{"is_verified"}}}})
	if !login(4, "s2") {
		t.Fatal("a verified enrollment left the session owing nothing")
	}
	// A locked identity's login command is undone whole: no session.
	a.mustOK(5, LoginFailedOp("i1", 1, 0))
	res := a.apply(6, createOp(entity(t, KindApiSession, "s3", &pb.ApiSession{IdentityId: "i1", TokenHash: "s3"})), LoginAllowedOp("i1", "s3"))
	if res.GetCode() != pb.Result_LOCKED {
		t.Fatalf("login while locked: %v", res)
	}
	if _, err := s.Get(KindApiSession, "s3"); err == nil {
		t.Fatal("the refused login's session exists")
	}
}

// MfaExpect holds only for the enrollment read, in the state read.
func TestMfaExpect(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	old := &pb.Mfa{IdentityId: "i1", Secret: "OLD"}
	a.mustOK(1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})), createOp(entity(t, KindMfa, "i1", old)))
	a.mustOK(2, MfaExpectOp("i1", old))
	if res := a.apply(3, MfaExpectOp("i1", &pb.Mfa{Secret: "OLD", IsVerified: true})); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("another state: %v", res)
	}
	a.mustOK(4, deleteOp(KindMfa, "i1"), createOp(entity(t, KindMfa, "i1", &pb.Mfa{IdentityId: "i1", Secret: "NEW"})))
	if res := a.apply(5, MfaExpectOp("i1", old)); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("a replaced enrollment: %v", res)
	}
	a.mustOK(6, deleteOp(KindMfa, "i1"))
	if res := a.apply(7, MfaExpectOp("i1", old)); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("a deleted enrollment: %v", res)
	}
}
