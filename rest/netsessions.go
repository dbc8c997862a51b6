package rest

import (
	"net/http"
	"slices"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Error codes of network session creation, as OpenZiti answers them.
const (
	codeNoEdgeRouters      = "NO_EDGE_ROUTERS_AVAILABLE"
	codeInvalidSessionType = "INVALID_SESSION_TYPE"
	codeInvalidPosture     = "INVALID_POSTURE"
)

// netSessions declares /sessions of the management API: every network
// session, for admins. Sessions are made only by their identity (client
// POST /sessions); they end with their API session or their service.
func (s *Server) netSessions() *Resource {
	return &Resource{
		Kind: fsm.KindSession, Path: "sessions",
		Fields: []Field{
			{Name: "type", Proto: "type", Type: Enum, Values: []string{"Dial", "Bind"}, Access: ReadOnly},
			{Name: "apiSessionId", Proto: "api_session_id", Type: Ref, RefKind: fsm.KindApiSession, RefPath: "api-sessions",
				RefName: "apiSession", Access: ReadOnly, Index: fsm.SessionApiSession},
			{Name: "serviceId", Proto: "service_id", Type: Ref, RefKind: fsm.KindService, RefPath: "services",
				RefName: "service", Access: ReadOnly, Index: fsm.SessionService},
			{Name: "identityId", Proto: "identity_id", Type: String, Access: ReadOnly},
			{Name: "token", Proto: "token", Type: String, Access: ReadOnly, Index: fsm.SessionToken},
			{Name: "edgeRouters", Type: Strings, Access: ReadOnly, NoFilter: true, Get: s.sessionRouters},
		},
	}
}

// ownSessions is the client API's /sessions: the caller's API session's.
func (s *Server) ownSessions() *Resource {
	res := s.netSessions()
	res.Scope = func(r *http.Request) (Scope, error) {
		return Scope{By: fsm.SessionApiSession, Key: callerOf(r).session.ID}, nil
	}
	return res
}

// sessionRouters renders the edge routers a session may use: those both
// its identity's and its service's policies allow, as they are now.
func (s *Server) sessionRouters(rd *fsm.Reader, rec *fsm.Record) any {
	out := []map[string]any{}
	sess := rec.Body.(*pb.Session)
	ids, err := sharedRouters(rd, sess.GetIdentityId(), sess.GetServiceId())
	if err != nil {
		return out
	}
	view := s.clientRouters()
	for _, id := range ids {
		r, err := rd.Get(fsm.KindEdgeRouter, id)
		if err != nil {
			continue
		}
		d, err := view.RenderRecord(rd, r)
		if err != nil {
			continue
		}
		d["urls"] = map[string]any{} // no data plane: no listeners
		out = append(out, d)
	}
	return out
}

// sharedRouters are the routers both identity's edge-router policies and
// service's service edge-router policies allow.
func sharedRouters(rd *fsm.Reader, identityID, serviceID string) ([]string, error) {
	ident, err := rd.Get(fsm.KindIdentity, identityID)
	if err != nil {
		return nil, err
	}
	svc, err := rd.Get(fsm.KindService, serviceID)
	if err != nil {
		return nil, err
	}
	common, _, _, err := edge.CommonRouters(rd, ident, svc)
	return common, err
}

// createSession answers the client's POST /sessions {serviceId, type}: a
// network session for a service the caller may reach with that permission,
// through routers both its and the service's policies allow. Unknown or
// unreachable service 404; a type the caller lacks 400; no shared router
// 400 NO_EDGE_ROUTERS_AVAILABLE. One replicated create.
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) error {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	serviceID, _, aerr := in.String("serviceId")
	if aerr != nil {
		return aerr
	}
	if serviceID == "" {
		return api.Invalid("serviceId", "is required", nil)
	}
	typ, _, aerr := in.String("type")
	if aerr != nil {
		return aerr
	}
	switch typ {
	case "":
		typ = "Dial"
	case "Dial", "Bind":
	default:
		return api.Invalid("type", "must be Dial or Bind", typ)
	}
	tags, _, aerr := in.Tags("tags")
	if aerr != nil {
		return aerr
	}
	c := callerOf(r)
	var refusal *postureRefusal
	err := s.store.View(func(rd *fsm.Reader) error {
		g, err := reachableService(rd, c.identity.ID, c.session.ID, serviceID)
		if err != nil {
			return err
		}
		if !slices.Contains(g.perms, typ) {
			return &api.Error{Status: http.StatusBadRequest, Code: codeInvalidSessionType,
				Message: "The identity may not " + typ + " this service"}
		}
		// Some policy granting this type must pass its posture checks.
		if !slices.ContainsFunc(g.posture, func(pp edge.PolicyPosture) bool {
			return pp.IsPassing && pp.Policy.Body.(*pb.ServicePolicy).GetType() == typ
		}) {
			if refusal, err = newPostureRefusal(rd, g, c.session.ID, typ); err != nil {
				return err
			}
			return &api.Error{Status: http.StatusConflict, Code: codeInvalidPosture,
				Message: "The posture checks of the policies granting " + typ + " on this service do not pass"}
		}
		routers, _, _, err := edge.CommonRouters(rd, g.ident, g.svc)
		if err != nil {
			return err
		}
		if len(routers) == 0 {
			return &api.Error{Status: http.StatusBadRequest, Code: codeNoEdgeRouters,
				Message: "No edge router both the identity's and the service's edge router policies allow"}
		}
		return nil
	})
	if refusal != nil {
		// Kept for GET /identities/{id}/failed-service-requests; the
		// caller's answer stays the refusal whatever happens to the record.
		if rerr := s.recordPostureRefusal(r, refusal); rerr != nil {
			s.log.Warn("could not record a posture refusal", "identity", refusal.identityID, "err", rerr)
		}
	}
	if err != nil {
		return api.NotFoundOr(err)
	}
	id := s.newID(r)
	op, err := fsm.CreateOp(fsm.KindSession, id, &pb.Session{
		ApiSessionId: c.session.ID, IdentityId: c.identity.ID, ServiceId: serviceID, Type: typ, Token: uuid.NewString(),
	}, tags)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	var out map[string]any
	err = s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindSession, id)
		if err != nil {
			return err
		}
		out, err = s.res.ownSessions.RenderRecord(rd, rec)
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	api.WriteData(w, http.StatusCreated, out, api.Meta{})
	return nil
}

// sessionRoutePath answers GET /sessions/{id}/route-path: the routers of
// the session's circuit. There is no data plane, hence no circuit: an
// existing session's path is empty.
func (s *Server) sessionRoutePath(w http.ResponseWriter, r *http.Request) error {
	err := s.store.View(func(rd *fsm.Reader) error {
		_, err := rd.Get(fsm.KindSession, mux.Vars(r)["id"])
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, map[string]any{"routePath": []string{}}, api.Meta{})
	return nil
}
