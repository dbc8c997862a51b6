package rest

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/internal/edge"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Edge routers are entities with an enrollment and certificates only:
// Garrison has no data plane, so nothing about a running router (online
// state, hostname, protocols, version) is known, and the detail says so with
// empty values.

// syncStatusUnknown is OpenZiti's sync status of a router the controller has
// never heard from.
const syncStatusUnknown = "SYNC_UNKNOWN"

// edgeRouterFields maps the API's edge router fields to the proto fields a
// PATCH names; create and PUT write all of them.
var edgeRouterFields = map[string]string{
	"name": "name", "roleAttributes": "role_attributes", "isTunnelerEnabled": "is_tunneler_enabled",
	"cost": "cost", "noTraversal": "no_traversal", "disabled": "disabled", "appData": "app_data_json", "tags": "tags",
}

func (s *Server) routeEdgeRouters(mgmt *mux.Router) {
	mgmt.Handle("/edge-routers", s.admin(api.Handle(s.listEdgeRouters))).Methods(http.MethodGet)
	mgmt.Handle("/edge-routers", s.admin(api.Handle(s.createEdgeRouter))).Methods(http.MethodPost)
	mgmt.Handle("/edge-routers/{id}", s.admin(api.Handle(s.getEdgeRouter))).Methods(http.MethodGet)
	mgmt.Handle("/edge-routers/{id}", s.admin(api.Handle(s.updateEdgeRouter(false)))).Methods(http.MethodPut)
	mgmt.Handle("/edge-routers/{id}", s.admin(api.Handle(s.updateEdgeRouter(true)))).Methods(http.MethodPatch)
	mgmt.Handle("/edge-routers/{id}", s.admin(api.Handle(s.deleteEdgeRouter))).Methods(http.MethodDelete)
	mgmt.Handle("/edge-routers/{id}/re-enroll", s.admin(api.Handle(s.reEnrollEdgeRouter))).Methods(http.MethodPost)
}

// edgeRouterInput reads an edgeRouterCreate/Update/Patch body into er (which
// holds the current values for an update) and returns the tags and the
// proto fields that were set. A PATCH leaves absent fields alone; create
// and PUT reset them.
func edgeRouterInput(o api.Object, er *pb.EdgeRouter, patch bool) (map[string]any, []string, *api.Error) {
	var set []string
	want := func(field string) bool { return !patch || o.Has(field) }
	mark := func(field string) { set = append(set, edgeRouterFields[field]) }
	if !patch && !o.Has("name") {
		return nil, nil, api.Invalid("name", "name is required", nil)
	}
	if want("name") {
		v, _, err := o.String("name")
		if err != nil {
			return nil, nil, err
		}
		if v == "" || api.BadText(v) != "" {
			return nil, nil, api.Invalid("name", "must be non-empty text", v)
		}
		er.Name = v
		mark("name")
	}
	if want("roleAttributes") {
		v, _, err := o.Strings("roleAttributes")
		if err != nil {
			return nil, nil, err
		}
		er.RoleAttributes = v
		mark("roleAttributes")
	}
	for _, f := range []struct {
		name string
		dst  *bool
	}{{"isTunnelerEnabled", &er.IsTunnelerEnabled}, {"noTraversal", &er.NoTraversal}, {"disabled", &er.Disabled}} {
		if !want(f.name) {
			continue
		}
		v, _, err := o.Bool(f.name)
		if err != nil {
			return nil, nil, err
		}
		*f.dst = v
		mark(f.name)
	}
	if want("cost") {
		v, _, err := o.Int("cost", 0, 65535)
		if err != nil {
			return nil, nil, err
		}
		er.Cost = v
		mark("cost")
	}
	if want("appData") {
		v, ok, err := o.Tags("appData")
		if err != nil {
			return nil, nil, err
		}
		er.AppDataJson = nil
		if ok {
			er.AppDataJson, _ = json.Marshal(v)
		}
		mark("appData")
	}
	// Configs and control channel listeners belong to the data plane, which
	// Garrison does not have: no config id can exist, so naming one is the
	// same error OpenZiti gives for an unknown config.
	if v, _, err := o.Strings("configs"); err != nil {
		return nil, nil, err
	} else if len(v) > 0 {
		return nil, nil, api.Invalid("configs", "no config with this id exists; Garrison has no configs", v[0])
	}
	var listeners map[string][]string
	if _, err := o.Decode("ctrlChanListeners", "an api.Object of string arrays", &listeners); err != nil {
		return nil, nil, err
	} else if len(listeners) > 0 {
		return nil, nil, api.Invalid("ctrlChanListeners", "control channel listeners are not supported; Garrison has no data plane", nil)
	}
	var tags map[string]any
	if want("tags") {
		var err *api.Error
		if tags, _, err = o.Tags("tags"); err != nil {
			return nil, nil, err
		}
		mark("tags")
	}
	return tags, set, nil
}

