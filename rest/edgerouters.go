package rest

import (
	"errors"
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Edge routers are entities with an enrollment and certificates only:
// Garrison has no data plane, so nothing about a running router (online
// state, hostname, protocols, version) is known, and the detail says so with
// empty values.

// syncStatusUnknown is OpenZiti's sync status of a router the controller has
// never heard from.
const syncStatusUnknown = "SYNC_UNKNOWN"

// newRouterEnrollment builds a router's erott enrollment, token and JWT
// minted here (in the caller's read view), ready to be created in the same
// command as whatever makes the router need it.
func (s *Server) newRouterEnrollment(r *http.Request, rd *fsm.Reader, routerID string) (*pb.Op, *api.Error) {
	e := &pb.Enrollment{Method: edge.MethodEROTT, EdgeRouterId: routerID}
	if aerr := s.mint(rd, e, routerID, time.Now().Add(edge.DefaultEnrollmentLifetime)); aerr != nil {
		return nil, aerr
	}
	op, err := fsm.CreateOp(fsm.KindEnrollment, s.newID(r), e, nil)
	if err != nil {
		return nil, api.Unhandled(err)
	}
	return op, nil
}

// reEnrollAttempts bounds retries of a re-enroll that lost a race with
// another re-enroll of the same router.
const reEnrollAttempts = 3

// reEnrollEdgeRouter forgets the router's certificates and gives it a new
// erott enrollment, replacing any outstanding one, in one command: from then
// on neither its old certificate nor its old token is accepted.
func (s *Server) reEnrollEdgeRouter(w http.ResponseWriter, r *http.Request) error {
	rec, _, aerr := load[*pb.EdgeRouter](s, r, fsm.KindEdgeRouter)
	if aerr != nil {
		return aerr
	}
	if !isEdgeRouter(rec) {
		return api.NotFound()
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
		var enroll *pb.Op
		var aerr *api.Error
		if err := s.store.View(func(rd *fsm.Reader) error {
			enroll, aerr = s.newRouterEnrollment(r, rd, rec.ID)
			return nil
		}); err != nil {
			return api.Unhandled(err)
		}
		if aerr != nil {
			return aerr
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

// edgeRouters declares /edge-routers: routers with an enrollment and
// certificates only. There is no data plane, so what only a connected
// router could report renders as empty values.
func (s *Server) edgeRouters() *Resource {
	return &Resource{
		Kind: fsm.KindEdgeRouter, Path: "edge-routers",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.EdgeRouterName},
			{Name: "roleAttributes", Proto: "role_attributes", Type: Strings, Index: fsm.EdgeRouterRoleAttributes},
			{Name: "isTunnelerEnabled", Proto: "is_tunneler_enabled", Type: Bool},
			{Name: "cost", Proto: "cost", Type: Int, Min: 0, Max: 65535},
			{Name: "noTraversal", Proto: "no_traversal", Type: Bool},
			{Name: "disabled", Proto: "disabled", Type: Bool},
			{Name: "appData", Proto: "app_data_json", Type: TagMap},
			// Ids of configs; the store refuses unknown ones and keeps a
			// config a router uses from being deleted.
			{Name: "configs", Proto: "configs", Type: Strings, NoFilter: true},
			{Name: "isVerified", Proto: "is_verified", Type: Bool, Access: ReadOnly},
			// The fingerprint index also holds pending fingerprints; a
			// filter still matches each candidate, so it only narrows scans.
			{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly, Index: fsm.EdgeRouterFingerprint},
			{Name: "certPem", Proto: "cert_pem", Type: String, Access: ReadOnly, Nullable: true, NoFilter: true},
			{Name: "unverifiedCertPem", Proto: "unverified_cert_pem", Type: String, Access: ReadOnly, Nullable: true, NoFilter: true},
			{Name: "unverifiedFingerprint", Proto: "unverified_fingerprint", Type: String, Access: ReadOnly, Nullable: true, NoFilter: true},
			{Name: "isOnline", Type: Bool, Access: ReadOnly, Get: func(*fsm.Reader, *fsm.Record) any { return false }},
		},
		Check:  s.checkEdgeRouter,
		Render: renderEdgeRouter,
		Scope: Within(RoleScope(func(rec *fsm.Record) []string {
			return rec.Body.(*pb.EdgeRouter).GetRoleAttributes()
		}), isEdgeRouter),
	}
}

// unknownVersion is the versionInfo of a router that never connected.
func unknownVersion() map[string]any {
	return map[string]any{"os": "", "arch": "", "version": "", "buildDate": "", "revision": ""}
}

// isEdgeRouter tells edge routers from transit routers, which share their
// kind.
func isEdgeRouter(rec *fsm.Record) bool { return !rec.Body.(*pb.EdgeRouter).GetTransit() }

// isTransitRouter is the converse of isEdgeRouter.
func isTransitRouter(rec *fsm.Record) bool { return rec.Body.(*pb.EdgeRouter).GetTransit() }

// checkEdgeRouter: control channel listeners belong to the data plane;
// a new router gets its erott enrollment in the same command, so no node
// ever sees a router that cannot be enrolled.
func (s *Server) checkEdgeRouter(w *Write) error {
	if aerr := refuseListeners(w); aerr != nil {
		return aerr
	}
	if w.Mode != Create {
		return nil
	}
	op, aerr := s.newRouterEnrollment(w.R, w.Reader, w.ID)
	if aerr != nil {
		return aerr
	}
	w.After = append(w.After, op)
	return nil
}

// renderEdgeRouter adds what only a connected router could report (empty
// here) and the router's outstanding enrollment, from the same view.
func renderEdgeRouter(rd *fsm.Reader, rec *fsm.Record, d map[string]any) error {
	d["ctrlChanListeners"] = map[string]any{}
	d["hostname"] = ""
	d["supportedProtocols"] = map[string]any{}
	d["syncStatus"] = syncStatusUnknown
	version := unknownVersion()
	d["versionInfo"] = version
	// The spec lists the version fields as required at the top level too.
	for k, v := range version {
		d[k] = v
	}
	var token, jwt, createdAt, expiresAt any
	erec, err := rd.Lookup(fsm.EnrollmentEdgeRouterOnce, rec.ID)
	switch {
	case err == nil:
		e := erec.Body.(*pb.Enrollment)
		token, jwt = e.GetToken(), e.GetJwt()
		createdAt, expiresAt = api.Time(erec.CreatedAt), api.Time(time.Unix(0, e.GetExpiresAt()))
	case !errors.Is(err, fsm.ErrNotFound):
		return err
	}
	d["enrollmentToken"] = token
	d["enrollmentJwt"] = jwt
	d["enrollmentCreatedAt"] = createdAt
	d["enrollmentExpiresAt"] = expiresAt
	return nil
}
