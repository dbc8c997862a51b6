package rest

import (
	"net/http"
	"slices"
	"time"

	"github.com/garrison-ctrl/garrison/internal/edge"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/fsm/query"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// identityEnrollmentMethods are the methods an admin may create for an
// identity; erott belongs to routers.
var identityEnrollmentMethods = []string{edge.MethodOTT, edge.MethodOTTCA, edge.MethodUPDB}

func (s *Server) routeEnrollments(mgmt *mux.Router) {
	mgmt.Handle("/enrollments", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		return s.list(w, r, enrollmentListSpec(nil))
	}))).Methods(http.MethodGet)
	mgmt.Handle("/enrollments", s.admin(api.Handle(s.createEnrollment))).Methods(http.MethodPost)
	mgmt.Handle("/enrollments/{id}", s.admin(api.Handle(s.getEnrollment))).Methods(http.MethodGet)
	mgmt.Handle("/enrollments/{id}", s.admin(api.Handle(s.deleteEnrollment))).Methods(http.MethodDelete)
	mgmt.Handle("/enrollments/{id}/refresh", s.admin(api.Handle(s.refreshEnrollment))).Methods(http.MethodPost)
	mgmt.Handle("/identities/{id}/enrollments", s.admin(api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		if _, _, aerr := s.loadIdentity(r); aerr != nil {
			return aerr
		}
		id := mux.Vars(r)["id"]
		return s.list(w, r, enrollmentListSpec(func(rec *fsm.Record) bool {
			e, _ := fsm.As[*pb.Enrollment](rec)
			return e.GetIdentityId() == id
		}))
	}))).Methods(http.MethodGet)
	mgmt.Handle("/authenticators/{id}/re-enroll", s.admin(api.Handle(s.reEnrollAuthenticator))).Methods(http.MethodPost)
}

func enrollmentListSpec(keep func(*fsm.Record) bool) *listSpec {
	return &listSpec{
		kind: fsm.KindEnrollment,
		fields: map[string]query.FieldType{
			"method": query.String, "identityId": query.String, "edgeRouterId": query.String, "caId": query.String,
			"token": query.String, "expiresAt": query.Datetime, "username": query.String,
		},
		value: func(rec *fsm.Record, f string) (any, bool) {
			e, _ := fsm.As[*pb.Enrollment](rec)
			switch f {
			case "method":
				return e.GetMethod(), true
			case "identityId":
				return e.GetIdentityId(), e.GetIdentityId() != ""
			case "edgeRouterId":
				return e.GetEdgeRouterId(), e.GetEdgeRouterId() != ""
			case "caId":
				return e.GetCaId(), e.GetCaId() != ""
			case "token":
				return e.GetToken(), true
			case "expiresAt":
				return nanosTime(e.GetExpiresAt()), true
			case "username":
				return e.GetUsername(), e.GetUsername() != ""
			}
			return nil, false
		},
		indexes: map[string]fsm.IndexRef{"identityId": fsm.EnrollmentIdentity, "token": fsm.EnrollmentToken, "caId": fsm.EnrollmentCA, "edgeRouterId": fsm.EnrollmentEdgeRouter},
		keep:    keep,
		render: func(rd *fsm.Reader, rec *fsm.Record) map[string]any {
			e, _ := fsm.As[*pb.Enrollment](rec)
			return renderEnrollment(rd, rec, e)
		},
	}
}

// renderEnrollment renders enrollmentDetail.
func renderEnrollment(rd *fsm.Reader, rec *fsm.Record, e *pb.Enrollment) map[string]any {
	d := baseEntity(rec, "enrollments")
	d["method"] = e.GetMethod()
	d["token"] = e.GetToken()
	d["jwt"] = e.GetJwt()
	d["expiresAt"] = api.Time(time.Unix(0, e.GetExpiresAt()))
	// enrollmentDetail requires details; OpenZiti fills it with nothing a
	// client needs, so it stays empty.
	d["details"] = map[string]any{}
	if id := e.GetIdentityId(); id != "" {
		d["identityId"] = id
		d["identity"] = entityRef("identities", id, entityName(rd, fsm.KindIdentity, id))
	}
	if id := e.GetEdgeRouterId(); id != "" {
		d["edgeRouterId"] = id
		d["edgeRouter"] = entityRef("edge-routers", id, entityName(rd, fsm.KindEdgeRouter, id))
	}
	if id := e.GetCaId(); id != "" {
		d["caId"] = id
	} else {
		d["caId"] = nil
	}
	if e.GetMethod() == edge.MethodUPDB {
		d["username"] = e.GetUsername()
	}
	return d
}

// entityName is the name of a referenced identity, router or CA, or "" if
// it is gone.
func entityName(rd *fsm.Reader, kind, id string) string {
	rec, err := rd.Get(kind, id)
	if err != nil {
		return ""
	}
	switch b := rec.Body.(type) {
	case *pb.Identity:
		return b.GetName()
	case *pb.EdgeRouter:
		return b.GetName()
	case *pb.Ca:
		return b.GetName()
	}
	return ""
}

