package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindService is the type name of services.
const KindService = "services"

// Indexes of services.
var (
	ServiceName           = UniqueIndex(KindService, "name")
	ServiceRoleAttributes = MultiIndex(KindService, "roleAttributes")
	ServiceConfigs        = MultiIndex(KindService, "configs")
)

var serviceKind = Kind{
	Access: true,
	Name:   KindService,
	New:    func() proto.Message { return &pb.Service{} },
	Indexes: []Index{
		ServiceName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.Service).GetName())
		}),
		ServiceRoleAttributes.Index("roleAttributes", func(m proto.Message) []string {
			return m.(*pb.Service).GetRoleAttributes()
		}),
		ServiceConfigs.Index("configs", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.Service).GetConfigs())))
		}),
	},
	// A config a service uses cannot be deleted (409).
	Refs: []Ref{{Index: ServiceConfigs, Field: "configs", Target: KindConfig, OnDelete: Restrict}},
}
