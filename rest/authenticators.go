package rest

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// maxCertBody bounds a PEM certificate received in a body: a client or CA
// certificate is a few KiB.
const maxCertBody = 64 << 10

// authenticators declares /authenticators: an identity's credentials, a
// password (updb) or a certificate (cert). Password hashes never leave the
// store; the filter names are OpenZiti's (identity, certFingerprint,
// updbUsername) besides the rendered ones.
func (s *Server) authenticators() *Resource {
	return &Resource{
		Kind: fsm.KindAuthenticator, Path: "authenticators",
		Fields: []Field{
			{Name: "method", Proto: "method", Type: Enum, Values: []string{"updb", "cert"}, Required: OnCreate, Access: CreateOnly},
			{Name: "identityId", Proto: "identity_id", Type: Ref, RefKind: fsm.KindIdentity, RefPath: "identities", RefName: "identity",
				Required: OnCreate, Access: CreateOnly, Filter: []string{"identity", "identityId"}, Index: fsm.AuthenticatorIdentity},
			// The spec requires username and password on PUT; only updb
			// authenticators have them, so checkAuthenticator requires them.
			{Name: "username", Proto: "username", Type: String, Min: edge.MinUsername, Max: edge.MaxUsername, NotNull: true,
				OmitEmpty: true, Filter: []string{"updbUsername", "username"}, Index: fsm.AuthenticatorUsername},
			{Name: "password", Type: String, Min: edge.MinPassword, Max: edge.MaxPassword, Access: WriteOnly, NotNull: true},
			{Name: "certPem", Proto: "cert_pem", Type: String, Max: maxCertBody, Access: CreateOnly, OmitEmpty: true},
			{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly, OmitEmpty: true,
				Filter: []string{"certFingerprint", "fingerprint"}, Index: fsm.AuthenticatorFingerprint},
			{Name: "isIssuedByNetwork", Proto: "is_issued_by_network", Type: Bool, Access: ReadOnly},
			{Name: "isExtendRequested", Proto: "is_extend_requested", Type: Bool, Access: ReadOnly},
			{Name: "isKeyRollRequested", Proto: "is_key_roll_requested", Type: Bool, Access: ReadOnly},
			{Name: "extendRequestedAt", Proto: "extend_requested_at", Type: DateTime, Access: ReadOnly, Nullable: true},
		},
		Check: s.checkAuthenticator,
	}
}

// ownAuthenticators declares /current-identity/authenticators: the
// caller's own, where a change needs the current password too. Another
// identity's authenticator is "not found", not "forbidden".
func (s *Server) ownAuthenticators() *Resource {
	own := *s.authenticators()
	own.Fields = append(slices.Clone(own.Fields), Field{Name: "currentPassword", Type: String, Max: edge.MaxPassword,
		Required: OnPut | OnPatch, Access: WriteOnly, NotNull: true})
	own.Scope = func(r *http.Request) (Scope, error) {
		return Scope{By: fsm.AuthenticatorIdentity, Key: callerOf(r).identity.ID}, nil
	}
	check := own.Check
	own.Check = func(w *Write) error {
		// countCurrentPassword checked it already, unless the body did not
		// get that far; then it is checked here (uncounted: such a body
		// names no password of this identity's to guess).
		if checked, _ := w.R.Context().Value(currentPasswordKey).(string); checked != w.ID {
			current, _, _ := w.In.String("currentPassword")
			if err := s.acquireHashing(w.R); err != nil {
				return err
			}
			ok, err := edge.VerifyPassword(w.Old.(*pb.Authenticator).GetPasswordHash(), current)
			s.releaseHashing()
			if err != nil || !ok {
				return api.Invalid("currentPassword", "does not match the current password", nil)
			}
		}
		return check(w)
	}
	return &own
}

type currentPasswordCtx struct{}

// currentPasswordKey marks a request whose currentPassword
// countCurrentPassword verified, with the authenticator's id.
var currentPasswordKey currentPasswordCtx

