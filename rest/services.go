package rest

import (
	"encoding/json"
	"errors"
	"maps"
	"net/http"
	"slices"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// services declares /services (management API): what identities may dial
// or bind, as service policies allow. A service names configs by id, at
// most one of each config type. The management view has no identity, so
// permissions, posture queries and the resolved config map are empty; the
// client API computes them per identity.
func (s *Server) services() *Resource {
	return &Resource{
		Kind: fsm.KindService, Path: "services",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.ServiceName},
			{Name: "roleAttributes", Proto: "role_attributes", Type: Strings, Index: fsm.ServiceRoleAttributes},
			// Ids of configs; checkService names a bad one, the store
			// keeps a config a service uses from being deleted.
			{Name: "configs", Proto: "configs", Type: Strings, NoFilter: true},
			{Name: "encryptionRequired", Proto: "encryption_required", Type: Bool, Required: OnCreate},
			// OpenZiti's default strategy, whose name is all it needs here:
			// there is no data plane to apply it.
			{Name: "terminatorStrategy", Proto: "terminator_strategy", Type: String, Default: "smartrouting"},
			{Name: "maxIdleTimeMillis", Proto: "max_idle_time_millis", Type: Int, Min: 0, Max: 1 << 53},
			{Name: "permissions", Type: Strings, Access: ReadOnly, NoFilter: true,
				Get: func(*fsm.Reader, *fsm.Record) any { return []string{} }},
			{Name: "postureQueries", Type: Strings, Access: ReadOnly, NoFilter: true,
				Get: func(*fsm.Reader, *fsm.Record) any { return []any{} }},
			{Name: "config", Type: Object, Access: ReadOnly, NoFilter: true,
				Get: func(*fsm.Reader, *fsm.Record) any { return map[string]any{} }},
		},
		Check: checkService,
	}
}

// checkService refuses a config id that names no config (400 naming the
// field, where OpenZiti answers 404), one listed twice, and two configs of
// one config type. A config's type never changes, so the check stays true;
// a config deleted meanwhile fails the write in the store.
func checkService(w *Write) error {
	if w.Mode != Create && !w.Changes("configs") {
		return nil
	}
	seenType := map[string]string{}
	seenID := map[string]bool{}
	for _, id := range w.Body.(*pb.Service).GetConfigs() {
		if seenID[id] {
			return api.Invalid("configs", "lists config "+id+" twice", id)
		}
		seenID[id] = true
		rec, err := w.Reader.Get(fsm.KindConfig, id)
		if errors.Is(err, fsm.ErrNotFound) {
			return api.Invalid("configs", "no config with this id exists", id)
		}
		if err != nil {
			return err
		}
		typ := rec.Body.(*pb.Config).GetConfigTypeId()
		if other, ok := seenType[typ]; ok {
			return api.Invalid("configs", "configs "+other+" and "+id+" are of the same config type; a service takes one of each", id)
		}
		seenType[typ] = id
	}
	return nil
}

// clientServices answers the client API's GET /services: the services the
// caller's identity may dial or bind, each with its permissions and its
// configs of the types the session asked for at login or the request asks
// for (configTypes, by id or name, "all" for every type), worked out from
// the policies in the list's own read view.
func (s *Server) clientServices(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	asked := append(slices.Clone(c.sess.GetConfigTypes()), r.URL.Query()["configTypes"]...)
	// Both run in the list's one read view: the identity read by IDs is
	// the one Render resolves overrides with.
	perms := map[string][]string{}
	var posture map[string][]edge.PolicyPosture
	var ident *fsm.Record
	view := *s.res.services
	view.Cache, view.RenderSets = s.serviceRenders, []string{"permissions", "postureQueries", "config"}
	view.Render = func(rd *fsm.Reader, rec *fsm.Record, out map[string]any) error {
		out["permissions"] = perms[rec.ID]
		out["postureQueries"] = renderPosture(posture[rec.ID])
		cfg, err := serviceConfig(rd, ident, rec.ID, rec.Body.(*pb.Service), asked)
		out["config"] = cfg
		return err
	}
	sc := Scope{IDs: func(rd *fsm.Reader) ([]string, error) {
		var err error
		if ident, err = rd.Get(fsm.KindIdentity, c.identity.ID); err != nil {
			return nil, err
		}
		p, pq, err := edge.ServiceAccess(rd, ident, c.session.ID)
		if err != nil {
			return nil, err
		}
		maps.Copy(perms, p)
		posture = pq
		return slices.Sorted(maps.Keys(p)), nil
	}}
	return s.rs.ListIn(w, r, &view, sc)
}

