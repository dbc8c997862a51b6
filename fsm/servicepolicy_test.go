package fsm

import (
	"slices"
	"strings"
	"testing"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Deleting an entity a policy names by "@id" drops it from the policy,
// which stays, with its index entries updated; writes to the kinds that
// decide access record their time.
func TestPolicyDropsDeletedIDsAndAccessTime(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(10,
		createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})),
		createOp(entity(t, KindService, "s1", &pb.Service{Name: "web"})),
		createOp(entity(t, KindServicePolicy, "p1", &pb.ServicePolicy{Name: "p", Type: "Dial", Semantic: "AnyOf",
			IdentityRoles: []string{"@i1", "#staff"}, ServiceRoles: []string{"@s1"}})),
	)
	if res := a.apply(11, createOp(entity(t, KindServicePolicy, "p2", &pb.ServicePolicy{Name: "q", IdentityRoles: []string{"@nobody"}}))); res.GetCode() != pb.Result_REFERENCE_MISSING || res.GetField() != "identityRoles" {
		t.Fatalf("policy naming a missing identity: %v", res)
	}
	a.mustOK(20, deleteOp(KindIdentity, "i1"))
	rec, err := s.Get(KindServicePolicy, "p1")
	if err != nil {
		t.Fatalf("the policy went with the identity: %v", err)
	}
	p := rec.Body.(*pb.ServicePolicy)
	if !slices.Equal(p.GetIdentityRoles(), []string{"#staff"}) || !slices.Equal(p.GetServiceRoles(), []string{"@s1"}) {
		t.Fatalf("roles after the delete: %v %v", p.GetIdentityRoles(), p.GetServiceRoles())
	}
	err = s.View(func(r *Reader) error {
		if ids, _ := r.IDsByIndex(ServicePolicyIdentityRoles, "@i1"); len(ids) != 0 {
			t.Errorf("role index still maps @i1: %v", ids)
		}
		if got := r.AccessChangedAt().UnixNano(); got != 20 {
			t.Errorf("access changed at %d, want 20 (the delete)", got)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Writes to other kinds leave it.
	a.mustOK(30, createOp(entity(t, KindApiSession, "as1", &pb.ApiSession{IdentityId: "", TokenHash: "h"})))
	_ = s.View(func(r *Reader) error {
		if got := r.AccessChangedAt().UnixNano(); got != 20 {
			t.Errorf("an API session moved the access time to %d", got)
		}
		return nil
	})
}

func TestRolesMatch(t *testing.T) {
	for _, c := range []struct {
		roles    []string
		semantic string
		id       string
		attrs    []string
		want     bool
	}{
		{[]string{"#all"}, "AllOf", "x", nil, true},
		{[]string{"@x"}, "AllOf", "x", nil, true},
		{[]string{"@x"}, "AllOf", "y", nil, false},
		{[]string{"#a", "#b"}, "AllOf", "y", []string{"a"}, false},
		{[]string{"#a", "#b"}, "AllOf", "y", []string{"b", "a"}, true},
		{[]string{"#a", "#b"}, "AnyOf", "y", []string{"b"}, true},
		{[]string{"#a", "@x"}, "AllOf", "x", nil, true},
		{nil, "AnyOf", "y", []string{"a"}, false},
	} {
		rs, err := ParseRoles(c.roles, c.semantic)
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.Matches(c.id, c.attrs); got != c.want {
			t.Errorf("%v %s on %s %v = %v, want %v", c.roles, c.semantic, c.id, c.attrs, got, c.want)
		}
	}
	for _, bad := range [][]string{{"web"}, {"#"}, {"@"}, {""}} {
		if _, err := ParseRoles(bad, ""); err == nil {
			t.Errorf("roles %q parsed", bad)
		}
	}
	if _, err := ParseRoles(nil, "SomeOf"); err == nil {
		t.Error("semantic SomeOf parsed")
	}
}

// ParseRoles takes outside input (policy bodies, list role filters): it
// must never panic, and what it accepts must round-trip its rules.
func FuzzParseRoles(f *testing.F) {
	for _, seed := range []string{"#all", "#web", "@id", "web", "#", "@", "#a,#b", "#all,@x"} {
		f.Add(seed, "AnyOf", "x", "a")
	}
	f.Fuzz(func(t *testing.T, roles, semantic, id, attr string) {
		var list []string
		for r := range strings.SplitSeq(roles, ",") {
			list = append(list, r)
		}
		rs, err := ParseRoles(list, semantic)
		if err != nil {
			return
		}
		got := rs.Matches(id, []string{attr})
		if rs.All && !got {
			t.Fatalf("#all did not match %q", id)
		}
		if rs.IDs[id] && !got {
			t.Fatalf("@%s did not match its entity", id)
		}
		if !rs.All && !rs.IDs[id] && len(rs.Attrs) == 0 && got {
			t.Fatalf("%q matched %q with no role for it", roles, id)
		}
	})
}