// enrollmentRequest is what an identity enrollment is made from: the body
// of POST /enrollments, an identity create's enrollment api.Object, or a
// re-enrolled authenticator.
type enrollmentRequest struct {
	method, identityID, caID, username string
	expiresAt                          time.Time
}

// newIdentityEnrollment checks req against the current state and returns
// the enrollment to create, token and JWT filled in. The identity may be
// one being created in the same command (identity non-nil).
func (s *Server) newIdentityEnrollment(rd *fsm.Reader, req enrollmentRequest, identityExists bool) (*pb.Enrollment, *api.Error) {
	if !slices.Contains(identityEnrollmentMethods, req.method) {
		return nil, api.Invalid("method", "must be one of ott, ottca, updb", req.method)
	}
	if aerr := checkExpiry(req.expiresAt); aerr != nil {
		return nil, aerr
	}
	if identityExists {
		if _, err := rd.Get(fsm.KindIdentity, req.identityID); err != nil {
			if isNotFound(err) {
				return nil, api.Invalid("identityId", "no identity with this id exists", req.identityID)
			}
			return nil, api.Unhandled(err)
		}
		// The credential an enrollment would create must not exist already:
		// one authenticator per method per identity.
		authMethod := "cert"
		if req.method == edge.MethodUPDB {
			authMethod = "updb"
		}
		if _, err := rd.Lookup(fsm.AuthenticatorIdentityMethod, req.identityID+"/"+authMethod); err == nil {
			return nil, &api.Error{Status: http.StatusConflict, Code: api.CodeConflict,
				Message: "the identity already has a " + authMethod + " authenticator; delete it or re-enroll it first"}
		} else if !isNotFound(err) {
			return nil, api.Unhandled(err)
		}
	}
	e := &pb.Enrollment{Method: req.method, IdentityId: req.identityID}
	switch req.method {
	case edge.MethodOTTCA:
		if req.caID == "" {
			return nil, api.Invalid("caId", "is required for ottca enrollments", nil)
		}
		rec, err := rd.Get(fsm.KindCa, req.caID)
		if err != nil {
			if isNotFound(err) {
				return nil, api.Invalid("caId", "no CA with this id exists", req.caID)
			}
			return nil, api.Unhandled(err)
		}
		if ca, _ := fsm.As[*pb.Ca](rec); !ca.GetIsOttCaEnrollmentEnabled() {
			return nil, api.Invalid("caId", "the CA does not allow ottca enrollment (isOttCaEnrollmentEnabled is false)", req.caID)
		}
		e.CaId = req.caID
	case edge.MethodUPDB:
		if aerr := checkUsername("username", req.username); aerr != nil {
			return nil, aerr
		}
		if _, err := rd.Lookup(fsm.AuthenticatorUsername, req.username); err == nil {
			return nil, api.Invalid("username", "is already in use", req.username)
		}
		e.Username = req.username
	}
	if aerr := s.mint(rd, e, req.identityID, req.expiresAt); aerr != nil {
		return nil, aerr
	}
	return e, nil
}

// maxEnrollmentLifetime bounds how far ahead an enrollment may expire. It
// also keeps expiresAt inside what unix nanoseconds can hold (year 2262).
const maxEnrollmentLifetime = 10 * 365 * 24 * time.Hour

// checkExpiry accepts an enrollment expiry in the future and at most
// maxEnrollmentLifetime away.
func checkExpiry(exp time.Time) *api.Error {
	now := time.Now()
	switch {
	case !exp.After(now):
		return api.Invalid("expiresAt", "must be in the future", api.Time(exp))
	case exp.After(now.Add(maxEnrollmentLifetime)):
		return api.Invalid("expiresAt", "must be at most 10 years from now", api.Time(exp))
	}
	return nil
}

// readExpiresAt reads the body {expiresAt} of refresh and re-enroll.
func readExpiresAt(r *http.Request) (time.Time, *api.Error) {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return time.Time{}, aerr
	}
	exp, ok, aerr := o.Time("expiresAt")
	if aerr != nil {
		return time.Time{}, aerr
	}
	if !ok {
		return time.Time{}, api.Invalid("expiresAt", "expiresAt is required", nil)
	}
	if aerr := checkExpiry(exp); aerr != nil {
		return time.Time{}, aerr
	}
	return exp, nil
}

