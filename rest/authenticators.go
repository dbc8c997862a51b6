package rest

import (
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/internal/edge"

	"github.com/google/uuid"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

func (s *Server) routeAuthenticators(mgmt, client *mux.Router) {
	mgmt.Handle("/authenticators", s.admin(api.Handle(s.createAuthenticator))).Methods(http.MethodPost)
	mgmt.Handle("/authenticators/{id}", s.admin(api.Handle(s.getAuthenticator(false)))).Methods(http.MethodGet)
	mgmt.Handle("/authenticators/{id}", s.admin(api.Handle(s.updateAuthenticator(false, false)))).Methods(http.MethodPut)
	mgmt.Handle("/authenticators/{id}", s.admin(api.Handle(s.updateAuthenticator(true, false)))).Methods(http.MethodPatch)
	mgmt.Handle("/authenticators/{id}", s.admin(api.Handle(s.deleteAuthenticator))).Methods(http.MethodDelete)
	for _, router := range []*mux.Router{mgmt, client} {
		router.Handle("/current-identity/authenticators/{id}", s.authenticated(api.Handle(s.getAuthenticator(true)))).Methods(http.MethodGet)
		router.Handle("/current-identity/authenticators/{id}", s.authenticated(api.Handle(s.updateAuthenticator(false, true)))).Methods(http.MethodPut)
		router.Handle("/current-identity/authenticators/{id}", s.authenticated(api.Handle(s.updateAuthenticator(true, true)))).Methods(http.MethodPatch)
	}
}

// renderAuthenticator renders authenticatorDetail. Password hashes never
// leave the store.
func renderAuthenticator(rd *fsm.Reader, rec *fsm.Record, a *pb.Authenticator) map[string]any {
	d := baseEntity(rec, "authenticators")
	name := ""
	if irec, err := rd.Get(fsm.KindIdentity, a.GetIdentityId()); err == nil {
		ident, _ := fsm.As[*pb.Identity](irec)
		name = ident.GetName()
	}
	d["method"] = a.GetMethod()
	d["identityId"] = a.GetIdentityId()
	d["identity"] = entityRef("identities", a.GetIdentityId(), name)
	d["isIssuedByNetwork"] = a.GetIsIssuedByNetwork()
	d["isExtendRequested"] = a.GetIsExtendRequested()
	d["isKeyRollRequested"] = a.GetIsKeyRollRequested()
	d["extendRequestedAt"] = nil
	if at := a.GetExtendRequestedAt(); at != 0 {
		d["extendRequestedAt"] = api.Time(time.Unix(0, at))
	}
	switch a.GetMethod() {
	case "updb":
		d["username"] = a.GetUsername()
	case "cert":
		d["certPem"] = a.GetCertPem()
		d["fingerprint"] = a.GetFingerprint()
	}
	return d
}

// checkCredentials enforces the spec's username and password lengths.
func checkUsername(field, v string) *api.Error {
	if n := len(v); n < edge.MinUsername || n > edge.MaxUsername || api.BadText(v) != "" {
		return api.Invalid(field, "must be 4 to 100 characters", nil)
	}
	return nil
}

func checkPassword(field, v string) *api.Error {
	if n := len(v); n < edge.MinPassword || n > edge.MaxPassword {
		return api.Invalid(field, "must be 5 to 100 characters", nil)
	}
	return nil
}

// parseClientCert reads one PEM client certificate.
func parseClientCert(field, certPEM string) (*x509.Certificate, *api.Error) {
	block, rest := pem.Decode([]byte(certPEM))
	if block == nil || block.Type != "CERTIFICATE" || strings.TrimSpace(string(rest)) != "" {
		return nil, api.Invalid(field, "must be exactly one PEM certificate", nil)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, api.Invalid(field, "is not a valid certificate: "+err.Error(), nil)
	}
	return cert, nil
}

func (s *Server) createAuthenticator(w http.ResponseWriter, r *http.Request) error {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	method, _, aerr := o.String("method")
	if aerr != nil {
		return aerr
	}
	identityID, _, aerr := o.String("identityId")
	if aerr != nil {
		return aerr
	}
	if identityID == "" {
		return api.Invalid("identityId", "identityId is required", nil)
	}
	tags, _, aerr := o.Tags("tags")
	if aerr != nil {
		return aerr
	}
	a := &pb.Authenticator{IdentityId: identityID, Method: method}
	switch method {
	case "updb":
		username, _, aerr := o.String("username")
		if aerr != nil {
			return aerr
		}
		password, _, aerr := o.String("password")
		if aerr != nil {
			return aerr
		}
		if aerr := checkUsername("username", username); aerr != nil {
			return aerr
		}
		if aerr := checkPassword("password", password); aerr != nil {
			return aerr
		}
		hash, err := edge.HashPassword(password)
		if err != nil {
			return api.Unhandled(err)
		}
		a.Username, a.PasswordHash = username, hash
	case "cert":
		certPEM, _, aerr := o.String("certPem")
		if aerr != nil {
			return aerr
		}
		cert, aerr := parseClientCert("certPem", certPEM)
		if aerr != nil {
			return aerr
		}
		a.CertPem, a.Fingerprint = string(pki.EncodeCertificatesPEM(cert)), pki.Fingerprint(cert)
		// Certificates a member's intermediate signed are the network's own,
		// and only those may later be extended.
		_ = s.store.View(func(rd *fsm.Reader) error { a.IsIssuedByNetwork = s.issuedByNetwork(rd, cert); return nil })
	case "":
		return api.Invalid("method", "method is required", nil)
	default:
		return api.Invalid("method", "must be updb or cert", method)
	}
	id := uuid.NewString()
	op, err := fsm.CreateOp(fsm.KindAuthenticator, id, a, tags)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	api.WriteCreated(w, "authenticators", id)
	return nil
}

// loadAuthenticator reads the authenticator in the URL; own restricts it
// to the caller's (others are "not found", not "forbidden").
func (s *Server) loadAuthenticator(r *http.Request, own bool) (*fsm.Record, *pb.Authenticator, *api.Error) {
	rec, err := s.store.Get(fsm.KindAuthenticator, mux.Vars(r)["id"])
	if err != nil {
		return nil, nil, api.NotFoundOr(err)
	}
	a, _ := fsm.As[*pb.Authenticator](rec)
	if own && a.GetIdentityId() != callerOf(r).identity.ID {
		return nil, nil, api.NotFound()
	}
	return rec, a, nil
}

func (s *Server) getAuthenticator(own bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, a, aerr := s.loadAuthenticator(r, own)
		if aerr != nil {
			return aerr
		}
		var d map[string]any
		_ = s.store.View(func(rd *fsm.Reader) error { d = renderAuthenticator(rd, rec, a); return nil })
		api.WriteData(w, http.StatusOK, d, api.Meta{})
		return nil
	}
}

