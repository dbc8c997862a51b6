package rest

import (
	"net/http"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

func (s *Server) routeAPISessions(mgmt *mux.Router) {
	mgmt.Handle("/api-sessions/{id}", s.admin(api.Handle(s.getAPISession))).Methods(http.MethodGet)
	mgmt.Handle("/api-sessions/{id}", s.admin(api.Handle(s.deleteAPISession))).Methods(http.MethodDelete)
	mgmt.Handle("/summary", s.admin(api.Handle(s.summary))).Methods(http.MethodGet)
}

// sessionView renders a session with its identity's name from rd.
func sessionView(rd *fsm.Reader, rec *fsm.Record) map[string]any {
	sess, _ := fsm.As[*pb.ApiSession](rec)
	name := ""
	if irec, err := rd.Get(fsm.KindIdentity, sess.GetIdentityId()); err == nil {
		ident, _ := fsm.As[*pb.Identity](irec)
		name = ident.GetName()
	}
	return renderAPISession(rec, sess, sess.GetIdentityId(), name)
}

func (s *Server) getAPISession(w http.ResponseWriter, r *http.Request) error {
	var d map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindApiSession, mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		d = sessionView(rd, rec)
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, d, api.Meta{})
	return nil
}

// deleteAPISession ends a session on every node within one Raft apply.
func (s *Server) deleteAPISession(w http.ResponseWriter, r *http.Request) error {
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindApiSession, mux.Vars(r)["id"]))
}

// summaryKinds maps the summary's names (OpenZiti's) to entity types.
var summaryKinds = map[string]string{
	"identities":     fsm.KindIdentity,
	"authenticators": fsm.KindAuthenticator,
	"apiSessions":    fsm.KindApiSession,
	"controllers":    fsm.KindController,
}

// summary counts the entities of each type in this node's store.
func (s *Server) summary(w http.ResponseWriter, r *http.Request) error {
	out := map[string]int{}
	err := s.store.View(func(rd *fsm.Reader) error {
		for name, kind := range summaryKinds {
			n, err := rd.Count(kind)
			if err != nil {
				return err
			}
			out[name] = n
		}
		return nil
	})
	if err != nil {
		return api.Unhandled(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}
