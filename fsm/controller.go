package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindController is the type name of cluster members' self-descriptions.
// A controller's id is its Raft server id.
const KindController = "controllers"

var controllerKind = Kind{
	Name: KindController,
	New:  func() proto.Message { return &pb.Controller{} },
	Indexes: []Index{
		{Name: "name", Unique: true, Field: "name", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Controller).GetName())
		}},
	},
}
