package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindController is the type name of cluster members' self-descriptions.
// A controller's id is its Raft server id.
const KindController = "controllers"

// ControllerName indexes members by name.
var ControllerName = UniqueIndex(KindController, "name")

var controllerKind = Kind{
	Name: KindController,
	New:  func() proto.Message { return &pb.Controller{} },
	Indexes: []Index{
		ControllerName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.Controller).GetName())
		}),
	},
}