// newRouterEnrollment builds a router's erott enrollment, token and JWT
// minted here, ready to be created in the same command as whatever makes
// the router need it.
func (s *Server) newRouterEnrollment(routerID string) (*pb.Op, error) {
	e := &pb.Enrollment{Method: edge.MethodEROTT, EdgeRouterId: routerID}
	var aerr *api.Error
	err := s.store.View(func(rd *fsm.Reader) error {
		aerr = s.mint(rd, e, routerID, time.Now().Add(edge.DefaultEnrollmentLifetime))
		return nil
	})
	if err != nil {
		return nil, api.Unhandled(err)
	}
	if aerr != nil {
		return nil, aerr
	}
	op, err := fsm.CreateOp(fsm.KindEnrollment, uuid.NewString(), e, nil)
	if err != nil {
		return nil, api.Unhandled(err)
	}
	return op, nil
}

func (s *Server) createEdgeRouter(w http.ResponseWriter, r *http.Request) error {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	er := &pb.EdgeRouter{}
	tags, _, aerr := edgeRouterInput(o, er, false)
	if aerr != nil {
		return aerr
	}
	id := uuid.NewString()
	create, err := fsm.CreateOp(fsm.KindEdgeRouter, id, er, tags)
	if err != nil {
		return api.Unhandled(err)
	}
	// The router and its enrollment are one command: no node ever sees a
	// router that cannot be enrolled.
	enroll, err := s.newRouterEnrollment(id)
	if err != nil {
		return err
	}
	if aerr := s.apply(r, create, enroll); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "edge-routers", id)
	return nil
}

// loadEdgeRouter reads the edge router named in the URL.
func (s *Server) loadEdgeRouter(r *http.Request) (*fsm.Record, *pb.EdgeRouter, *api.Error) {
	rec, err := s.store.Get(fsm.KindEdgeRouter, mux.Vars(r)["id"])
	if err != nil {
		return nil, nil, api.NotFoundOr(err)
	}
	er, _ := fsm.As[*pb.EdgeRouter](rec)
	return rec, er, nil
}

func (s *Server) getEdgeRouter(w http.ResponseWriter, r *http.Request) error {
	var detail map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindEdgeRouter, mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		detail, err = renderEdgeRouter(rd, rec)
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, detail, api.Meta{})
	return nil
}

func (s *Server) updateEdgeRouter(patch bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, er, aerr := s.loadEdgeRouter(r)
		if aerr != nil {
			return aerr
		}
		o, aerr := api.DecodeObject(r)
		if aerr != nil {
			return aerr
		}
		tags, fields, aerr := edgeRouterInput(o, er, patch)
		if aerr != nil {
			return aerr
		}
		// Only the named fields are written, so an enrollment completing
		// meanwhile keeps its certificate.
		op, err := fsm.PatchOp(fsm.KindEdgeRouter, rec.ID, er, tags, fields...)
		if err != nil {
			return api.Unhandled(err)
		}
		return s.applyEmpty(w, r, op)
	}
}

