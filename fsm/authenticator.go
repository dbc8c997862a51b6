package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindAuthenticator is the type name of authenticators.
const KindAuthenticator = "authenticators"

// Indexes of authenticators.
var (
	AuthenticatorIdentity = MultiIndex(KindAuthenticator, "identity")
	// AuthenticatorUsername holds updb usernames only.
	AuthenticatorUsername = UniqueIndex(KindAuthenticator, "username")
	// AuthenticatorIdentityMethod keys are IdentityMethodKey(identity, method).
	AuthenticatorIdentityMethod = UniqueIndex(KindAuthenticator, "identityMethod")
	// AuthenticatorFingerprint holds current and pending (extension) fingerprints.
	AuthenticatorFingerprint = UniqueIndex(KindAuthenticator, "fingerprint")
	AuthenticatorCA          = MultiIndex(KindAuthenticator, "ca")
)

// IdentityMethodKey is the key of AuthenticatorIdentityMethod and
// EnrollmentIdentityMethod: one of each method per identity.
func IdentityMethodKey(identityID, method string) string { return identityID + "/" + method }

var authenticatorKind = Kind{
	Name: KindAuthenticator,
	New:  func() proto.Message { return &pb.Authenticator{} },
	Indexes: []Index{
		AuthenticatorIdentity.Index("identityId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Authenticator).GetIdentityId())
		}),
		AuthenticatorUsername.Index("username", func(m proto.Message) []string {
			a := m.(*pb.Authenticator)
			if a.GetMethod() != "updb" {
				return nil
			}
			return keysOf(a.GetUsername())
		}),
		// One authenticator per method per identity, as in OpenZiti.
		AuthenticatorIdentityMethod.Index("method", func(m proto.Message) []string {
			a := m.(*pb.Authenticator)
			return keysOf(IdentityMethodKey(a.GetIdentityId(), a.GetMethod()))
		}),
		// The certificate being extended is indexed too, so no other
		// authenticator can claim it while the extension is pending.
		AuthenticatorFingerprint.Index("fingerprint", func(m proto.Message) []string {
			a := m.(*pb.Authenticator)
			return append(keysOf(a.GetFingerprint()), keysOf(a.GetUnverifiedFingerprint())...)
		}),
		AuthenticatorCA.Index("caId", func(m proto.Message) []string {
			return keysOf(m.(*pb.Authenticator).GetCaId())
		}),
	},
	Refs: []Ref{
		{Index: AuthenticatorIdentity, Field: "identityId", Target: KindIdentity, OnDelete: Cascade},
		// Deleting a third-party CA deletes the certificates it vouched for.
		{Index: AuthenticatorCA, Field: "caId", Target: KindCa, OnDelete: Cascade},
	},
}