func (s *Server) createEnrollment(w http.ResponseWriter, r *http.Request) error {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	req := enrollmentRequest{}
	for _, f := range []string{"method", "identityId", "expiresAt"} {
		if !o.Has(f) || o.IsNull(f) {
			return api.Invalid(f, f+" is required", nil)
		}
	}
	if req.method, _, aerr = o.String("method"); aerr != nil {
		return aerr
	}
	if req.identityID, _, aerr = o.String("identityId"); aerr != nil {
		return aerr
	}
	if req.expiresAt, _, aerr = o.Time("expiresAt"); aerr != nil {
		return aerr
	}
	if req.caID, _, aerr = o.String("caId"); aerr != nil {
		return aerr
	}
	if req.username, _, aerr = o.String("username"); aerr != nil {
		return aerr
	}
	id := uuid.NewString()
	var op *pb.Op
	err := s.store.View(func(rd *fsm.Reader) error {
		e, aerr := s.newIdentityEnrollment(rd, req, true)
		if aerr != nil {
			return aerr
		}
		var err error
		op, err = fsm.CreateOp(fsm.KindEnrollment, id, e, nil)
		return err
	})
	if err != nil {
		return api.As(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "enrollments", id)
	return nil
}

func (s *Server) getEnrollment(w http.ResponseWriter, r *http.Request) error {
	var d map[string]any
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindEnrollment, mux.Vars(r)["id"])
		if err != nil {
			return err
		}
		e, _ := fsm.As[*pb.Enrollment](rec)
		d = renderEnrollment(rd, rec, e)
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	api.WriteData(w, http.StatusOK, d, api.Meta{})
	return nil
}

func (s *Server) deleteEnrollment(w http.ResponseWriter, r *http.Request) error {
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindEnrollment, mux.Vars(r)["id"]))
}

// refreshEnrollment gives an enrollment a new token, JWT and expiry; the old
// token stops working in the same apply.
func (s *Server) refreshEnrollment(w http.ResponseWriter, r *http.Request) error {
	exp, aerr := readExpiresAt(r)
	if aerr != nil {
		return aerr
	}
	id := mux.Vars(r)["id"]
	var op *pb.Op
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindEnrollment, id)
		if err != nil {
			return api.NotFoundOr(err)
		}
		e, _ := fsm.As[*pb.Enrollment](rec)
		subject := e.GetIdentityId()
		if subject == "" {
			subject = e.GetEdgeRouterId()
		}
		if aerr := s.mint(rd, e, subject, exp); aerr != nil {
			return aerr
		}
		op, err = fsm.PatchOp(fsm.KindEnrollment, id, e, nil, "token", "expires_at", "jwt", "issued_by")
		return err
	})
	if err != nil {
		return api.As(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	// Refresh answers the create envelope with 200, not 201.
	api.WriteData(w, http.StatusOK, map[string]any{"id": id, "_links": api.Links("./enrollments/" + id)}, api.Meta{})
	return nil
}

// reEnrollAuthenticator turns an authenticator back into an enrollment of
// the same kind (updb → updb, cert → ott, cert from a CA → ottca), deleting
// the authenticator in the same command, as OpenZiti does.
func (s *Server) reEnrollAuthenticator(w http.ResponseWriter, r *http.Request) error {
	exp, aerr := readExpiresAt(r)
	if aerr != nil {
		return aerr
	}
	authID := mux.Vars(r)["id"]
	enrollID := uuid.NewString()
	var ops []*pb.Op
	err := s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindAuthenticator, authID)
		if err != nil {
			return api.NotFoundOr(err)
		}
		a, _ := fsm.As[*pb.Authenticator](rec)
		req := enrollmentRequest{method: edge.MethodOTT, identityID: a.GetIdentityId(), expiresAt: exp}
		switch {
		case a.GetMethod() == "updb":
			req.method, req.username = edge.MethodUPDB, a.GetUsername()
		case a.GetCaId() != "":
			req.method, req.caID = edge.MethodOTTCA, a.GetCaId()
			// An ottca enrollment its CA refuses could never be used.
			if crec, err := rd.Get(fsm.KindCa, a.GetCaId()); err == nil {
				if ca, _ := fsm.As[*pb.Ca](crec); !ca.GetIsOttCaEnrollmentEnabled() {
					return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict,
						Message: "the authenticator's CA does not allow ottca enrollment (isOttCaEnrollmentEnabled is false); enable it or delete the authenticator"}
				}
			}
		}
		// The authenticator is deleted in the same command, so the checks
		// for an existing credential do not apply.
		e := &pb.Enrollment{Method: req.method, IdentityId: req.identityID, CaId: req.caID, Username: req.username}
		if aerr := s.mint(rd, e, req.identityID, exp); aerr != nil {
			return aerr
		}
		create, err := fsm.CreateOp(fsm.KindEnrollment, enrollID, e, nil)
		ops = []*pb.Op{fsm.DeleteOp(fsm.KindAuthenticator, authID), create}
		return err
	})
	if err != nil {
		return api.As(err)
	}
	if aerr := s.apply(r, ops...); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "enrollments", enrollID)
	return nil
}
