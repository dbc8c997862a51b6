package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindCa is the type name of third-party certificate authorities.
const KindCa = "cas"

var caKind = Kind{
	Name: KindCa,
	New:  func() proto.Message { return &pb.Ca{} },
	Indexes: []Index{
		{Name: "name", Unique: true, Field: "name", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Ca).GetName())
		}},
		// The same CA certificate twice would make "which CA issued this
		// client" ambiguous.
		{Name: "fingerprint", Unique: true, Field: "certPem", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Ca).GetFingerprint())
		}},
	},
}
