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
	servicePolicyPostureIDs    = MultiIndex(KindServicePolicy, "postureCheckIds")
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

// ServicePolicySides are the role lists of service policies.
var ServicePolicySides = struct{ Identities, Services, PostureChecks PolicySide }{
	Identities: PolicySide{Field: "identityRoles", Roles: ServicePolicyIdentityRoles, Target: KindIdentity, IDs: ServicePolicyIdentityIDs,
		Get: func(m proto.Message) []string { return m.(*pb.ServicePolicy).GetIdentityRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.ServicePolicy).IdentityRoles = r }},
	Services: PolicySide{Field: "serviceRoles", Roles: ServicePolicyServiceRoles, Target: KindService, IDs: ServicePolicyServiceIDs,
		Get: func(m proto.Message) []string { return m.(*pb.ServicePolicy).GetServiceRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.ServicePolicy).ServiceRoles = r }},
	PostureChecks: PolicySide{Field: "postureCheckRoles", Roles: ServicePolicyPostureRoles, Target: KindPostureCheck, IDs: servicePolicyPostureIDs,
		Get: func(m proto.Message) []string { return m.(*pb.ServicePolicy).GetPostureCheckRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.ServicePolicy).PostureCheckRoles = r }},
}

var servicePolicyKind = policyKind(KindServicePolicy, func() proto.Message { return &pb.ServicePolicy{} },
	func(m proto.Message) string { return m.(*pb.ServicePolicy).GetName() }, ServicePolicyName,
	ServicePolicySides.Identities, ServicePolicySides.Services, ServicePolicySides.PostureChecks)
