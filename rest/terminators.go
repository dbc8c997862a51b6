package rest

import (
	"encoding/base64"
	"net/http"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// terminators declares /terminators (management API): where a service's
// traffic would leave the network. With no data plane they are entities
// only: nothing routes to them, and dynamicCost is the static cost. A
// terminator is deleted with its service or its router. The router is an
// edge router (the only routers Garrison has), linked under edge-routers.
func (s *Server) terminators() *Resource {
	return &Resource{
		Kind: fsm.KindTerminator, Path: "terminators",
		Fields: []Field{
			{Name: "serviceId", Input: "service", Proto: "service_id", Type: Ref, RefKind: fsm.KindService, RefPath: "services",
				RefName: "service", Required: Always, NotNull: true, Filter: []string{"service", "serviceId"}, Index: fsm.TerminatorService},
			{Name: "routerId", Input: "router", Proto: "router_id", Type: Ref, RefKind: fsm.KindEdgeRouter, RefPath: "edge-routers",
				RefName: "router", Required: Always, NotNull: true, Filter: []string{"router", "routerId"}, Index: fsm.TerminatorRouter},
			{Name: "address", Proto: "address", Type: String, Required: Always, NotNull: true},
			{Name: "binding", Proto: "binding", Type: String, Required: Always, NotNull: true},
			{Name: "identity", Proto: "identity", Type: String, Access: CreateOnly},
			{Name: "identitySecret", Proto: "identity_secret", Type: String, Max: 4096, Access: WriteOnly},
			{Name: "cost", Proto: "cost", Type: Int, Min: 0, Max: 65535},
			{Name: "precedence", Proto: "precedence", Type: Enum, Values: []string{"default", "required", "failed"}, Default: "default"},
			{Name: "dynamicCost", Type: Int, Access: ReadOnly,
				Get: func(_ *fsm.Reader, rec *fsm.Record) any { return rec.Body.(*pb.Terminator).GetCost() }},
		},
		Check: checkTerminatorSecret("identitySecret"),
	}
}

// checkTerminatorSecret refuses a secret (the body's field name) that is
// not base64 (the spec's format byte).
func checkTerminatorSecret(name string) func(w *Write) error {
	return func(w *Write) error {
		secret := w.Body.(*pb.Terminator).GetIdentitySecret()
		if _, err := base64.StdEncoding.DecodeString(secret); secret != "" && err != nil {
			return api.Invalid(name, "must be base64", nil)
		}
		return nil
	}
}

// clientTerminators is the client API's view of a service's terminators.
func (s *Server) clientTerminators() *Resource {
	all := s.terminators().Fields
	return &Resource{
		Kind: fsm.KindTerminator, Path: "terminators",
		Fields: []Field{all[0], {Name: "routerId", Proto: "router_id", Type: String, Access: ReadOnly, Index: fsm.TerminatorRouter},
			{Name: "identity", Proto: "identity", Type: String, Access: ReadOnly}},
	}
}

// clientServiceTerminators answers the client API's GET
// /services/{id}/terminators: the terminators of a service the caller may
// reach; 404 for any other service.
func (s *Server) clientServiceTerminators(w http.ResponseWriter, r *http.Request) error {
	c := callerOf(r)
	id := mux.Vars(r)["id"]
	err := s.store.View(func(rd *fsm.Reader) error {
		_, err := reachableService(rd, c.identity.ID, "", id)
		return err
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	return s.rs.ListIn(w, r, s.res.clientTerminators, Scope{By: fsm.TerminatorService, Key: id})
}

// fabricTerminators declares the fabric API's /terminators: the same
// terminators in the fabric's shape, where the management API's identity
// and identitySecret are instanceId and instanceSecret, and the router may
// be any router.
func (s *Server) fabricTerminators() *Resource {
	var fields []Field
	for _, f := range s.terminators().Fields {
		switch f.Name {
		case "routerId":
			f.RefPath = "routers"
		case "identity":
			f.Name, f.Access = "instanceId", ReadWrite
		case "identitySecret":
			f.Name, f.Input = "instanceSecret", ""
		}
		fields = append(fields, f)
	}
	fields = append(fields, Field{Name: "hostId", Proto: "host_id", Type: String})
	return &Resource{Kind: fsm.KindTerminator, Path: "terminators", Fields: fields, Check: checkTerminatorSecret("instanceSecret"),
		AbsentDeleted: true}
}
