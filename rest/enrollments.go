package rest

import (
	"net/http"
	"slices"
	"time"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// identityEnrollmentMethods are the methods an admin may create for an
// identity; erott belongs to routers.
var identityEnrollmentMethods = []string{edge.MethodOTT, edge.MethodOTTCA, edge.MethodUPDB}

// enrollments declares /enrollments: one-time tokens bound to what they
// will create (a certificate, a password, a router's certificates). They are
// created and deleted, refreshed and consumed, never edited. Filters take
// OpenZiti's names (identity, edgeRouter, caId, token) and the rendered ones.
func (s *Server) enrollments() *Resource {
	return &Resource{
		Kind: fsm.KindEnrollment, Path: "enrollments",
		Fields: []Field{
			{Name: "method", Proto: "method", Type: Enum, Values: identityEnrollmentMethods, Required: OnCreate, Access: CreateOnly},
			{Name: "identityId", Proto: "identity_id", Type: Ref, RefKind: fsm.KindIdentity, RefPath: "identities", RefName: "identity",
				Required: OnCreate, Access: CreateOnly, OmitEmpty: true, Filter: []string{"identity", "identityId"}, Index: fsm.EnrollmentIdentity},
			{Name: "edgeRouterId", Proto: "edge_router_id", Type: Ref, RefKind: fsm.KindEdgeRouter, RefPath: "edge-routers", RefName: "edgeRouter",
				Access: ReadOnly, OmitEmpty: true, Filter: []string{"edgeRouter", "edgeRouterId"}, Index: fsm.EnrollmentEdgeRouter},
			{Name: "caId", Proto: "ca_id", Type: Ref, RefKind: fsm.KindCa, Access: CreateOnly, Nullable: true, Index: fsm.EnrollmentCA},
			{Name: "username", Proto: "username", Type: String, Access: CreateOnly, OmitEmpty: true},
			{Name: "expiresAt", Proto: "expires_at", Type: DateTime, Required: OnCreate, Access: CreateOnly},
			{Name: "token", Proto: "token", Type: String, Access: ReadOnly, Index: fsm.EnrollmentToken},
			{Name: "jwt", Proto: "jwt", Type: String, Access: ReadOnly, NoFilter: true},
		},
		Check: func(w *Write) error {
			if aerr := s.prepareIdentityEnrollment(w.Reader, w.Body.(*pb.Enrollment), true); aerr != nil {
				return aerr
			}
			return nil
		},
		Render: func(rd *fsm.Reader, rec *fsm.Record, d map[string]any) error {
			// enrollmentDetail requires details; OpenZiti fills it with
			// nothing a client needs.
			d["details"] = map[string]any{}
			// A transit router's enrollment names it as the spec's
			// transitRouter (the edge-router view does not show it).
			if rid := rec.Body.(*pb.Enrollment).GetEdgeRouterId(); rid != "" {
				if r, err := rd.Get(fsm.KindEdgeRouter, rid); err == nil && isTransitRouter(r) {
					delete(d, "edgeRouterId")
					delete(d, "edgeRouter")
					d["transitRouterId"] = rid
					d["transitRouter"] = EntityRef("transit-routers", rid, r.Body.(*pb.EdgeRouter).GetName())
				}
			}
			return nil
		},
	}
}

// enrollmentRequest is what an identity enrollment is made from: the body
// of POST /enrollments, an identity create's enrollment object, or a
// re-enrolled authenticator.
type enrollmentRequest struct {
	method, identityID, caID, username string
	expiresAt                          time.Time
}

// newIdentityEnrollment is the enrollment an identity create asks for, its
// token and JWT minted, for an identity created in the same command.
func (s *Server) newIdentityEnrollment(rd *fsm.Reader, req enrollmentRequest, identityExists bool) (*pb.Enrollment, *api.Error) {
	e := &pb.Enrollment{Method: req.method, IdentityId: req.identityID, CaId: req.caID, Username: req.username,
		ExpiresAt: req.expiresAt.UnixNano()}
	if aerr := s.prepareIdentityEnrollment(rd, e, identityExists); aerr != nil {
		return nil, aerr
	}
	return e, nil
}

// prepareIdentityEnrollment checks an identity enrollment against the
// current state and mints its token and JWT. The identity may be one being
// created in the same command (identityExists false).
func (s *Server) prepareIdentityEnrollment(rd *fsm.Reader, e *pb.Enrollment, identityExists bool) *api.Error {
	if !slices.Contains(identityEnrollmentMethods, e.GetMethod()) {
		return api.Invalid("method", "must be one of ott, ottca, updb", e.GetMethod())
	}
	expiresAt := time.Unix(0, e.GetExpiresAt())
	if aerr := checkExpiry(expiresAt); aerr != nil {
		return aerr
	}
	if identityExists {
		if _, err := rd.Get(fsm.KindIdentity, e.GetIdentityId()); err != nil {
			if isNotFound(err) {
				return api.Invalid("identityId", "no identity with this id exists", e.GetIdentityId())
			}
			return api.Unhandled(err)
		}
		// The credential an enrollment would create must not exist already:
		// one authenticator per method per identity.
		authMethod := "cert"
		if e.GetMethod() == edge.MethodUPDB {
			authMethod = "updb"
		}
		if _, err := rd.Lookup(fsm.AuthenticatorIdentityMethod, fsm.IdentityMethodKey(e.GetIdentityId(), authMethod)); err == nil {
			return api.Conflict("the identity already has a " + authMethod + " authenticator; delete it or re-enroll it first")
		} else if !isNotFound(err) {
			return api.Unhandled(err)
		}
	}
	switch e.GetMethod() {
	case edge.MethodOTTCA:
		if e.GetCaId() == "" {
			return api.Invalid("caId", "is required for ottca enrollments", nil)
		}
		rec, err := rd.Get(fsm.KindCa, e.GetCaId())
		if err != nil {
			if isNotFound(err) {
				return api.Invalid("caId", "no CA with this id exists", e.GetCaId())
			}
			return api.Unhandled(err)
		}
		if ca, _ := fsm.As[*pb.Ca](rec); !ca.GetIsOttCaEnrollmentEnabled() {
			return api.Invalid("caId", "the CA does not allow ottca enrollment (isOttCaEnrollmentEnabled is false)", e.GetCaId())
		}
	case edge.MethodUPDB:
		if aerr := checkUsername("username", e.GetUsername()); aerr != nil {
			return aerr
		}
		if _, err := rd.Lookup(fsm.AuthenticatorUsername, e.GetUsername()); err == nil {
			return api.Invalid("username", "is already in use", e.GetUsername())
		}
		e.CaId = ""
	default:
		e.CaId, e.Username = "", ""
	}
	return s.mint(rd, e, e.GetIdentityId(), expiresAt)
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
	enrollID := s.newID(r)
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
		// A retry finds the authenticator its first attempt deleted.
		if retry, aerr := s.rs.Retried(r); retry {
			if aerr != nil {
				return aerr
			}
			api.WriteCreated(w, "enrollments", enrollID)
			return nil
		}
		return api.As(err)
	}
	if aerr := s.apply(r, ops...); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "enrollments", enrollID)
	return nil
}