// countCurrentPassword checks the currentPassword of a change to the
// caller's own updb authenticator before the change is read, counting a
// wrong one as a failed login (the auth policy's lockout), so a stolen
// session cannot guess the password here without limit.
func (s *Server) countCurrentPassword(next http.HandlerFunc) http.HandlerFunc {
	return api.Handle(func(w http.ResponseWriter, r *http.Request) error {
		data, aerr := api.ReadBody(r, api.MaxBody)
		if aerr != nil {
			return aerr
		}
		r.Body = io.NopCloser(bytes.NewReader(data))
		in, aerr := api.ParseObject(data)
		current, has, _ := in.String("currentPassword")
		if aerr != nil || !has {
			next(w, r) // the update answers the bad body
			return nil
		}
		c := callerOf(r)
		id := mux.Vars(r)["id"]
		rec, err := s.store.Get(fsm.KindAuthenticator, id)
		if err != nil || rec.Body.(*pb.Authenticator).GetIdentityId() != c.identity.ID || rec.Body.(*pb.Authenticator).GetMethod() != "updb" {
			next(w, r) // not the caller's password: the update answers
			return nil
		}
		// As a login: one check per username at a time, and the identity
		// read again once it is this request's turn, so parallel guesses
		// see the lockout the previous ones replicated.
		unlock, err := s.passwordChecks.lock(r.Context(), rec.Body.(*pb.Authenticator).GetUsername())
		if err != nil {
			return busyKey()
		}
		defer unlock()
		if irec, err := s.store.Get(fsm.KindIdentity, c.identity.ID); err != nil || edge.IsDisabled(irec.Body.(*pb.Identity), time.Now()) {
			return api.Unauthorized()
		}
		// A key reused for another request is refused before the
		// password is checked: no guess may be checked uncounted.
		if retry, aerr := s.rs.Retried(r); retry && aerr != nil && aerr.Code == api.CodeIdempotencyKeyReused {
			return aerr
		}
		if err := s.acquireHashing(r); err != nil {
			return err
		}
		ok, verr := edge.VerifyPassword(rec.Body.(*pb.Authenticator).GetPasswordHash(), current)
		s.releaseHashing()
		if verr != nil || !ok {
			// A retry whose first attempt changed the password: the
			// update answers that attempt's result, and nothing is
			// counted. (A first attempt that failed changed nothing:
			// this is a wrong password, and it counts.)
			if retry, aerr := s.rs.Retried(r); retry && aerr == nil {
				next(w, r)
				return nil
			}
			policy, err := s.loginPolicy(&identityRec{c.identity, c.ident})
			if err != nil {
				return api.Unhandled(err)
			}
			if aerr := s.countFailedLogin(r, c.identity.ID, policy.GetPrimary().GetUpdb()); aerr != nil {
				return aerr
			}
			return api.Invalid("currentPassword", "does not match the current password", nil)
		}
		next(w, r.WithContext(context.WithValue(r.Context(), currentPasswordKey, id)))
		return nil
	})
}

// checkAuthenticator: what a method needs (updb a username and password,
// cert a certificate); passwords are hashed here, before replication, so
// every node stores the same hash.
func (s *Server) checkAuthenticator(w *Write) error {
	a := w.Body.(*pb.Authenticator)
	if a.GetMethod() != "updb" && (w.In.Has("username") || w.In.Has("password")) {
		if w.Mode != Create {
			return api.Invalid("method", "only updb authenticators have a username and password", a.GetMethod())
		}
		a.Username = ""
	}
	switch a.GetMethod() {
	case "updb":
		if w.Mode != Patch && a.GetUsername() == "" {
			return api.Invalid("username", "username is required", nil)
		}
		password, ok, _ := w.In.String("password")
		if w.Mode != Patch && !ok {
			return api.Invalid("password", "password is required", nil)
		}
		if ok {
			if aerr := checkPassword(w.Reader, a.GetIdentityId(), "password", password); aerr != nil {
				return aerr
			}
			if err := s.acquireHashing(w.R); err != nil {
				return err
			}
			defer s.releaseHashing()
			hash, err := s.hasher.Hash(password)
			if err != nil {
				return err
			}
			a.PasswordHash = hash
			w.Set("password_hash")
		}
	case "cert":
		if w.Mode != Create {
			return nil
		}
		cert, aerr := parseClientCert("certPem", a.GetCertPem())
		if aerr != nil {
			return aerr
		}
		a.CertPem, a.Fingerprint = string(pki.EncodeCertificatesPEM(cert)), pki.Fingerprint(cert)
		// Certificates a member's intermediate signed are the network's
		// own, and only those may later be extended.
		a.IsIssuedByNetwork = s.issuedByNetwork(w.Reader, cert)
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

// checkUsername enforces the spec's username length where a username is
// not a declared field (enrollments).
func checkUsername(field, v string) *api.Error {
	if n := len(v); n < edge.MinUsername || n > edge.MaxUsername || api.BadText(v) != "" {
		return api.Invalid(field, "must be 4 to 100 characters", nil)
	}
	return nil
}
