package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindEnrollment is the type name of enrollments.
const KindEnrollment = "enrollments"

var enrollmentKind = Kind{
	Name: KindEnrollment,
	New:  func() proto.Message { return &pb.Enrollment{} },
	Indexes: []Index{
		// The token is what a client presents; its uniqueness is what makes a
		// token single-use: consuming it deletes this entity through Raft, and
		// a second consumer's delete finds nothing.
		{Name: "token", Unique: true, Field: "token", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetToken())
		}},
		{Name: "identity", Field: "identityId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetIdentityId())
		}},
		// One outstanding enrollment per method per identity, as in OpenZiti.
		{Name: "identityMethod", Unique: true, Field: "method", Keys: func(m proto.Message) []string {
			e := m.(*pb.Enrollment)
			if e.GetIdentityId() == "" {
				return nil
			}
			return keysOf(e.GetIdentityId() + "/" + e.GetMethod())
		}},
		{Name: "edgeRouter", Field: "edgeRouterId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetEdgeRouterId())
		}},
		// A router has at most one outstanding enrollment. (References need a
		// non-unique index, hence the separate one above.)
		{Name: "edgeRouterOnce", Unique: true, Field: "edgeRouterId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetEdgeRouterId())
		}},
		{Name: "ca", Field: "caId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Enrollment).GetCaId())
		}},
	},
	Refs: []Ref{
		{Index: "identity", Field: "identityId", Target: KindIdentity, OnDelete: Cascade},
		{Index: "edgeRouter", Field: "edgeRouterId", Target: KindEdgeRouter, OnDelete: Cascade},
		{Index: "ca", Field: "caId", Target: KindCa, OnDelete: Cascade},
	},
}
