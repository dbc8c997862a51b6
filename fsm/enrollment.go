package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindEnrollment is the type name of enrollments.
const KindEnrollment = "enrollments"

// Indexes of enrollments.
var (
	// EnrollmentToken is what makes a token single-use: consuming it
	// deletes the enrollment through Raft, and a second consumer finds
	// nothing.
	EnrollmentToken    = UniqueIndex(KindEnrollment, "token")
	EnrollmentIdentity = MultiIndex(KindEnrollment, "identity")
	// EnrollmentIdentityMethod keys are IdentityMethodKey(identity, method):
	// one outstanding enrollment per method per identity, as in OpenZiti.
	EnrollmentIdentityMethod = UniqueIndex(KindEnrollment, "identityMethod")
	EnrollmentEdgeRouter     = MultiIndex(KindEnrollment, "edgeRouter")
	// EnrollmentEdgeRouterOnce: a router has at most one outstanding
	// enrollment. (References need a non-unique index, hence two.)
	EnrollmentEdgeRouterOnce = UniqueIndex(KindEnrollment, "edgeRouterOnce")
	EnrollmentCA             = MultiIndex(KindEnrollment, "ca")
)

var enrollmentKind = Kind{
	Name: KindEnrollment,
	New:  func() proto.Message { return &pb.Enrollment{} },
	Indexes: []Index{
		EnrollmentToken.Index("token", func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetToken())
		}),
		EnrollmentIdentity.Index("identityId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetIdentityId())
		}),
		EnrollmentIdentityMethod.Index("method", func(m proto.Message) []string {
			e := m.(*pb.Enrollment)
			if e.GetIdentityId() == "" {
				return nil
			}
			return keysOf(IdentityMethodKey(e.GetIdentityId(), e.GetMethod()))
		}),
		EnrollmentEdgeRouter.Index("edgeRouterId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetEdgeRouterId())
		}),
		EnrollmentEdgeRouterOnce.Index("edgeRouterId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetEdgeRouterId())
		}),
		EnrollmentCA.Index("caId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetCaId())
		}),
	},
	Refs: []Ref{
		{Index: EnrollmentIdentity, Field: "identityId", Target: KindIdentity, OnDelete: Cascade},
		{Index: EnrollmentEdgeRouter, Field: "edgeRouterId", Target: KindEdgeRouter, OnDelete: Cascade},
		{Index: EnrollmentCA, Field: "caId", Target: KindCa, OnDelete: Cascade},
	},
}