func (s *Server) deleteEdgeRouter(w http.ResponseWriter, r *http.Request) error {
	rec, _, aerr := s.loadEdgeRouter(r)
	if aerr != nil {
		return aerr
	}
	// The store deletes the router's enrollment in the same apply, so its
	// token stops working on every node at once.
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindEdgeRouter, rec.ID))
}

// reEnrollAttempts bounds retries of a re-enroll that lost a race with
// another re-enroll of the same router.
const reEnrollAttempts = 3

// reEnrollEdgeRouter forgets the router's certificates and gives it a new
// erott enrollment, replacing any outstanding one, in one command: from then
// on neither its old certificate nor its old token is accepted.
func (s *Server) reEnrollEdgeRouter(w http.ResponseWriter, r *http.Request) error {
	rec, _, aerr := s.loadEdgeRouter(r)
	if aerr != nil {
		return aerr
	}
	cleared, err := fsm.PatchOp(fsm.KindEdgeRouter, rec.ID, &pb.EdgeRouter{}, nil,
		"cert_pem", "fingerprint", "server_cert_pem", "is_verified", "unverified_cert_pem", "unverified_fingerprint")
	if err != nil {
		return api.Unhandled(err)
	}
	for attempt := 1; ; attempt++ {
		var old []string
		if err := s.store.View(func(rd *fsm.Reader) error {
			var err error
			old, err = rd.IDsByIndex(fsm.EnrollmentEdgeRouter, rec.ID)
			return err
		}); err != nil {
			return api.Unhandled(err)
		}
		// skip_missing: an old enrollment consumed or replaced meanwhile
		// must not fail the re-enroll, which is meant to win.
		ops := []*pb.Op{cleared}
		for _, id := range old {
			ops = append(ops, &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: fsm.KindEnrollment, Id: id, SkipMissing: true}}})
		}
		enroll, err := s.newRouterEnrollment(rec.ID)
		if err != nil {
			return err
		}
		res, aerr := s.applyResult(r, append(ops, enroll)...)
		if aerr != nil {
			return aerr
		}
		// A concurrent re-enroll created its enrollment first: the unique
		// one-enrollment-per-router index refuses ours. Read again and
		// replace that one.
		if res.GetCode() == pb.Result_CONFLICT && res.GetField() == "edgeRouterId" && attempt < reEnrollAttempts {
			continue
		}
		if aerr := api.FromResult(res); aerr != nil {
			return aerr
		}
		api.WriteEmpty(w)
		return nil
	}
}

