package fsm

import (
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Kind names of the edge-router policy kinds.
const (
	KindEdgeRouterPolicy        = "edgeRouterPolicies"
	KindServiceEdgeRouterPolicy = "serviceEdgeRouterPolicies"
)

// Indexes of edge-router policies and service edge-router policies.
var (
	EdgeRouterPolicyName          = UniqueIndex(KindEdgeRouterPolicy, "name")
	EdgeRouterPolicyIdentityRoles = MultiIndex(KindEdgeRouterPolicy, "identityRoles")
	EdgeRouterPolicyRouterRoles   = MultiIndex(KindEdgeRouterPolicy, "edgeRouterRoles")
	edgeRouterPolicyIdentityIDs   = MultiIndex(KindEdgeRouterPolicy, "identityIds")
	edgeRouterPolicyRouterIDs     = MultiIndex(KindEdgeRouterPolicy, "edgeRouterIds")

	ServiceEdgeRouterPolicyName         = UniqueIndex(KindServiceEdgeRouterPolicy, "name")
	ServiceEdgeRouterPolicyServiceRoles = MultiIndex(KindServiceEdgeRouterPolicy, "serviceRoles")
	ServiceEdgeRouterPolicyRouterRoles  = MultiIndex(KindServiceEdgeRouterPolicy, "edgeRouterRoles")
	serviceEdgeRouterPolicyServiceIDs   = MultiIndex(KindServiceEdgeRouterPolicy, "serviceIds")
	serviceEdgeRouterPolicyRouterIDs    = MultiIndex(KindServiceEdgeRouterPolicy, "edgeRouterIds")
)

// EdgeRouterPolicySides are the role lists of edge-router policies.
var EdgeRouterPolicySides = struct{ Identities, EdgeRouters PolicySide }{
	Identities: PolicySide{Field: "identityRoles", Roles: EdgeRouterPolicyIdentityRoles, Target: KindIdentity, IDs: edgeRouterPolicyIdentityIDs,
		Get: func(m proto.Message) []string { return m.(*pb.EdgeRouterPolicy).GetIdentityRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.EdgeRouterPolicy).IdentityRoles = r }},
	EdgeRouters: PolicySide{Field: "edgeRouterRoles", Roles: EdgeRouterPolicyRouterRoles, Target: KindEdgeRouter, IDs: edgeRouterPolicyRouterIDs,
		Get: func(m proto.Message) []string { return m.(*pb.EdgeRouterPolicy).GetEdgeRouterRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.EdgeRouterPolicy).EdgeRouterRoles = r }},
}

// ServiceEdgeRouterPolicySides are the role lists of service edge-router
// policies.
var ServiceEdgeRouterPolicySides = struct{ Services, EdgeRouters PolicySide }{
	Services: PolicySide{Field: "serviceRoles", Roles: ServiceEdgeRouterPolicyServiceRoles, Target: KindService, IDs: serviceEdgeRouterPolicyServiceIDs,
		Get: func(m proto.Message) []string { return m.(*pb.ServiceEdgeRouterPolicy).GetServiceRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.ServiceEdgeRouterPolicy).ServiceRoles = r }},
	EdgeRouters: PolicySide{Field: "edgeRouterRoles", Roles: ServiceEdgeRouterPolicyRouterRoles, Target: KindEdgeRouter, IDs: serviceEdgeRouterPolicyRouterIDs,
		Get: func(m proto.Message) []string { return m.(*pb.ServiceEdgeRouterPolicy).GetEdgeRouterRoles() },
		Set: func(m proto.Message, r []string) { m.(*pb.ServiceEdgeRouterPolicy).EdgeRouterRoles = r }},
}

var edgeRouterPolicyKind = policyKind(KindEdgeRouterPolicy, func() proto.Message { return &pb.EdgeRouterPolicy{} },
	func(m proto.Message) string { return m.(*pb.EdgeRouterPolicy).GetName() }, EdgeRouterPolicyName,
	EdgeRouterPolicySides.Identities, EdgeRouterPolicySides.EdgeRouters)

var serviceEdgeRouterPolicyKind = policyKind(KindServiceEdgeRouterPolicy, func() proto.Message { return &pb.ServiceEdgeRouterPolicy{} },
	func(m proto.Message) string { return m.(*pb.ServiceEdgeRouterPolicy).GetName() }, ServiceEdgeRouterPolicyName,
	ServiceEdgeRouterPolicySides.Services, ServiceEdgeRouterPolicySides.EdgeRouters)
