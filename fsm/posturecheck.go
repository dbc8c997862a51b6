package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindPostureCheck is the type name of posture checks.
const KindPostureCheck = "postureChecks"

// Indexes of posture checks.
var (
	PostureCheckName           = UniqueIndex(KindPostureCheck, "name")
	PostureCheckRoleAttributes = MultiIndex(KindPostureCheck, "roleAttributes")
)

var postureCheckKind = Kind{
	Access: true,
	Name:   KindPostureCheck,
	New:    func() proto.Message { return &pb.PostureCheck{} },
	Indexes: []Index{
		PostureCheckName.Index("name", func(m proto.Message) []string { return keysOf(m.(*pb.PostureCheck).GetName()) }),
		PostureCheckRoleAttributes.Index("roleAttributes", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.PostureCheck).GetRoleAttributes())))
		}),
	},
}
