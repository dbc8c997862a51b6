package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindIdentity is the type name of identities.
const KindIdentity = "identities"

var identityKind = Kind{
	Name: KindIdentity,
	New:  func() proto.Message { return &pb.Identity{} },
	Indexes: []Index{
		{Name: "name", Unique: true, Field: "name", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetName())
		}},
		{Name: "externalId", Unique: true, Field: "externalId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetExternalId())
		}},
		{Name: "roleAttributes", Field: "roleAttributes", Keys: func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.Identity).GetRoleAttributes())))
		}},
	},
}
