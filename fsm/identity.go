package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindIdentity is the type name of identities.
const KindIdentity = "identities"

// Indexes of identities.
var (
	IdentityName           = UniqueIndex(KindIdentity, "name")
	IdentityExternalID     = UniqueIndex(KindIdentity, "externalId")
	IdentityRoleAttributes = MultiIndex(KindIdentity, "roleAttributes")
)

var identityKind = Kind{
	Access: true,
	Name:   KindIdentity,
	New:    func() proto.Message { return &pb.Identity{} },
	Indexes: []Index{
		IdentityName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetName())
		}),
		IdentityExternalID.Index("externalId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Identity).GetExternalId())
		}),
		IdentityRoleAttributes.Index("roleAttributes", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.Identity).GetRoleAttributes())))
		}),
	},
}