// renderEdgeRouter renders the spec's edgeRouterDetail, with the router's
// outstanding enrollment read from the same consistent view.
func renderEdgeRouter(rd *fsm.Reader, rec *fsm.Record) (map[string]any, error) {
	er, _ := fsm.As[*pb.EdgeRouter](rec)
	d := baseEntity(rec, "edge-routers")
	roles := er.GetRoleAttributes()
	if roles == nil {
		roles = []string{}
	}
	configs := er.GetConfigs()
	if configs == nil {
		configs = []string{}
	}
	appData := map[string]any{}
	if len(er.GetAppDataJson()) > 0 {
		_ = json.Unmarshal(er.GetAppDataJson(), &appData)
	}
	d["name"] = er.GetName()
	d["roleAttributes"] = roles
	d["isTunnelerEnabled"] = er.GetIsTunnelerEnabled()
	d["isVerified"] = er.GetIsVerified()
	d["fingerprint"] = er.GetFingerprint()
	d["certPem"] = nullIfEmpty(er.GetCertPem())
	d["unverifiedCertPem"] = nullIfEmpty(er.GetUnverifiedCertPem())
	d["unverifiedFingerprint"] = nullIfEmpty(er.GetUnverifiedFingerprint())
	d["cost"] = er.GetCost()
	d["noTraversal"] = er.GetNoTraversal()
	d["disabled"] = er.GetDisabled()
	d["appData"] = appData
	d["configs"] = configs
	d["ctrlChanListeners"] = map[string]any{}
	// What a connected router would report; Garrison never hears from one.
	d["isOnline"] = false
	d["hostname"] = ""
	d["supportedProtocols"] = map[string]any{}
	d["syncStatus"] = syncStatusUnknown
	version := map[string]any{"os": "", "arch": "", "version": "", "buildDate": "", "revision": ""}
	d["versionInfo"] = version
	// The spec lists the version fields as required at the top level too.
	for k, v := range version {
		d[k] = v
	}
	var token, jwt, createdAt, expiresAt any
	erec, err := rd.Lookup(fsm.EnrollmentEdgeRouterOnce, rec.ID)
	switch {
	case err == nil:
		e, _ := fsm.As[*pb.Enrollment](erec)
		token, jwt = e.GetToken(), e.GetJwt()
		createdAt, expiresAt = api.Time(erec.CreatedAt), api.Time(time.Unix(0, e.GetExpiresAt()))
	case !errors.Is(err, fsm.ErrNotFound):
		return nil, err
	}
	d["enrollmentToken"] = token
	d["enrollmentJwt"] = jwt
	d["enrollmentCreatedAt"] = createdAt
	d["enrollmentExpiresAt"] = expiresAt
	return d, nil
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

var edgeRouterList = &listSpec{
	kind: fsm.KindEdgeRouter,
	fields: map[string]query.FieldType{
		"name": query.String, "roleAttributes": query.StringSet, "isVerified": query.Bool, "isTunnelerEnabled": query.Bool,
		"fingerprint": query.String, "cost": query.Number, "noTraversal": query.Bool, "disabled": query.Bool, "isOnline": query.Bool,
	},
	value: func(rec *fsm.Record, f string) (any, bool) {
		er, _ := fsm.As[*pb.EdgeRouter](rec)
		switch f {
		case "name":
			return er.GetName(), true
		case "roleAttributes":
			return er.GetRoleAttributes(), true
		case "isVerified":
			return er.GetIsVerified(), true
		case "isTunnelerEnabled":
			return er.GetIsTunnelerEnabled(), true
		case "fingerprint":
			return er.GetFingerprint(), er.GetFingerprint() != ""
		case "cost":
			return er.GetCost(), true
		case "noTraversal":
			return er.GetNoTraversal(), true
		case "disabled":
			return er.GetDisabled(), true
		case "isOnline":
			return false, true
		}
		return nil, false
	},
	// The fingerprint index also holds unverified fingerprints; the filter
	// still matches every candidate, so it only narrows the scan.
	indexes: map[string]fsm.IndexRef{"name": fsm.EdgeRouterName, "roleAttributes": fsm.EdgeRouterRoleAttributes, "fingerprint": fsm.EdgeRouterFingerprint},
	render: func(rd *fsm.Reader, rec *fsm.Record) map[string]any {
		d, err := renderEdgeRouter(rd, rec)
		if err != nil {
			return baseEntity(rec, "edge-routers")
		}
		return d
	},
}

func (s *Server) listEdgeRouters(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	if len(q["roleFilter"]) == 0 {
		return s.list(w, r, edgeRouterList)
	}
	rf, err := parseRoleFilter(q["roleFilter"], q.Get("roleSemantic"))
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidFilter,
			Message: "The role filter is invalid", CauseMessage: err.Error()}
	}
	spec := *edgeRouterList
	spec.keep = func(rec *fsm.Record) bool {
		er, _ := fsm.As[*pb.EdgeRouter](rec)
		return rf.matches(rec.ID, er.GetRoleAttributes())
	}
	return s.list(w, r, &spec)
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
