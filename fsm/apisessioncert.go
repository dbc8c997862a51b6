package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindApiSessionCertificate is the type name of API session certificates.
const KindApiSessionCertificate = "apiSessionCertificates"

// Indexes of API session certificates.
var (
	ApiSessionCertificateSession     = MultiIndex(KindApiSessionCertificate, "apiSession")
	ApiSessionCertificateFingerprint = UniqueIndex(KindApiSessionCertificate, "fingerprint")
)

var apiSessionCertificateKind = Kind{
	Name: KindApiSessionCertificate,
	New:  func() proto.Message { return &pb.ApiSessionCertificate{} },
	Indexes: []Index{
		ApiSessionCertificateSession.Index("apiSessionId", func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSessionCertificate).GetApiSessionId())
		}),
		ApiSessionCertificateFingerprint.Index("fingerprint", func(m proto.Message) []string {
			return keysOf(m.(*pb.ApiSessionCertificate).GetFingerprint())
		}),
	},
	// A session certificate lives exactly as long as its session: logout,
	// expiry and admin delete all delete the session, and with it these, in
	// the same apply on every node.
	Refs: []Ref{{Index: ApiSessionCertificateSession, Field: "apiSessionId", Target: KindApiSession, OnDelete: Cascade}},
}
