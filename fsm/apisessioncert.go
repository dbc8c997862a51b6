package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindApiSessionCertificate is the type name of API session certificates.
const KindApiSessionCertificate = "apiSessionCertificates"

var apiSessionCertificateKind = Kind{
	Name: KindApiSessionCertificate,
	New:  func() proto.Message { return &pb.ApiSessionCertificate{} },
	Indexes: []Index{
		{Name: "apiSession", Field: "apiSessionId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSessionCertificate).GetApiSessionId())
		}},
		{Name: "fingerprint", Unique: true, Field: "fingerprint", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSessionCertificate).GetFingerprint())
		}},
	},
	// A session certificate lives exactly as long as its session: logout,
	// expiry and admin delete all delete the session, and with it these, in
	// the same apply on every node.
	Refs: []Ref{{Index: "apiSession", Field: "apiSessionId", Target: KindApiSession, OnDelete: Cascade}},
}
