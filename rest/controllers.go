package rest

import (
	"net/http"
	"time"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

func (s *Server) routeControllers(r *mux.Router) {
	r.Handle("/controllers", s.authenticated(handle(s.listControllers))).Methods(http.MethodGet)
}

// listControllers reports every member recorded in the replicated state, so
// every node lists every member, online or not, during and after an
// election. isOnline is this node's view from its peer probes.
func (s *Server) listControllers(w http.ResponseWriter, r *http.Request) error {
	var out []map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
			c, _ := fsm.As[*pb.Controller](rec)
			out = append(out, s.renderController(rec, c))
			return nil
		})
	})
	if err != nil {
		return errUnhandled(err)
	}
	if out == nil {
		out = []map[string]any{}
	}
	n := int64(len(out))
	writeData(w, http.StatusOK, out, meta{Pagination: &pagination{Limit: max(n, 10), Offset: 0, TotalCount: n}})
	return nil
}

func (s *Server) renderController(rec *fsm.Record, c *pb.Controller) map[string]any {
	d := baseEntity(rec, "controllers")
	addrs := map[string]any{}
	for api, list := range c.GetApiAddresses() {
		items := []map[string]string{}
		for _, a := range list.GetAddresses() {
			items = append(items, map[string]string{"url": a.GetUrl(), "version": a.GetVersion()})
		}
		addrs[api] = items
	}
	var ctrl any
	if c.GetCtrlAddress() != "" {
		ctrl = c.GetCtrlAddress()
	}
	d["name"] = c.GetName()
	d["ctrlAddress"] = ctrl
	d["apiAddresses"] = addrs
	d["certPem"] = c.GetCertPem()
	d["fingerprint"] = c.GetFingerprint()
	d["isOnline"] = s.node.Online(rec.ID)
	d["isPreferredLeader"] = c.GetIsPreferredLeader()
	d["lastJoinedAt"] = apiTime(time.Unix(0, c.GetLastJoinedAt()))
	return d
}
