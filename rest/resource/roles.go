package resource

import (
	"fmt"
	"net/http"

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
		return Scope{Keep: func(rec *fsm.Record) bool { return rf.Matches(rec.ID, attrs(rec)) }}, nil
	}
}

// maxRoles bounds the roles of one request; each is matched per entity.
const maxRoles = 100

// parseRoleFilter is OpenZiti's roleFilter/roleSemantic pair of a list
// query (fsm.Roles), bounded and checked as outside input.
func parseRoleFilter(roles []string, semantic string) (*fsm.Roles, error) {
	if len(roles) > maxRoles {
		return nil, fmt.Errorf("at most %d roles may be given", maxRoles)
	}
	for _, role := range roles {
		if bad := api.BadText(role); bad != "" {
			return nil, fmt.Errorf("role %q %s", role, bad)
		}
	}
	return fsm.ParseRoles(roles, semantic)
}

// Within narrows a resource's scope (nil: none) to the records keep
// accepts: one kind serving several collections (edge and transit routers).
func Within(scope func(r *http.Request) (Scope, error), keep func(rec *fsm.Record) bool) func(r *http.Request) (Scope, error) {
	return func(r *http.Request) (Scope, error) {
		sc := Scope{}
		if scope != nil {
			var err error
			if sc, err = scope(r); err != nil {
				return sc, err
			}
		}
		if prev := sc.Keep; prev != nil {
			sc.Keep = func(rec *fsm.Record) bool { return keep(rec) && prev(rec) }
		} else {
			sc.Keep = keep
		}
		return sc, nil
	}
}
