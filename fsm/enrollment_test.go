package fsm

import (
	"errors"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Consuming an enrollment is a delete of it in the same command that creates
// the credential; the second of two such commands must fail as a whole, so
// two nodes can never both accept one token.
func TestEnrollmentConsumedOnce(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1,
		createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "dev"})),
		createOp(entity(t, KindEnrollment, "e1", &pb.Enrollment{Method: "ott", IdentityId: "i1", Token: "tok"})),
	)
	if res := a.apply(2, createOp(entity(t, KindEnrollment, "e2", &pb.Enrollment{Method: "ott", IdentityId: "i1", Token: "tok2"}))); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("second ott enrollment of one identity: %v", res)
	}
	a.mustOK(3, deleteOp(KindEnrollment, "e1"),
		createOp(entity(t, KindAuthenticator, "a1", &pb.Authenticator{IdentityId: "i1", Method: "cert", Fingerprint: "fp1"})))
	res := a.apply(4, deleteOp(KindEnrollment, "e1"),
		createOp(entity(t, KindAuthenticator, "a2", &pb.Authenticator{IdentityId: "i1", Method: "cert", Fingerprint: "fp2"})))
	if res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("replayed token: %v", res)
	}
	if _, err := s.Get(KindAuthenticator, "a2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("authenticator of the refused command was stored: %v", err)
	}
}

func TestCaAndSessionCascades(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1,
		createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "dev"})),
		createOp(entity(t, KindCa, "ca1", &pb.Ca{Name: "third", Fingerprint: "cafp"})),
		createOp(entity(t, KindAuthenticator, "a1", &pb.Authenticator{IdentityId: "i1", Method: "cert", Fingerprint: "fp1", CaId: "ca1"})),
		createOp(entity(t, KindEnrollment, "e1", &pb.Enrollment{Method: "ottca", IdentityId: "i1", CaId: "ca1", Token: "t"})),
		createOp(entity(t, KindApiSession, "s1", &pb.ApiSession{IdentityId: "i1", TokenHash: "h"})),
		createOp(entity(t, KindApiSessionCertificate, "c1", &pb.ApiSessionCertificate{ApiSessionId: "s1", Fingerprint: "sfp"})),
	)
	if res := a.apply(2, createOp(entity(t, KindCa, "ca2", &pb.Ca{Name: "again", Fingerprint: "cafp"}))); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("same CA certificate twice: %v", res)
	}
	a.mustOK(3, deleteOp(KindCa, "ca1"), deleteOp(KindApiSession, "s1"))
	for _, k := range [][2]string{{KindAuthenticator, "a1"}, {KindEnrollment, "e1"}, {KindApiSessionCertificate, "c1"}} {
		if _, err := s.Get(k[0], k[1]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s %s survived cascade: %v", k[0], k[1], err)
		}
	}
	if _, err := s.Get(KindIdentity, "i1"); err != nil {
		t.Fatalf("identity must survive its CA: %v", err)
	}
}

// Expect guards a consume against a token replaced since it was looked up.
func TestExpectPreconditionOnUniqueIndex(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1,
		createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "dev"})),
		createOp(entity(t, KindEnrollment, "e1", &pb.Enrollment{Method: "ott", IdentityId: "i1", Token: "old"})),
	)
	a.mustOK(2, ExpectOp(EnrollmentToken, "old", "e1"))
	// Refresh: same id, new token.
	a.mustOK(3, &pb.Op{Kind: &pb.Op_Update{Update: &pb.Update{Entity: entity(t, KindEnrollment, "e1", &pb.Enrollment{Method: "ott", IdentityId: "i1", Token: "new"})}}})
	res := a.apply(4, ExpectOp(EnrollmentToken, "old", "e1"), deleteOp(KindEnrollment, "e1"))
	if res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("consume with the replaced token: %v", res)
	}
	if _, err := s.Get(KindEnrollment, "e1"); err != nil {
		t.Fatalf("the failed consume deleted the enrollment: %v", err)
	}
	for _, bad := range []*pb.Expect{
		{Type: "nope", Index: "token", Key: "new", Id: "e1"},
		{Type: KindEnrollment, Index: "identity", Key: "i1", Id: "e1"}, // not unique
		{Type: KindEnrollment, Index: "nope", Key: "i1", Id: "e1"},
	} {
		if err := s.CheckCommand(&pb.Command{Ops: []*pb.Op{{Kind: &pb.Op_Expect{Expect: bad}}}}); !errors.Is(err, ErrIncompatible) {
			t.Errorf("expect %v: CheckCommand = %v, want ErrIncompatible", bad, err)
		}
	}
	a.mustOK(5, ExpectOp(EnrollmentToken, "new", "e1"), deleteOp(KindEnrollment, "e1"))
}

// An indexed value too long for a bbolt key fails its command; it must not
// reach bbolt, whose error would stop every node applying the entry.
func TestOverlongIndexedValuesFailTheCommand(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	long := strings.Repeat("n", 40000)
	for i, e := range []*pb.Entity{
		entity(t, KindIdentity, "i1", &pb.Identity{Name: long}),
		entity(t, KindIdentity, "i2", &pb.Identity{Name: "ok", RoleAttributes: []string{long}}),
		entity(t, KindIdentity, strings.Repeat("x", MaxIDBytes+1), &pb.Identity{Name: "ok2"}),
		entity(t, KindEdgeRouter, "r1", &pb.EdgeRouter{Name: long}),
	} {
		if res := a.apply(int64(i+1), createOp(e)); res.GetCode() != pb.Result_INVALID {
			t.Fatalf("entity %d: %v", i, res)
		}
	}
	tagged := entity(t, KindIdentity, "i3", &pb.Identity{Name: "tagged"})
	tagged.Tags, _ = structpb.NewStruct(map[string]any{"k": long})
	if res := a.apply(10, createOp(tagged)); res.GetCode() != pb.Result_INVALID || res.GetField() != "tags" {
		t.Fatalf("long tag: %v", res)
	}
	a.mustOK(11, createOp(entity(t, KindIdentity, "i4", &pb.Identity{Name: strings.Repeat("n", 4000)})))
}
