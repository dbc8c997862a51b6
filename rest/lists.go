package rest

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// The list endpoints: each is a listSpec handed to Server.list.

var identityList = &listSpec{
	kind: fsm.KindIdentity,
	fields: map[string]query.FieldType{
		"name": query.String, "type": query.String, "typeId": query.String, "isAdmin": query.Bool,
		"isDefaultAdmin": query.Bool, "roleAttributes": query.StringSet, "externalId": query.String,
		"disabled": query.Bool, "authPolicyId": query.String, "defaultHostingCost": query.Number,
	},
	value: func(rec *fsm.Record, f string) (any, bool) {
		i, _ := fsm.As[*pb.Identity](rec)
		switch f {
		case "name":
			return i.GetName(), true
		case "type", "typeId":
			if i.GetTypeId() == "" {
				return "Default", true
			}
			return i.GetTypeId(), true
		case "isAdmin":
			return i.GetIsAdmin(), true
		case "isDefaultAdmin":
			return i.GetIsDefaultAdmin(), true
		case "roleAttributes":
			return i.GetRoleAttributes(), true
		case "externalId":
			if i.GetExternalId() == "" {
				return nil, false
			}
			return i.GetExternalId(), true
		case "disabled":
			return i.GetDisabled(), true
		case "authPolicyId":
			return defaultAuthPolicyID, true
		case "defaultHostingCost":
			return i.GetDefaultHostingCost(), true
		}
		return nil, false
	},
	indexes: map[string]fsm.IndexRef{"name": fsm.IdentityName, "roleAttributes": fsm.IdentityRoleAttributes, "externalId": fsm.IdentityExternalID},
	render: func(rd *fsm.Reader, rec *fsm.Record) map[string]any {
		i, _ := fsm.As[*pb.Identity](rec)
		d, err := renderIdentity(rd, rec, i)
		if err != nil {
			return baseEntity(rec, "identities")
		}
		return d
	},
}

func authenticatorListSpec(keep func(*fsm.Record) bool) *listSpec {
	return &listSpec{
		kind: fsm.KindAuthenticator,
		fields: map[string]query.FieldType{
			"method": query.String, "identityId": query.String, "username": query.String, "fingerprint": query.String,
		},
		value: func(rec *fsm.Record, f string) (any, bool) {
			a, _ := fsm.As[*pb.Authenticator](rec)
			switch f {
			case "method":
				return a.GetMethod(), true
			case "identityId":
				return a.GetIdentityId(), true
			case "username":
				return a.GetUsername(), a.GetUsername() != ""
			case "fingerprint":
				return a.GetFingerprint(), a.GetFingerprint() != ""
			}
			return nil, false
		},
		indexes: map[string]fsm.IndexRef{"identityId": fsm.AuthenticatorIdentity, "username": fsm.AuthenticatorUsername, "fingerprint": fsm.AuthenticatorFingerprint},
		keep:    keep,
		render: func(rd *fsm.Reader, rec *fsm.Record) map[string]any {
			a, _ := fsm.As[*pb.Authenticator](rec)
			return renderAuthenticator(rd, rec, a)
		},
	}
}

var apiSessionList = &listSpec{
	kind: fsm.KindApiSession,
	fields: map[string]query.FieldType{
		"identityId": query.String, "ipAddress": query.String, "authenticatorId": query.String, "lastActivityAt": query.Datetime,
	},
	value: func(rec *fsm.Record, f string) (any, bool) {
		s, _ := fsm.As[*pb.ApiSession](rec)
		switch f {
		case "identityId":
			return s.GetIdentityId(), true
		case "ipAddress":
			return s.GetIpAddress(), true
		case "authenticatorId":
			return s.GetAuthenticatorId(), true
		case "lastActivityAt":
			return nanosTime(s.GetLastActivityAt()), true
		}
		return nil, false
	},
	indexes: map[string]fsm.IndexRef{"identityId": fsm.ApiSessionIdentity},
	render:  sessionView,
}

