package rest

import (
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/rest/api"
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

// policyAdvice answers GET /identities/{id}/policy-advice/{serviceId}: why
// an identity may or may not use a service — its permissions on it, how
// many routers its policies and the service's give, and which they share.
func (s *Server) policyAdvice(w http.ResponseWriter, r *http.Request) error {
	identityID, serviceID := mux.Vars(r)["id"], mux.Vars(r)["serviceId"]
	var out map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		ident, err := rd.Get(fsm.KindIdentity, identityID)
		if err != nil {
			return err
		}
		svc, err := rd.Get(fsm.KindService, serviceID)
		if err != nil {
			return err
		}
		perms, err := edge.ServicePermissions(rd, ident)
		if err != nil {
			return err
		}
		ids, mine, theirs, err := edge.CommonRouters(rd, ident, svc)
		if err != nil {
			return err
		}
		common := []map[string]any{}
		for _, id := range ids {
			ref := EntityRef("edge-routers", id, NameOf(rd, fsm.KindEdgeRouter, id))
			ref["isOnline"] = false // no data plane
			common = append(common, ref)
		}
		out = map[string]any{
			"identityId": identityID, "identity": EntityRef("identities", identityID, NameOf(rd, fsm.KindIdentity, identityID)),
			"serviceId": serviceID, "service": EntityRef("services", serviceID, NameOf(rd, fsm.KindService, serviceID)),
			"isDialAllowed": slices.Contains(perms[serviceID], "Dial"), "isBindAllowed": slices.Contains(perms[serviceID], "Bind"),
			"identityRouterCount": len(mine), "serviceRouterCount": len(theirs), "commonRouters": common,
		}
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}
