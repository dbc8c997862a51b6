package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindCa is the type name of third-party certificate authorities.
const KindCa = "cas"

// Indexes of third-party CAs.
var (
	CaName = UniqueIndex(KindCa, "name")
	// CaFingerprint: the same CA certificate twice would make "which CA
	// issued this client" ambiguous.
	CaFingerprint = UniqueIndex(KindCa, "fingerprint")
)

var caKind = Kind{
	Name: KindCa,
	New:  func() proto.Message { return &pb.Ca{} },
	Indexes: []Index{
		CaName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.Ca).GetName())
		}),
		CaFingerprint.Index("certPem", func(m proto.Message) []string {
			return keysOf(m.(*pb.Ca).GetFingerprint())
		}),
	},
}