// clientService answers the client API's GET /services/{id}: a service the
// caller may reach, as the list renders it; 404 for any other.
func (s *Server) clientService(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	id := mux.Vars(r)["id"]
	var out map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		g, err := reachableService(rd, c.identity.ID, c.session.ID, id)
		if err != nil {
			return err
		}
		if out, err = s.res.services.RenderRecord(rd, g.svc); err != nil {
			return err
		}
		out["permissions"] = g.perms
		out["postureQueries"] = renderPosture(g.posture)
		out["config"], err = serviceConfig(rd, g.ident, id, g.svc.Body.(*pb.Service), c.sess.GetConfigTypes())
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{})
	return nil
}

// serviceGrant is what an identity's service policies grant it on one
// service.
type serviceGrant struct {
	ident, svc *fsm.Record
	perms      []string             // "Bind", "Dial", sorted
	posture    []edge.PolicyPosture // per granting policy; none without an API session
}

// reachableService loads identity identityID and service id, which it must
// be allowed to reach (else fsm.ErrNotFound), with what its policies grant
// on it, their posture checks evaluated against the posture data of API
// session sessionID ("": not evaluated).
func reachableService(rd *fsm.Reader, identityID, sessionID, id string) (serviceGrant, error) {
	var g serviceGrant
	var err error
	if g.ident, err = rd.Get(fsm.KindIdentity, identityID); err != nil {
		return g, err
	}
	perms, posture, err := edge.ServiceAccess(rd, g.ident, sessionID)
	if err != nil {
		return g, err
	}
	var ok bool
	if g.perms, ok = perms[id]; !ok {
		return g, fsm.ErrNotFound
	}
	g.posture = posture[id]
	g.svc, err = rd.Get(fsm.KindService, id)
	return g, err
}

// serviceConfig maps config type names to the data of the service's
// configs of the asked types (ids or names; "all": every type), the
// identity's overrides (ident's service configs for svcID) replacing the
// service's config of their type.
func serviceConfig(rd *fsm.Reader, ident *fsm.Record, svcID string, svc *pb.Service, asked []string) (map[string]any, error) {
	out := map[string]any{}
	configs := slices.Clone(svc.GetConfigs())
	for _, sc := range ident.Body.(*pb.Identity).GetServiceConfigs() {
		if sc.GetServiceId() == svcID {
			configs = append(configs, sc.GetConfigId()) // later ones win
		}
	}
	if len(asked) == 0 || len(configs) == 0 {
		return out, nil
	}
	all := slices.Contains(asked, "all")
	for _, id := range configs {
		rec, err := rd.Get(fsm.KindConfig, id)
		if err != nil {
			continue // deleted meanwhile: the store keeps used ones, so not in one view
		}
		cfg := rec.Body.(*pb.Config)
		typ, err := rd.Get(fsm.KindConfigType, cfg.GetConfigTypeId())
		if err != nil {
			continue
		}
		name := typ.Body.(*pb.ConfigType).GetName()
		if !all && !slices.Contains(asked, typ.ID) && !slices.Contains(asked, name) {
			continue
		}
		out[name] = json.RawMessage(cfg.GetDataJson())
	}
	return out, nil
}

