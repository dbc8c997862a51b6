package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindAuthenticator is the type name of authenticators.
const KindAuthenticator = "authenticators"

var authenticatorKind = Kind{
	Name: KindAuthenticator,
	New:  func() proto.Message { return &pb.Authenticator{} },
	Indexes: []Index{
		{Name: "identity", Field: "identityId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Authenticator).GetIdentityId())
		}},
		{Name: "username", Unique: true, Field: "username", Keys: func(m proto.Message) []string {
			a := m.(*pb.Authenticator)
			if a.GetMethod() != "updb" {
				return nil
			}
			return keysOf(a.GetUsername())
		}},
		// One authenticator per method per identity, as in OpenZiti.
		{Name: "identityMethod", Unique: true, Field: "method", Keys: func(m proto.Message) []string {
			a := m.(*pb.Authenticator)
			return keysOf(a.GetIdentityId() + "/" + a.GetMethod())
		}},
		// The certificate being extended is indexed too, so no other
		// authenticator can claim it while the extension is pending.
		{Name: "fingerprint", Unique: true, Field: "fingerprint", Keys: func(m proto.Message) []string {
			a := m.(*pb.Authenticator)
			return append(keysOf(a.GetFingerprint()), keysOf(a.GetUnverifiedFingerprint())...)
		}},
		{Name: "ca", Field: "caId", Keys: func(m proto.Message) []string {
			return keysOf(m.(*pb.Authenticator).GetCaId())
		}},
	},
	Refs: []Ref{
		{Index: "identity", Field: "identityId", Target: KindIdentity, OnDelete: Cascade},
		// Deleting a third-party CA deletes the certificates it vouched for.
		{Index: "ca", Field: "caId", Target: KindCa, OnDelete: Cascade},
	},
}
