package rest

import (
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Policy types, as OpenZiti spells them.
const (
	policyDial = "Dial"
	policyBind = "Bind"
)

// maxPolicyRoles bounds each role list of a policy.
const maxPolicyRoles = 100

// servicePolicies declares /service-policies: the identities its identity
// roles match may dial or bind the services its service roles match. Roles
// are "#attribute", "@id" or "#all" (alone); the semantic applies to both
// sides. Nothing is derived and stored per identity or service: who may
// reach what is worked out when asked (servicepolicy_eval.go), so a policy
// matching every identity costs one small write.
func (s *Server) servicePolicies() *Resource {
	return &Resource{
		Kind: fsm.KindServicePolicy, Path: "service-policies",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.ServicePolicyName},
			{Name: "type", Proto: "type", Type: Enum, Values: []string{policyDial, policyBind}, Required: Always, NotNull: true},
			{Name: "semantic", Proto: "semantic", Type: Enum, Values: []string{fsm.SemanticAllOf, fsm.SemanticAnyOf}, Required: Always, NotNull: true},
			{Name: "identityRoles", Proto: "identity_roles", Type: Strings, Index: fsm.ServicePolicyIdentityRoles},
			{Name: "serviceRoles", Proto: "service_roles", Type: Strings, Index: fsm.ServicePolicyServiceRoles},
			{Name: "postureCheckRoles", Proto: "posture_check_roles", Type: Strings, Index: fsm.ServicePolicyPostureRoles},
			{Name: "identityRolesDisplay", Type: Strings, Access: ReadOnly, NoFilter: true,
				Get: rolesDisplay(fsm.KindIdentity, func(p *pb.ServicePolicy) []string { return p.GetIdentityRoles() })},
			{Name: "serviceRolesDisplay", Type: Strings, Access: ReadOnly, NoFilter: true,
				Get: rolesDisplay(fsm.KindService, func(p *pb.ServicePolicy) []string { return p.GetServiceRoles() })},
			{Name: "postureCheckRolesDisplay", Type: Strings, Access: ReadOnly, NoFilter: true,
				Get: rolesDisplay("", func(p *pb.ServicePolicy) []string { return p.GetPostureCheckRoles() })},
		},
		Check: checkServicePolicy,
	}
}

// checkServicePolicy refuses malformed roles, #all beside other roles, and
// "@id" of an entity that does not exist, each 400 naming the field.
// Posture checks do not exist yet, so postureCheckRoles take attributes
// only.
func checkServicePolicy(w *Write) error {
	p := w.Body.(*pb.ServicePolicy)
	for _, side := range []struct {
		field, kind string
		roles       []string
	}{
		{"identityRoles", fsm.KindIdentity, p.GetIdentityRoles()},
		{"serviceRoles", fsm.KindService, p.GetServiceRoles()},
		{"postureCheckRoles", "", p.GetPostureCheckRoles()},
	} {
		if err := checkRoles(w.Reader, side.field, side.kind, side.roles); err != nil {
			return err
		}
	}
	return nil
}

// checkRoles checks one role list of a policy whose "@id" roles name
// entities of kind ("" for none).
func checkRoles(rd *fsm.Reader, field, kind string, roles []string) error {
	if len(roles) > maxPolicyRoles {
		return api.Invalid(field, fmt.Sprintf("at most %d roles", maxPolicyRoles), nil)
	}
	rs, err := fsm.ParseRoles(roles, "")
	if err != nil {
		return api.Invalid(field, err.Error(), roles)
	}
	if rs.All && len(roles) > 1 {
		return api.Invalid(field, "#all matches everything and cannot be combined with other roles", roles)
	}
	for id := range rs.IDs {
		if kind == "" {
			return api.Invalid(field, "names @"+id+", but there are no entities to name here yet; use #attributes", "@"+id)
		}
		if _, err := rd.Get(kind, id); errors.Is(err, fsm.ErrNotFound) {
			return api.Invalid(field, "no entity with id "+id+" exists", "@"+id)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// rolesDisplay renders a role list as the spec's namedRoles: "@id" with
// the entity's name, attributes and #all as themselves.
func rolesDisplay(kind string, roles func(*pb.ServicePolicy) []string) func(*fsm.Reader, *fsm.Record) any {
	return func(rd *fsm.Reader, rec *fsm.Record) any {
		out := []map[string]any{}
		for _, role := range roles(rec.Body.(*pb.ServicePolicy)) {
			name := role
			if ids := fsm.RoleIDs([]string{role}); kind != "" && len(ids) == 1 {
				if n := NameOf(rd, kind, ids[0]); n != "" {
					name = "@" + n
				}
			}
			out = append(out, map[string]any{"role": role, "name": name})
		}
		return out
	}
}

// Relations of service policies, for the sub-lists.

func policyIdentities(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
	roles, err := fsm.ParseRoles(rec.Body.(*pb.ServicePolicy).GetIdentityRoles(), rec.Body.(*pb.ServicePolicy).GetSemantic())
	if err != nil {
		return nil, err
	}
	return edge.MatchingIDs(rd, fsm.KindIdentity, fsm.IdentityRoleAttributes, roles, edge.IdentityAttrs)
}

func policyServices(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
	roles, err := fsm.ParseRoles(rec.Body.(*pb.ServicePolicy).GetServiceRoles(), rec.Body.(*pb.ServicePolicy).GetSemantic())
	if err != nil {
		return nil, err
	}
	return edge.MatchingIDs(rd, fsm.KindService, fsm.ServiceRoleAttributes, roles, edge.ServiceAttrs)
}

func policyIDs(policies []*edge.ServicePolicy, err error) ([]string, error) {
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(policies))
	for _, p := range policies {
		ids = append(ids, p.Record.ID)
	}
	return ids, nil
}

func identityServicePolicies(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
	return policyIDs(edge.IdentityServicePolicies(rd, rec))
}

func serviceServicePolicies(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
	return policyIDs(edge.ServiceServicePolicies(rd, rec))
}

func identityServices(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
	perms, err := edge.ServicePermissions(rd, rec)
	if err != nil {
		return nil, err
	}
	return slices.Sorted(maps.Keys(perms)), nil
}
