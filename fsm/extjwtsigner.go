package fsm

import (
	"slices"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindExtJwtSigner is the type name of external JWT signers.
const KindExtJwtSigner = "externalJwtSigners"

// Indexes of external JWT signers: names and issuers are unique (a token
// finds its signer by its issuer).
var (
	ExtJwtSignerName   = UniqueIndex(KindExtJwtSigner, "name")
	ExtJwtSignerIssuer = UniqueIndex(KindExtJwtSigner, "issuer")
	// ExtJwtSignerEnrollPolicy: the auth policy a signer enrolls
	// identities under.
	ExtJwtSignerEnrollPolicy = MultiIndex(KindExtJwtSigner, "enrollAuthPolicy")
)

var extJwtSignerKind = Kind{
	Name: KindExtJwtSigner,
	New:  func() proto.Message { return &pb.ExternalJwtSigner{} },
	Indexes: []Index{
		ExtJwtSignerName.Index("name", func(m proto.Message) []string { return keysOf(m.(*pb.ExternalJwtSigner).GetName()) }),
		ExtJwtSignerIssuer.Index("issuer", func(m proto.Message) []string { return keysOf(m.(*pb.ExternalJwtSigner).GetIssuer()) }),
		ExtJwtSignerEnrollPolicy.Index("enrollAuthPolicyId", func(m proto.Message) []string {
			return keysOf(m.(*pb.ExternalJwtSigner).GetEnrollAuthPolicyId())
		}),
	},
	Refs: []Ref{{Index: ExtJwtSignerEnrollPolicy, Field: "enrollAuthPolicyId", Target: KindAuthPolicy, OnDelete: Restrict}},
}

// Auth policies name signers: a signer a policy names cannot be deleted.
var (
	AuthPolicyAllowedSigners = MultiIndex(KindAuthPolicy, "allowedSigners")
	AuthPolicySecondSigner   = MultiIndex(KindAuthPolicy, "requireExtJwtSigner")
)

func authPolicySignerIndexes() []Index {
	return []Index{
		AuthPolicyAllowedSigners.Index("allowedSigners", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.AuthPolicy).GetPrimary().GetExtJwt().GetAllowedSigners())))
		}),
		AuthPolicySecondSigner.Index("requireExtJwtSigner", func(m proto.Message) []string {
			return keysOf(m.(*pb.AuthPolicy).GetSecondary().GetRequireExtJwtSigner())
		}),
	}
}