// updateAuthenticator changes a updb authenticator's username, password and
// tags. A caller changing their own must prove the current password.
func (s *Server) updateAuthenticator(patch, own bool) func(w http.ResponseWriter, r *http.Request) error {
	return func(w http.ResponseWriter, r *http.Request) error {
		rec, a, aerr := s.loadAuthenticator(r, own)
		if aerr != nil {
			return aerr
		}
		o, aerr := api.DecodeObject(r)
		if aerr != nil {
			return aerr
		}
		if a.GetMethod() != "updb" && (o.Has("username") || o.Has("password")) {
			return api.Invalid("method", "only updb authenticators have a username and password", a.GetMethod())
		}
		if own {
			current, _, aerr := o.String("currentPassword")
			if aerr != nil {
				return aerr
			}
			if current == "" {
				return api.Invalid("currentPassword", "currentPassword is required", nil)
			}
			if ok, err := edge.VerifyPassword(a.GetPasswordHash(), current); err != nil || !ok {
				return api.Invalid("currentPassword", "does not match the current password", nil)
			}
		}
		var fields []string
		if !patch && a.GetMethod() == "updb" {
			for _, f := range []string{"username", "password"} {
				if !o.Has(f) {
					return api.Invalid(f, f+" is required", nil)
				}
			}
		}
		if v, ok, aerr := o.String("username"); aerr != nil {
			return aerr
		} else if ok {
			if aerr := checkUsername("username", v); aerr != nil {
				return aerr
			}
			a.Username = v
			fields = append(fields, "username")
		}
		if v, ok, aerr := o.String("password"); aerr != nil {
			return aerr
		} else if ok {
			if aerr := checkPassword("password", v); aerr != nil {
				return aerr
			}
			hash, err := edge.HashPassword(v)
			if err != nil {
				return api.Unhandled(err)
			}
			a.PasswordHash = hash
			fields = append(fields, "password_hash")
		}
		tags, tagsOK, aerr := o.Tags("tags")
		if aerr != nil {
			return aerr
		}
		if tagsOK || o.Has("tags") || !patch {
			fields = append(fields, "tags")
		}
		op, err := fsm.PatchOp(fsm.KindAuthenticator, rec.ID, a, tags, fields...)
		if err != nil {
			return api.Unhandled(err)
		}
		return s.applyEmpty(w, r, op)
	}
}

func (s *Server) deleteAuthenticator(w http.ResponseWriter, r *http.Request) error {
	rec, _, aerr := s.loadAuthenticator(r, false)
	if aerr != nil {
		return aerr
	}
	return s.applyEmpty(w, r, fsm.DeleteOp(fsm.KindAuthenticator, rec.ID))
}
