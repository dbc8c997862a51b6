package fsm

import (
	"fmt"
	"strings"
)

// Roles is a parsed list of OpenZiti roles, as policies and role filters
// use them: "@id" names an entity, "#attr" a role attribute and "#all"
// every entity. An entity matches if it is named, or if its attributes
// satisfy the semantic: all of the attribute roles (AllOf) or at least one
// (AnyOf). With no attribute roles only named entities match.
type Roles struct {
	All   bool
	IDs   map[string]bool
	Attrs []string
	AnyOf bool
}

// Role semantics, as OpenZiti spells them.
const (
	SemanticAllOf = "AllOf"
	SemanticAnyOf = "AnyOf"
)

// ParseRoles parses roles under semantic ("" is AllOf). Every role must be
// "#all", "#attr" or "@id" with a non-empty name.
func ParseRoles(roles []string, semantic string) (*Roles, error) {
	rs := &Roles{IDs: map[string]bool{}}
	switch semantic {
	case "", SemanticAllOf:
	case SemanticAnyOf:
		rs.AnyOf = true
	default:
		return nil, fmt.Errorf("semantic must be %s or %s, not %q", SemanticAllOf, SemanticAnyOf, semantic)
	}
	for _, role := range roles {
		switch {
		case role == RoleAll:
			rs.All = true
		case strings.HasPrefix(role, "#") && len(role) > 1:
			rs.Attrs = append(rs.Attrs, role[1:])
		case strings.HasPrefix(role, "@") && len(role) > 1:
			rs.IDs[role[1:]] = true
		default:
			return nil, fmt.Errorf("role %q must start with # (attribute) or @ (id)", role)
		}
	}
	return rs, nil
}

// Matches reports whether the entity id with role attributes attrs matches.
func (rs *Roles) Matches(id string, attrs []string) bool {
	if rs.All || rs.IDs[id] {
		return true
	}
	if len(rs.Attrs) == 0 {
		return false
	}
	have := make(map[string]bool, len(attrs))
	for _, a := range attrs {
		have[a] = true
	}
	for _, a := range rs.Attrs {
		if have[a] == rs.AnyOf {
			return rs.AnyOf
		}
	}
	return !rs.AnyOf
}
