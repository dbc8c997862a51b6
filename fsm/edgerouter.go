package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindEdgeRouter is the type name of edge routers.
const KindEdgeRouter = "edgeRouters"

var edgeRouterKind = Kind{
	Name: KindEdgeRouter,
	New:  func() proto.Message { return &pb.EdgeRouter{} },
	Indexes: []Index{
		{Name: "name", Unique: true, Field: "name", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.EdgeRouter).GetName())
		}},
		{Name: "fingerprint", Unique: true, Field: "fingerprint", Keys: func(m proto.Message) []string {
			r := m.(*pb.EdgeRouter)
			return append(keysOf(r.GetFingerprint()), keysOf(r.GetUnverifiedFingerprint())...)
		}},
		{Name: "roleAttributes", Field: "roleAttributes", Keys: func(m proto.Message) []string {
			return m.(*pb.EdgeRouter).GetRoleAttributes()
		}},
	},
}
