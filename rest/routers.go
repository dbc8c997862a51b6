package rest

import (
	"strings"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Routers without the edge. OpenZiti has one router entity that the edge
// extends; Garrison keeps both in the edge-router kind (pb.EdgeRouter
// transit), so names, fingerprints, enrollment and terminators work the
// same for both:
//   - /edge-routers (management) shows the edge routers;
//   - /transit-routers and its older name /routers (management) the
//     transit routers, which enroll like edge routers (an erott token);
//   - /routers (fabric) shows every router in the fabric's shape. A router
//     made there is a transit router with the id and fingerprint the body
//     gives, and no enrollment.
// With no data plane no router is ever connected, and the details say so.

// routerFields are what every router has, in every view.
func routerFields() []Field {
	return []Field{
		{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.EdgeRouterName},
		{Name: "cost", Proto: "cost", Type: Int, Min: 0, Max: 65535},
		{Name: "noTraversal", Proto: "no_traversal", Type: Bool},
		{Name: "disabled", Proto: "disabled", Type: Bool},
		{Name: "configs", Proto: "configs", Type: Strings, NoFilter: true},
	}
}

// transitRouters declares the management API's /transit-routers (and, with
// path "routers", its /routers).
func (s *Server) transitRouters(path string) *Resource {
	return &Resource{
		Kind: fsm.KindEdgeRouter, Path: path,
		Fields: append(routerFields(),
			Field{Name: "isVerified", Proto: "is_verified", Type: Bool, Access: ReadOnly},
			Field{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly, Index: fsm.EdgeRouterFingerprint},
			Field{Name: "unverifiedCertPem", Proto: "unverified_cert_pem", Type: String, Access: ReadOnly, Nullable: true, NoFilter: true},
			Field{Name: "unverifiedFingerprint", Proto: "unverified_fingerprint", Type: String, Access: ReadOnly, Nullable: true, NoFilter: true},
			Field{Name: "isOnline", Type: Bool, Access: ReadOnly, Get: func(*fsm.Reader, *fsm.Record) any { return false }},
		),
		Check:  s.checkTransitRouter,
		Render: renderEdgeRouter,
		Scope:  Within(nil, isTransitRouter),
		// The spec's deleteRouter documents no 404; deleteTransitRouter does.
		AbsentDeleted: path == "routers",
	}
}

// checkTransitRouter: a new transit router gets its enrollment in the same
// command, as an edge router does.
func (s *Server) checkTransitRouter(w *Write) error {
	if aerr := refuseListeners(w); aerr != nil {
		return aerr
	}
	if w.Mode != Create {
		return nil
	}
	w.Body.(*pb.EdgeRouter).Transit = true
	w.Set("transit")
	op, aerr := s.newRouterEnrollment(w.R, w.Reader, w.ID)
	if aerr != nil {
		return aerr
	}
	w.After = append(w.After, op)
	return nil
}

// refuseListeners: control channel listeners belong to the data plane.
func refuseListeners(w *Write) *api.Error {
	var listeners map[string][]string
	if _, aerr := w.In.Decode("ctrlChanListeners", "an object of string arrays", &listeners); aerr != nil {
		return aerr
	} else if len(listeners) > 0 {
		return api.Invalid("ctrlChanListeners", "control channel listeners are not supported; Garrison has no data plane", nil)
	}
	return nil
}

// fabricRouters declares the fabric API's /routers: every router.
func (s *Server) fabricRouters() *Resource {
	fields := routerFields()
	for i := range fields {
		if fields[i].Name == "cost" || fields[i].Name == "noTraversal" {
			fields[i].Required = Always
		}
	}
	return &Resource{
		Kind: fsm.KindEdgeRouter, Path: "routers",
		Fields: append(fields,
			// A new router's id, which the fabric API's body gives.
			Field{Name: "id", Type: String, Required: OnCreate, Access: CreateOnly, NotNull: true, NoFilter: true, Max: maxRouterID},
			// Set on a transit router by the body; an edge router's comes
			// from its enrollment (checkFabricRouter).
			Field{Name: "fingerprint", Proto: "fingerprint", Type: String, Required: OnPut, Index: fsm.EdgeRouterFingerprint},
			Field{Name: "connected", Type: Bool, Access: ReadOnly, Get: func(*fsm.Reader, *fsm.Record) any { return false }},
		),
		Check:         checkFabricRouter,
		IDField:       "id",
		Render:        renderFabricRouter,
		AbsentDeleted: true,
	}
}

// maxRouterID bounds an id a client chooses.
const maxRouterID = 256

// checkFabricRouter takes a new router's id from the body (the fabric API
// requires one) and makes it a transit router; an edge router's
// fingerprint belongs to its enrollment and cannot be changed here.
func checkFabricRouter(w *Write) error {
	if aerr := refuseListeners(w); aerr != nil {
		return aerr
	}
	r := w.Body.(*pb.EdgeRouter)
	if w.Mode == Create {
		id, _, aerr := w.In.String("id") // required and bounded by its declaration
		if aerr != nil {
			return aerr
		}
		if strings.TrimSpace(id) == "" || strings.ContainsAny(id, "/?#") {
			return api.Invalid("id", "must not be blank or hold '/', '?' or '#'", id)
		}
		w.ID = id
		r.Transit = true
		r.IsVerified = r.GetFingerprint() != ""
		w.Set("transit", "is_verified")
		return nil
	}
	old := w.Old.(*pb.EdgeRouter)
	if !w.Changes("fingerprint") || r.GetFingerprint() == old.GetFingerprint() {
		return nil
	}
	if !old.GetTransit() {
		return api.Invalid("fingerprint", "an edge router's fingerprint comes from its enrollment", r.GetFingerprint())
	}
	r.IsVerified = r.GetFingerprint() != ""
	w.Set("is_verified")
	return nil
}

// renderFabricRouter adds what only a connected router could report: no
// listeners, interfaces or version.
func renderFabricRouter(_ *fsm.Reader, _ *fsm.Record, d map[string]any) error {
	d["ctrlChanListeners"] = map[string]any{}
	d["listenerAddresses"] = []any{}
	d["interfaces"] = []any{}
	d["versionInfo"] = unknownVersion()
	return nil
}
