package edge

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Who may reach what is worked out when asked, from the role indexes of
// the policies and the role attribute indexes of the entities; nothing is
// stored per identity × service. A policy can match an entity only through
// one of its roles: #all, "@" + its id, or "#" + one of its attributes, so
// the policies of an identity are found with a few index lookups and then
// checked against the policy's semantic.

// ServicePolicy is a stored service policy with its parsed roles.
type ServicePolicy struct {
	Record     *fsm.Record
	Policy     *pb.ServicePolicy
	Identities *fsm.Roles
	Services   *fsm.Roles
}

func parseServicePolicy(rec *fsm.Record) (*ServicePolicy, error) {
	p, ok := fsm.As[*pb.ServicePolicy](rec)
	if !ok {
		return nil, fmt.Errorf("service policy %s: unexpected body %T", rec.ID, rec.Body)
	}
	ids, err := fsm.ParseRoles(p.GetIdentityRoles(), p.GetSemantic())
	if err != nil {
		return nil, fmt.Errorf("service policy %s: %w", rec.ID, err)
	}
	svcs, err := fsm.ParseRoles(p.GetServiceRoles(), p.GetSemantic())
	if err != nil {
		return nil, fmt.Errorf("service policy %s: %w", rec.ID, err)
	}
	return &ServicePolicy{Record: rec, Policy: p, Identities: ids, Services: svcs}, nil
}

// roleKeys are the roles through which an entity can be matched.
func roleKeys(id string, attrs []string) []string {
	keys := []string{fsm.RoleAll, "@" + id}
	for _, a := range attrs {
		keys = append(keys, "#"+a)
	}
	return keys
}

// policiesByRoles loads the policies whose index ix holds one of keys.
func policiesByRoles(rd *fsm.Reader, ix fsm.Multi, keys []string) ([]*ServicePolicy, error) {
	seen := map[string]bool{}
	var out []*ServicePolicy
	for _, key := range keys {
		ids, err := rd.IDsByIndex(ix, key)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			rec, err := rd.Get(fsm.KindServicePolicy, id)
			if err != nil {
				return nil, err
			}
			sp, err := parseServicePolicy(rec)
			if err != nil {
				return nil, err
			}
			out = append(out, sp)
		}
	}
	slices.SortFunc(out, func(a, b *ServicePolicy) int { return cmp.Compare(a.Record.ID, b.Record.ID) })
	return out, nil
}

// IdentityServicePolicies are the service policies that match identity.
func IdentityServicePolicies(rd *fsm.Reader, identity *fsm.Record) ([]*ServicePolicy, error) {
	attrs := identity.Body.(*pb.Identity).GetRoleAttributes()
	cands, err := policiesByRoles(rd, fsm.ServicePolicyIdentityRoles, roleKeys(identity.ID, attrs))
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cands, func(sp *ServicePolicy) bool { return !sp.Identities.Matches(identity.ID, attrs) }), nil
}

// ServiceServicePolicies are the service policies that match service.
func ServiceServicePolicies(rd *fsm.Reader, service *fsm.Record) ([]*ServicePolicy, error) {
	attrs := service.Body.(*pb.Service).GetRoleAttributes()
	cands, err := policiesByRoles(rd, fsm.ServicePolicyServiceRoles, roleKeys(service.ID, attrs))
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(cands, func(sp *ServicePolicy) bool { return !sp.Services.Matches(service.ID, attrs) }), nil
}

// MatchingIDs are the ids of the entities of kind that roles match, found
// through the kind's role attribute index (attrIndex) and the "@" ids,
// or by a scan for #all.
func MatchingIDs(rd *fsm.Reader, kind string, attrIndex fsm.Multi, roles *fsm.Roles, attrsOf func(*fsm.Record) []string) ([]string, error) {
	var out []string
	if roles.All {
		err := rd.ForEach(kind, func(rec *fsm.Record) error {
			out = append(out, rec.ID)
			return nil
		})
		return out, err
	}
	cands := map[string]bool{}
	for id := range roles.IDs {
		cands[id] = true
	}
	for _, a := range roles.Attrs {
		ids, err := rd.IDsByIndex(attrIndex, a)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			cands[id] = true
		}
	}
	for id := range cands {
		rec, err := rd.Get(kind, id)
		if err != nil {
			continue // an "@" id of an entity that is gone
		}
		if roles.Matches(id, attrsOf(rec)) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// ServiceAttrs reads a service's role attributes.
func ServiceAttrs(rec *fsm.Record) []string { return rec.Body.(*pb.Service).GetRoleAttributes() }

// IdentityAttrs reads an identity's role attributes.
func IdentityAttrs(rec *fsm.Record) []string { return rec.Body.(*pb.Identity).GetRoleAttributes() }

// ServicePermissions maps the ids of the services identity may reach to
// its permissions on each ("Bind", "Dial", sorted).
func ServicePermissions(rd *fsm.Reader, identity *fsm.Record) (map[string][]string, error) {
	policies, err := IdentityServicePolicies(rd, identity)
	if err != nil {
		return nil, err
	}
	out := map[string][]string{}
	for _, sp := range policies {
		ids, err := MatchingIDs(rd, fsm.KindService, fsm.ServiceRoleAttributes, sp.Services, ServiceAttrs)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if !slices.Contains(out[id], sp.Policy.GetType()) {
				out[id] = append(out[id], sp.Policy.GetType())
				slices.Sort(out[id])
			}
		}
	}
	return out, nil
}
