package rest

import (
	"github.com/garrison-ctrl/garrison/fsm"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// servicePolicies declares /service-policies: the identities its identity
// roles match may dial or bind the services its service roles match.
// Posture checks do not exist yet, so postureCheckRoles take attributes
// only.
func (s *Server) servicePolicies() *Resource {
	sides := fsm.ServicePolicySides
	return policy(fsm.KindServicePolicy, "service-policies", fsm.ServicePolicyName,
		[]Field{{Name: "type", Proto: "type", Type: Enum, Values: []string{"Dial", "Bind"}, Required: Always, NotNull: true}},
		sides.Identities, sides.Services, sides.PostureChecks)
}

// edgeRouterPolicies declares /edge-router-policies: the identities its
// identity roles match may use the edge routers its router roles match.
// OpenZiti keeps a system policy per router identity; Garrison has no
// router identities, so no policy is a system one.
func (s *Server) edgeRouterPolicies() *Resource {
	sides := fsm.EdgeRouterPolicySides
	return policy(fsm.KindEdgeRouterPolicy, "edge-router-policies", fsm.EdgeRouterPolicyName,
		[]Field{{Name: "isSystem", Type: Bool, Access: ReadOnly, Get: func(*fsm.Reader, *fsm.Record) any { return false }}},
		sides.Identities, sides.EdgeRouters)
}

// serviceEdgeRouterPolicies declares /service-edge-router-policies: the
// services its service roles match may be reached through the edge
// routers its router roles match.
func (s *Server) serviceEdgeRouterPolicies() *Resource {
	sides := fsm.ServiceEdgeRouterPolicySides
	return policy(fsm.KindServiceEdgeRouterPolicy, "service-edge-router-policies", fsm.ServiceEdgeRouterPolicyName, nil,
		sides.Services, sides.EdgeRouters)
}
