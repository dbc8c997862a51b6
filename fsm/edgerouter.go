package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindEdgeRouter is the type name of routers: edge routers, and transit
// routers (pb.EdgeRouter.transit), which share the name and fingerprint
// spaces and the enrollment of edge routers, as in OpenZiti.
const KindEdgeRouter = "edgeRouters"

// Indexes of edge routers.
var (
	EdgeRouterName = UniqueIndex(KindEdgeRouter, "name")
	// EdgeRouterFingerprint holds current and pending (unverified) fingerprints.
	EdgeRouterFingerprint    = UniqueIndex(KindEdgeRouter, "fingerprint")
	EdgeRouterRoleAttributes = MultiIndex(KindEdgeRouter, "roleAttributes")
	EdgeRouterConfigs        = MultiIndex(KindEdgeRouter, "configs")
	// EdgeRouterTransit holds the transit routers under the key "true"
	// (only them, so a state of a build before transit routers needs no
	// new entries).
	EdgeRouterTransit = MultiIndex(KindEdgeRouter, "transit")
)

var edgeRouterKind = Kind{
	Access: true,
	Name:   KindEdgeRouter,
	New:    func() proto.Message { return &pb.EdgeRouter{} },
	Indexes: []Index{
		EdgeRouterName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.EdgeRouter).GetName())
		}),
		EdgeRouterFingerprint.Index("fingerprint", func(m proto.Message) []string {
			r := m.(*pb.EdgeRouter)
			return append(keysOf(r.GetFingerprint()), keysOf(r.GetUnverifiedFingerprint())...)
		}),
		EdgeRouterRoleAttributes.Index("roleAttributes", func(m proto.Message) []string {
			return m.(*pb.EdgeRouter).GetRoleAttributes()
		}),
		EdgeRouterConfigs.Index("configs", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.EdgeRouter).GetConfigs())))
		}),
		EdgeRouterTransit.Index("transit", func(m proto.Message) []string {
			if m.(*pb.EdgeRouter).GetTransit() {
				return []string{"true"}
			}
			return nil
		}),
	},
	// A config a router uses cannot be deleted (409).
	Refs: []Ref{{Index: EdgeRouterConfigs, Field: "configs", Target: KindConfig, OnDelete: Restrict}},
}
