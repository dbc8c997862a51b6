package rest

import (
	"errors"
	"fmt"
	"strings"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// What the three policy kinds share: a name, a semantic, role lists
// ("#attribute", "@id", "#all" alone) with their display lists, and the
// checks of the roles. Nothing is derived and stored per pair of entities:
// who may reach what is worked out when asked (internal/edge/reach.go), so
// a policy matching every identity costs one small write.

// maxPolicyRoles bounds each role list of a policy.
const maxPolicyRoles = 100

// policy declares a policy resource: its kind, path and name index, the
// fields only it has, and its role lists.
func policy(kind, path string, name fsm.Unique, extra []Field, sides ...fsm.PolicySide) *Resource {
	fields := []Field{
		{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: name},
		{Name: "semantic", Proto: "semantic", Type: Enum, Values: []string{fsm.SemanticAllOf, fsm.SemanticAnyOf}, Required: Always, NotNull: true},
	}
	fields = append(fields, extra...)
	for _, side := range sides {
		fields = append(fields,
			Field{Name: side.Field, Proto: protoName(side.Field), Type: Strings, Index: side.Roles},
			Field{Name: side.Field + "Display", Type: Strings, Access: ReadOnly, NoFilter: true, Get: rolesDisplay(side)})
	}
	return &Resource{Kind: kind, Path: path, Fields: fields, Check: func(w *Write) error {
		for _, side := range sides {
			if err := checkRoles(w.Reader, side, side.Get(w.Body)); err != nil {
				return err
			}
		}
		return nil
	}}
}

// protoName is the protobuf field of a role list ("identityRoles" →
// "identity_roles").
func protoName(field string) string {
	var b strings.Builder
	for _, r := range field {
		if r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
			r += 'a' - 'A'
		}
		b.WriteRune(r)
	}
	return b.String()
}

// checkRoles refuses malformed roles, #all beside other roles, and "@id"
// of an entity that does not exist (or of any entity on a side with none
// yet), each 400 naming the field.
func checkRoles(rd *fsm.Reader, side fsm.PolicySide, roles []string) error {
	if len(roles) > maxPolicyRoles {
		return api.Invalid(side.Field, fmt.Sprintf("at most %d roles", maxPolicyRoles), nil)
	}
	rs, err := fsm.ParseRoles(roles, "")
	if err != nil {
		return api.Invalid(side.Field, err.Error(), roles)
	}
	if rs.All && len(roles) > 1 {
		return api.Invalid(side.Field, "#all matches everything and cannot be combined with other roles", roles)
	}
	for id := range rs.IDs {
		if side.Target == "" {
			return api.Invalid(side.Field, "names @"+id+", but there are no entities to name here yet; use #attributes", "@"+id)
		}
		rec, err := rd.Get(side.Target, id)
		if errors.Is(err, fsm.ErrNotFound) {
			return api.Invalid(side.Field, "no entity with id "+id+" exists", "@"+id)
		} else if err != nil {
			return err
		}
		// Transit routers share the edge routers' kind; no policy
		// reaches them.
		if r, ok := rec.Body.(*pb.EdgeRouter); ok && r.GetTransit() {
			return api.Invalid(side.Field, id+" is a transit router; policies name edge routers", "@"+id)
		}
	}
	return nil
}

// rolesDisplay renders a role list as the spec's namedRoles: "@id" with
// the entity's name, attributes and #all as themselves.
func rolesDisplay(side fsm.PolicySide) func(*fsm.Reader, *fsm.Record) any {
	return func(rd *fsm.Reader, rec *fsm.Record) any {
		out := []map[string]any{}
		for _, role := range side.Get(rec.Body) {
			name := role
			if ids := fsm.RoleIDs([]string{role}); side.Target != "" && len(ids) == 1 {
				if n := NameOf(rd, side.Target, ids[0]); n != "" {
					name = "@" + n
				}
			}
			out = append(out, map[string]any{"role": role, "name": name})
		}
		return out
	}
}

// matched lists the entities (of ents) that side of a policy matches: a
// policy's identities, services or routers.
func matched(p edge.Policies, side fsm.PolicySide, ents edge.Entities) func(*fsm.Reader, *fsm.Record) ([]string, error) {
	return func(rd *fsm.Reader, rec *fsm.Record) ([]string, error) { return p.Matched(rd, rec, side, ents) }
}

// matching lists the policies of p whose side matches an entity (of ents).
func matching(p edge.Policies, side fsm.PolicySide, ents edge.Entities) func(*fsm.Reader, *fsm.Record) ([]string, error) {
	return func(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
		recs, err := p.Matching(rd, side, ents, rec)
		ids := make([]string, 0, len(recs))
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		return ids, err
	}
}

// reached lists what an entity reaches through policies of p: from its
// side to the other.
func reached(p edge.Policies, from fsm.PolicySide, fromEnts edge.Entities, to fsm.PolicySide, toEnts edge.Entities) func(*fsm.Reader, *fsm.Record) ([]string, error) {
	return func(rd *fsm.Reader, rec *fsm.Record) ([]string, error) {
		return p.Reached(rd, rec, from, fromEnts, to, toEnts)
	}
}
