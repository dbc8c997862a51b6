package edge

import (
	"cmp"
	"maps"
	"slices"

	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Who may reach what is worked out when asked, from the role indexes of
// the policies and the role attribute indexes of the entities; nothing is
// stored per identity × service or identity × router. A policy can match
// an entity only through one of its roles: #all, "@" + its id, or "#" +
// one of its attributes, so the policies of an entity are found with a few
// index lookups and then checked against the policy's semantic.

// Entities describes one kind of entity that policies match.
type Entities struct {
	Kind string
	// Attrs indexes the entities' role attributes.
	Attrs fsm.Multi
	// AttrsOf reads an entity's role attributes.
	AttrsOf func(*fsm.Record) []string
	// Apart, when set, indexes (under the key "true") the entities of Kind
	// that no policy matches: transit routers among the routers.
	Apart fsm.Multi
}

// apart reports the ids no policy of ents may match.
func (ents Entities) apart(rd *fsm.Reader) (map[string]bool, error) {
	if ents.Apart == (fsm.Multi{}) {
		return nil, nil
	}
	ids, err := rd.IDsByIndex(ents.Apart, "true")
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// The kinds policies match.
var (
	Identities = Entities{Kind: fsm.KindIdentity, Attrs: fsm.IdentityRoleAttributes,
		AttrsOf: func(r *fsm.Record) []string { return r.Body.(*pb.Identity).GetRoleAttributes() }}
	Services = Entities{Kind: fsm.KindService, Attrs: fsm.ServiceRoleAttributes,
		AttrsOf: func(r *fsm.Record) []string { return r.Body.(*pb.Service).GetRoleAttributes() }}
	EdgeRouters = Entities{Kind: fsm.KindEdgeRouter, Attrs: fsm.EdgeRouterRoleAttributes,
		AttrsOf: func(r *fsm.Record) []string { return r.Body.(*pb.EdgeRouter).GetRoleAttributes() }, Apart: fsm.EdgeRouterTransit}
)

// Policies describes a policy kind: its semantic field.
type Policies struct {
	Kind     string
	Semantic func(proto.Message) string
}

// The policy kinds.
var (
	ServicePolicyKind = Policies{fsm.KindServicePolicy, func(m proto.Message) string { return m.(*pb.ServicePolicy).GetSemantic() }}
	RouterPolicyKind  = Policies{fsm.KindEdgeRouterPolicy, func(m proto.Message) string { return m.(*pb.EdgeRouterPolicy).GetSemantic() }}
	ServiceRouterKind = Policies{fsm.KindServiceEdgeRouterPolicy, func(m proto.Message) string {
		return m.(*pb.ServiceEdgeRouterPolicy).GetSemantic()
	}}
)

// roles parses one side of a policy.
func (p Policies) roles(rec *fsm.Record, side fsm.PolicySide) (*fsm.Roles, error) {
	return fsm.ParseRoles(side.Get(rec.Body), p.Semantic(rec.Body))
}

// Matching are the policies of kind p whose side matches entity (of ents).
func (p Policies) Matching(rd *fsm.Reader, side fsm.PolicySide, ents Entities, entity *fsm.Record) ([]*fsm.Record, error) {
	if apart, err := ents.apart(rd); err != nil || apart[entity.ID] {
		return nil, err
	}
	attrs := ents.AttrsOf(entity)
	keys := []string{fsm.RoleAll, "@" + entity.ID}
	for _, a := range attrs {
		keys = append(keys, "#"+a)
	}
	seen := map[string]bool{}
	var out []*fsm.Record
	for _, key := range keys {
		ids, err := rd.IDsByIndex(side.Roles, key)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			if seen[id] {
				continue
			}
			seen[id] = true
			rec, err := rd.Get(p.Kind, id)
			if err != nil {
				return nil, err
			}
			roles, err := p.roles(rec, side)
			if err != nil {
				return nil, err
			}
			if roles.Matches(entity.ID, attrs) {
				out = append(out, rec)
			}
		}
	}
	slices.SortFunc(out, func(a, b *fsm.Record) int { return cmp.Compare(a.ID, b.ID) })
	return out, nil
}

// Matched are the ids of the entities (of ents) that side of policy rec
// matches: through the entities' attribute index and the "@" ids, or all
// of them for #all.
func (p Policies) Matched(rd *fsm.Reader, rec *fsm.Record, side fsm.PolicySide, ents Entities) ([]string, error) {
	roles, err := p.roles(rec, side)
	if err != nil {
		return nil, err
	}
	apart, err := ents.apart(rd)
	if err != nil {
		return nil, err
	}
	var out []string
	if roles.All {
		ids, err := rd.IDs(ents.Kind)
		return slices.DeleteFunc(ids, func(id string) bool { return apart[id] }), err
	}
	cands := map[string]bool{}
	for id := range roles.IDs {
		cands[id] = true
	}
	// With AnyOf or a single attribute role, an entity the attribute index
	// gives matches without reading it; only AllOf of several attributes
	// needs the entity's attributes.
	sure := map[string]bool{}
	for _, a := range roles.Attrs {
		ids, err := rd.IDsByIndex(ents.Attrs, a)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			cands[id] = true
			if roles.AnyOf || len(roles.Attrs) == 1 {
				sure[id] = true
			}
		}
	}
	for id := range cands {
		if apart[id] {
			continue
		}
		if sure[id] {
			out = append(out, id)
			continue
		}
		r, err := rd.Get(ents.Kind, id)
		if err != nil {
			continue // an "@" id of an entity that is gone
		}
		if roles.Matches(id, ents.AttrsOf(r)) {
			out = append(out, id)
		}
	}
	slices.Sort(out)
	return out, nil
}