func (s *Server) controllerList() *listSpec {
	return &listSpec{
		kind:   fsm.KindController,
		fields: map[string]query.FieldType{"name": query.String, "ctrlAddress": query.String, "isOnline": query.Bool},
		value: func(rec *fsm.Record, f string) (any, bool) {
			c, _ := fsm.As[*pb.Controller](rec)
			switch f {
			case "name":
				return c.GetName(), true
			case "ctrlAddress":
				return c.GetCtrlAddress(), true
			case "isOnline":
				return s.node.Online(rec.ID), true
			}
			return nil, false
		},
		indexes: map[string]fsm.IndexRef{"name": fsm.ControllerName},
		render: func(_ *fsm.Reader, rec *fsm.Record) map[string]any {
			c, _ := fsm.As[*pb.Controller](rec)
			return s.renderController(rec, c)
		},
	}
}

func (s *Server) routeLists(mgmt, client *mux.Router) {
	mgmt.Handle("/identities", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return s.list(w, r, identityList)
	}))).Methods(http.MethodGet)
	mgmt.Handle("/authenticators", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return s.list(w, r, authenticatorListSpec(nil))
	}))).Methods(http.MethodGet)
	mgmt.Handle("/identities/{id}/authenticators", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if _, _, aerr := s.loadIdentity(r); aerr != nil {
			return aerr
		}
		id := mux.Vars(r)["id"]
		spec := authenticatorListSpec(func(rec *fsm.Record) bool {
			a, _ := fsm.As[*pb.Authenticator](rec)
			return a.GetIdentityId() == id
		})
		spec.noQuery = true // the spec gives this endpoint no filter or paging
		return s.list(w, r, spec)
	}))).Methods(http.MethodGet)
	mgmt.Handle("/api-sessions", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return s.list(w, r, apiSessionList)
	}))).Methods(http.MethodGet)
	mgmt.Handle("/identity-role-attributes", s.admin(api.Handle(s.listRoleAttributes))).Methods(http.MethodGet)
	for _, router := range []*mux.Router{mgmt, client} {
		router.Handle("/controllers", s.authenticated(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
			return s.list(w, r, s.controllerList())
		}))).Methods(http.MethodGet)
		router.Handle("/current-identity/authenticators", s.authenticated(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
			me := callerOf(r).identity.ID
			return s.list(w, r, authenticatorListSpec(func(rec *fsm.Record) bool {
				a, _ := fsm.As[*pb.Authenticator](rec)
				return a.GetIdentityId() == me
			}))
		}))).Methods(http.MethodGet)
	}
}

// listRoleAttributes lists the distinct role attributes of all identities,
// straight from the role attribute index.
func (s *Server) listRoleAttributes(w http.ResponseWriter, r *http.Request) error {
	q, err := query.Parse(r.URL.Query().Get("filter"))
	if err != nil {
		return errFilter(err)
	}
	if err := q.Validate(map[string]query.FieldType{"id": query.String}); err != nil {
		return errFilter(err)
	}
	offset, limit, aerr := pageParams(r, q)
	if aerr != nil {
		return aerr
	}
	var all []string
	err = s.store.View(func(rd *fsm.Reader) error {
		keys, _, err := rd.Keys(fsm.IdentityRoleAttributes, 0, -1)
		all = keys
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	var matched []string
	for _, k := range all {
		if ok, err := q.Match(roleRecord(k)); err != nil {
			return errFilter(err)
		} else if ok {
			matched = append(matched, k)
		}
	}
	page := []string{}
	for i := offset; i < int64(len(matched)) && i < offset+limit; i++ {
		page = append(page, matched[i])
	}
	api.WriteData(w, http.StatusOK, page, api.Meta{
		Pagination:       &api.Pagination{Limit: limit, Offset: offset, TotalCount: int64(len(matched))},
		FilterableFields: []string{"id"},
	})
	return nil
}

type roleRecord string

func (r roleRecord) Field(name string) (any, bool) {
	if name == "id" {
		return string(r), true
	}
	return nil, false
}