// clientRouters is the client API's view of edge routers: the common
// router properties only (never a router's enrollment), none online, since
// there is no data plane.
func (s *Server) clientRouters() *Resource {
	view := *s.res.edgeRouters
	view.Fields = slices.DeleteFunc(slices.Clone(view.Fields), func(f Field) bool {
		return !slices.Contains([]string{"name", "cost", "noTraversal", "disabled", "appData", "isOnline"}, f.Name)
	})
	view.Render = func(_ *fsm.Reader, _ *fsm.Record, out map[string]any) error {
		out["hostname"] = ""
		out["supportedProtocols"] = map[string]any{}
		out["syncStatus"] = syncStatusUnknown
		return nil
	}
	return &view
}

// clientIdentityRouters answers GET /current-identity/edge-routers: the
// edge routers the caller's edge-router policies let it use.
func (s *Server) clientIdentityRouters(w http.ResponseWriter, r *http.Request) error {
	identityID := callerOf(r).identity.ID
	return s.rs.ListIn(w, r, s.clientRouters(), Scope{IDs: func(rd *fsm.Reader) ([]string, error) {
		ident, err := rd.Get(fsm.KindIdentity, identityID)
		if err != nil {
			return nil, err
		}
		return edge.IdentityRouters(rd, ident)
	}})
}

// clientServiceRouters answers the client's GET /services/{id}/edge-routers:
// the routers through which the caller may use a service it may reach,
// those both its edge-router policies and the service's allow.
func (s *Server) clientServiceRouters(w http.ResponseWriter, r *http.Request) error {
	identityID, id := callerOf(r).identity.ID, mux.Vars(r)["id"]
	view := s.clientRouters()
	var routers []map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		g, err := reachableService(rd, identityID, "", id)
		if err != nil {
			return err
		}
		common, _, _, err := edge.CommonRouters(rd, g.ident, g.svc)
		if err != nil {
			return err
		}
		routers = []map[string]any{}
		for _, rid := range common {
			rec, err := rd.Get(fsm.KindEdgeRouter, rid)
			if err != nil {
				return err
			}
			out, err := view.RenderRecord(rd, rec)
			if err != nil {
				return err
			}
			routers = append(routers, out)
		}
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, map[string]any{"edgeRouters": routers}, api.Meta{})
	return nil
}

// renderPosture renders the spec's postureQueries of a service: per
// granting policy, whether it passes and each of its checks.
func renderPosture(policies []edge.PolicyPosture) []map[string]any {
	out := []map[string]any{}
	for _, pp := range policies {
		queries := []map[string]any{}
		for _, q := range pp.Queries {
			queries = append(queries, map[string]any{
				"id": q.Check.ID, "_links": api.Links("./posture-checks/" + q.Check.ID),
				"createdAt": api.Time(q.Check.CreatedAt), "updatedAt": api.Time(q.Check.UpdatedAt), "tags": map[string]any{},
				"queryType": q.Check.Body.(*pb.PostureCheck).GetTypeId(), "isPassing": q.IsPassing,
				"timeout": -1, "timeoutRemaining": -1,
			})
		}
		out = append(out, map[string]any{
			"policyId": pp.Policy.ID, "policyType": pp.Policy.Body.(*pb.ServicePolicy).GetType(),
			"isPassing": pp.IsPassing, "postureQueries": queries,
		})
	}
	return out
}

// fabricServices declares the fabric API's /services: the same services in
// the fabric's shape (name, terminator strategy, idle time). A service
// made there has no role attributes or configs, and is not encrypted
// until the management API says so.
func (s *Server) fabricServices() *Resource {
	var fields []Field
	for _, f := range s.services().Fields {
		switch f.Name {
		case "name", "terminatorStrategy", "maxIdleTimeMillis":
			fields = append(fields, f)
		}
	}
	return &Resource{Kind: fsm.KindService, Path: "services", Fields: fields, AbsentDeleted: true}
}
