package fsm

import (
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// KindServicePolicy is the type name of service policies.
const KindServicePolicy = "servicePolicies"

// Indexes of service policies. The role indexes hold the roles as written
// ("#web", "@id", "#all"): a lookup by an entity's attributes, its id and
// #all finds every policy that can match it without scanning policies. The
// id indexes hold the ids of "@" roles, for the references.
var (
	ServicePolicyName          = UniqueIndex(KindServicePolicy, "name")
	ServicePolicyIdentityRoles = MultiIndex(KindServicePolicy, "identityRoles")
	ServicePolicyServiceRoles  = MultiIndex(KindServicePolicy, "serviceRoles")
	ServicePolicyPostureRoles  = MultiIndex(KindServicePolicy, "postureCheckRoles")
	ServicePolicyIdentityIDs   = MultiIndex(KindServicePolicy, "identityIds")
	ServicePolicyServiceIDs    = MultiIndex(KindServicePolicy, "serviceIds")
)

// RoleAll is the role every entity has.
const RoleAll = "#all"

// RoleIDs returns the ids of the "@id" roles.
func RoleIDs(roles []string) []string {
	var ids []string
	for _, r := range roles {
		if id, ok := strings.CutPrefix(r, "@"); ok && id != "" {
			ids = append(ids, id)
		}
	}
	return slices.Compact(slices.Sorted(slices.Values(ids)))
}

// dropRole removes role from roles.
func dropRole(roles []string, role string) []string {
	return slices.DeleteFunc(roles, func(r string) bool { return r == role })
}

var servicePolicyKind = Kind{
	Access: true,
	Name:   KindServicePolicy,
	New:    func() proto.Message { return &pb.ServicePolicy{} },
	Indexes: []Index{
		ServicePolicyName.Index("name", func(m proto.Message) []string {
			return keysOf(m.(*pb.ServicePolicy).GetName())
		}),
		ServicePolicyIdentityRoles.Index("identityRoles", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.ServicePolicy).GetIdentityRoles())))
		}),
		ServicePolicyServiceRoles.Index("serviceRoles", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.ServicePolicy).GetServiceRoles())))
		}),
		ServicePolicyPostureRoles.Index("postureCheckRoles", func(m proto.Message) []string {
			return slices.Compact(slices.Sorted(slices.Values(m.(*pb.ServicePolicy).GetPostureCheckRoles())))
		}),
		ServicePolicyIdentityIDs.Index("identityRoles", func(m proto.Message) []string {
			return RoleIDs(m.(*pb.ServicePolicy).GetIdentityRoles())
		}),
		ServicePolicyServiceIDs.Index("serviceRoles", func(m proto.Message) []string {
			return RoleIDs(m.(*pb.ServicePolicy).GetServiceRoles())
		}),
	},
	// An entity named by "@id" must exist; deleting it removes it from
	// every policy naming it, and the policy stays.
	Refs: []Ref{
		{Index: ServicePolicyIdentityIDs, Field: "identityRoles", Target: KindIdentity, OnDelete: Drop,
			Drop: func(m proto.Message, id string) {
				p := m.(*pb.ServicePolicy)
				p.IdentityRoles = dropRole(p.IdentityRoles, "@"+id)
			}},
		{Index: ServicePolicyServiceIDs, Field: "serviceRoles", Target: KindService, OnDelete: Drop,
			Drop: func(m proto.Message, id string) {
				p := m.(*pb.ServicePolicy)
				p.ServiceRoles = dropRole(p.ServiceRoles, "@"+id)
			}},
	},
}
