package resource

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// RoleScope is OpenZiti's roleFilter/roleSemantic query of a list (edge
// routers, and the policy model's entities): attrs reads an entity's role
// attributes. Without a roleFilter the scope keeps everything.
func RoleScope(attrs func(rec *fsm.Record) []string) func(r *http.Request) (Scope, error) {
	return func(r *http.Request) (Scope, error) {
		q := r.URL.Query()
		if len(q["roleFilter"]) == 0 {
			return Scope{}, nil
		}
		rf, err := parseRoleFilter(q["roleFilter"], q.Get("roleSemantic"))
		if err != nil {
			return Scope{}, &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidFilter,
				Message: "The role filter is invalid", CauseMessage: err.Error()}
		}
		return Scope{Keep: func(rec *fsm.Record) bool { return rf.matches(rec.ID, attrs(rec)) }}, nil
	}
}

// Role semantics, as OpenZiti spells them.
const (
	semanticAllOf = "AllOf"
	semanticAnyOf = "AnyOf"
)

// roleFilter is OpenZiti's roleFilter/roleSemantic pair: "@id" names an
// entity, "#attr" a role attribute and "#all" every entity. An entity is
// kept if it is named, or if its attributes satisfy the semantic: all of
// the attributes (AllOf, the default) or at least one (AnyOf).
type roleFilter struct {
	all   bool
	ids   map[string]bool
	attrs []string
	anyOf bool
}

// maxRoles bounds the roles of one request; each is matched per entity.
const maxRoles = 100

func parseRoleFilter(roles []string, semantic string) (*roleFilter, error) {
	rf := &roleFilter{ids: map[string]bool{}}
	switch semantic {
	case "", semanticAllOf:
	case semanticAnyOf:
		rf.anyOf = true
	default:
		return nil, fmt.Errorf("roleSemantic must be %s or %s, not %q", semanticAllOf, semanticAnyOf, semantic)
	}
	if len(roles) > maxRoles {
		return nil, fmt.Errorf("at most %d roles may be given", maxRoles)
	}
	for _, role := range roles {
		if bad := api.BadText(role); bad != "" {
			return nil, fmt.Errorf("role %q %s", role, bad)
		}
		switch {
		case role == "#all":
			rf.all = true
		case strings.HasPrefix(role, "#") && len(role) > 1:
			rf.attrs = append(rf.attrs, role[1:])
		case strings.HasPrefix(role, "@") && len(role) > 1:
			rf.ids[role[1:]] = true
		default:
			return nil, fmt.Errorf("role %q must start with # (attribute) or @ (id)", role)
		}
	}
	return rf, nil
}

func (rf *roleFilter) matches(id string, attrs []string) bool {
	if rf.all || rf.ids[id] {
		return true
	}
	if len(rf.attrs) == 0 {
		return false
	}
	have := map[string]bool{}
	for _, a := range attrs {
		have[a] = true
	}
	for _, a := range rf.attrs {
		if have[a] == rf.anyOf {
			return rf.anyOf
		}
	}
	return !rf.anyOf
}
