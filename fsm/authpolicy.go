package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindAuthPolicy is the type name of auth policies.
const KindAuthPolicy = "authPolicies"

// DefaultAuthPolicyID is the auth policy that always exists, which an
// identity with no auth policy of its own uses.
const DefaultAuthPolicyID = "default"

// AuthPolicyName indexes auth policies by name.
var AuthPolicyName = UniqueIndex(KindAuthPolicy, "name")

var authPolicyKind = Kind{
	Name: KindAuthPolicy,
	New:  func() proto.Message { return &pb.AuthPolicy{} },
	Indexes: append([]Index{
		AuthPolicyName.Index("name", func(m proto.Message) []string { return keysOf(m.(*pb.AuthPolicy).GetName()) }),
	}, authPolicySignerIndexes()...),
	Refs: []Ref{
		{Index: AuthPolicyAllowedSigners, Field: "primary.extJwt.allowedSigners", Target: KindExtJwtSigner, OnDelete: Restrict},
		{Index: AuthPolicySecondSigner, Field: "secondary.requireExtJwtSigner", Target: KindExtJwtSigner, OnDelete: Restrict},
	},
}

// DefaultAuthPolicy is the policy "default" as a new cluster gets it, and
// as logins read it where a cluster from before auth policies lacks it:
// certificates (expired ones too), passwords of at least 5 characters with
// no lockout, and external JWTs of any signer; no second factor.
func DefaultAuthPolicy() *pb.AuthPolicy {
	return &pb.AuthPolicy{
		Name: "Default",
		Primary: &pb.AuthPolicyPrimary{
			Cert:   &pb.AuthPolicyCert{Allowed: true, AllowExpiredCerts: true},
			Updb:   &pb.AuthPolicyUpdb{Allowed: true, MinPasswordLength: 5},
			ExtJwt: &pb.AuthPolicyExtJwt{Allowed: true},
		},
		Secondary: &pb.AuthPolicySecondary{},
	}
}