// Reached are the ids of the entities (of to) that the policies matching
// entity (of from, through side from) match on their side to: the services
// of an identity, the routers of a service.
func (p Policies) Reached(rd *fsm.Reader, entity *fsm.Record, from fsm.PolicySide, fromEnts Entities, to fsm.PolicySide, toEnts Entities) ([]string, error) {
	policies, err := p.Matching(rd, from, fromEnts, entity)
	if err != nil {
		return nil, err
	}
	set := map[string]bool{}
	for _, pol := range policies {
		ids, err := p.Matched(rd, pol, to, toEnts)
		if err != nil {
			return nil, err
		}
		for _, id := range ids {
			set[id] = true
		}
	}
	return slices.Sorted(maps.Keys(set)), nil
}

// ServicePermissions maps the ids of the services identity may reach to
// its permissions on each ("Bind", "Dial", sorted), whatever its posture.
func ServicePermissions(rd *fsm.Reader, identity *fsm.Record) (map[string][]string, error) {
	perms, _, err := ServiceAccess(rd, identity, "")
	return perms, err
}

// IdentityRouters are the ids of the edge routers identity may use.
func IdentityRouters(rd *fsm.Reader, identity *fsm.Record) ([]string, error) {
	s := fsm.EdgeRouterPolicySides
	return RouterPolicyKind.Reached(rd, identity, s.Identities, Identities, s.EdgeRouters, EdgeRouters)
}

// ServiceRouters are the ids of the edge routers service may be reached
// through.
func ServiceRouters(rd *fsm.Reader, service *fsm.Record) ([]string, error) {
	s := fsm.ServiceEdgeRouterPolicySides
	return ServiceRouterKind.Reached(rd, service, s.Services, Services, s.EdgeRouters, EdgeRouters)
}

// CommonRouters are the ids of the edge routers both identity's edge-router
// policies (mine) and service's service edge-router policies (theirs)
// allow, with the two sets they come from.
func CommonRouters(rd *fsm.Reader, identity, service *fsm.Record) (common, mine, theirs []string, err error) {
	if mine, err = IdentityRouters(rd, identity); err != nil {
		return nil, nil, nil, err
	}
	if theirs, err = ServiceRouters(rd, service); err != nil {
		return nil, nil, nil, err
	}
	common = slices.DeleteFunc(slices.Clone(mine), func(id string) bool { return !slices.Contains(theirs, id) })
	return common, mine, theirs, nil
}
