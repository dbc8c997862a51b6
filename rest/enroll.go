package rest

import (
	"crypto/x509"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Client enrollment: a one-time token (minted on any node) is exchanged for
// a credential. The token is consumed by deleting its enrollment in the same
// Raft command that creates the credential; if two nodes race with one
// token, the second delete finds nothing, the whole second command fails,
// and exactly one client gets a credential.

func errInvalidToken() *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidEnrollmentToken,
		Message: "The supplied enrollment token is not valid: unknown, already used, or for another enrollment method"}
}

// enrollmentByToken finds the enrollment of token (the request's read
// barrier makes one minted through another node a moment ago visible).
func (s *Server) enrollmentByToken(r *http.Request, token string) (*fsm.Record, *pb.Enrollment, *api.Error) {
	if _, err := uuid.Parse(token); err != nil {
		return nil, nil, errInvalidToken()
	}
	var rec *fsm.Record
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		rec, err = rd.Lookup(fsm.EnrollmentToken, token)
		return err
	})
	if isNotFound(err) {
		return nil, nil, errInvalidToken()
	}
	if err != nil {
		return nil, nil, api.As(err)
	}
	e, _ := fsm.As[*pb.Enrollment](rec)
	if time.Now().After(time.Unix(0, e.GetExpiresAt())) {
		return nil, nil, &api.Error{Status: http.StatusBadRequest, Code: api.CodeEnrollmentExpired,
			Message: "The enrollment token has expired; ask an administrator to refresh the enrollment"}
	}
	return rec, e, nil
}

// consume replicates the credential-creating ops together with the deletion
// of the enrollment, on condition that the enrollment still has the token
// the client presented: a refresh between lookup and apply replaces it. A
// NOT_FOUND means the token was consumed or replaced first.
func (s *Server) consume(r *http.Request, e *fsm.Record, ops ...*pb.Op) *api.Error {
	en, _ := fsm.As[*pb.Enrollment](e)
	all := append([]*pb.Op{
		fsm.ExpectOp(fsm.EnrollmentToken, en.GetToken(), e.ID),
		fsm.DeleteOp(fsm.KindEnrollment, e.ID),
	}, ops...)
	aerr := s.apply(r, all...)
	if aerr != nil && aerr.Code == api.CodeNotFound {
		return errInvalidToken()
	}
	return aerr
}

// enrollInput is what the enroll endpoints read from the request: JSON
// fields, or a bare PEM CSR for clients that post one as
// application/x-pem-file or text/plain.
type enrollInput struct {
	token              string
	csr                string
	username, password string
	hasPassword        bool
}

func readEnrollInput(r *http.Request, csrFields ...string) (enrollInput, *api.Error) {
	in := enrollInput{token: r.URL.Query().Get("token")}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct == "application/x-pem-file" || ct == "text/plain" {
		data, err := io.ReadAll(io.LimitReader(r.Body, pki.MaxCSRBytes+1))
		if err != nil {
			return in, api.BadBody(err)
		}
		in.csr = string(data)
		return in, nil
	}
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return in, aerr
	}
	if v, ok, aerr := o.String("token"); aerr != nil {
		return in, aerr
	} else if ok && in.token == "" {
		in.token = v
	}
	for _, f := range csrFields {
		if v, ok, aerr := o.String(f); aerr != nil {
			return in, aerr
		} else if ok && v != "" {
			in.csr = v
			break
		}
	}
	if in.username, _, aerr = o.String("username"); aerr != nil {
		return in, aerr
	}
	if in.password, in.hasPassword, aerr = o.String("password"); aerr != nil {
		return in, aerr
	}
	return in, nil
}

// enrollGeneric serves POST /enroll?token=…[&method=…]: the enrollment's own
// method decides what the request must carry.
func (s *Server) enrollGeneric(w http.ResponseWriter, r *http.Request) error {
	// Methods whose requests have a shape of their own.
	switch r.URL.Query().Get("method") {
	case edge.MethodCA:
		return s.enrollCA(w, r)
	case edge.MethodEROTT:
		return s.enrollEdgeRouter(w, r)
	}
	in, aerr := readEnrollInput(r, "certCsr", "clientCsr", "csr")
	if aerr != nil {
		return aerr
	}
	rec, e, aerr := s.enrollmentByToken(r, in.token)
	if aerr != nil {
		return aerr
	}
	if m := r.URL.Query().Get("method"); m != "" && m != e.GetMethod() {
		return errInvalidToken()
	}
	switch e.GetMethod() {
	case edge.MethodOTT:
		return s.finishOTT(w, r, rec, e, in.csr, "certCsr")
	case edge.MethodOTTCA:
		return s.finishOTTCA(w, r, rec, e)
	case edge.MethodUPDB:
		return s.finishUPDB(w, r, rec, e, in)
	}
	return errInvalidToken()
}

// enrollmentFor reads an enroll request and finds its enrollment, which
// must be of method.
func (s *Server) enrollmentFor(r *http.Request, method string, csrFields ...string) (enrollInput, *fsm.Record, *pb.Enrollment, *api.Error) {
	in, aerr := readEnrollInput(r, csrFields...)
	if aerr != nil {
		return in, nil, nil, aerr
	}
	rec, e, aerr := s.enrollmentByToken(r, in.token)
	if aerr != nil {
		return in, nil, nil, aerr
	}
	if e.GetMethod() != method {
		return in, nil, nil, errInvalidToken()
	}
	return in, rec, e, nil
}

func (s *Server) enrollOTT(w http.ResponseWriter, r *http.Request) error {
	in, rec, e, aerr := s.enrollmentFor(r, edge.MethodOTT, "clientCsr", "certCsr")
	if aerr != nil {
		return aerr
	}
	return s.finishOTT(w, r, rec, e, in.csr, "clientCsr")
}

func (s *Server) enrollOTTCA(w http.ResponseWriter, r *http.Request) error {
	_, rec, e, aerr := s.enrollmentFor(r, edge.MethodOTTCA)
	if aerr != nil {
		return aerr
	}
	return s.finishOTTCA(w, r, rec, e)
}

func (s *Server) enrollUPDB(w http.ResponseWriter, r *http.Request) error {
	in, rec, e, aerr := s.enrollmentFor(r, edge.MethodUPDB)
	if aerr != nil {
		return aerr
	}
	return s.finishUPDB(w, r, rec, e, in)
}

// finishOTT signs the CSR and stores the certificate as the identity's cert
// authenticator.
func (s *Server) finishOTT(w http.ResponseWriter, r *http.Request, rec *fsm.Record, e *pb.Enrollment, csrPEM, field string) error {
	if strings.TrimSpace(csrPEM) == "" {
		return api.Invalid(field, "a PEM certificate signing request is required", nil)
	}
	sc, aerr := s.signClientCSR(field, csrPEM, e.GetIdentityId(), 0)
	if aerr != nil {
		return aerr
	}
	auth := &pb.Authenticator{IdentityId: e.GetIdentityId(), Method: "cert", IsIssuedByNetwork: true,
		CertPem: string(pki.EncodeCertificatesPEM(sc.cert)), Fingerprint: pki.Fingerprint(sc.cert)}
	op, err := fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), auth, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.consume(r, rec, op); aerr != nil {
		return aerr
	}
	api.WriteData(w, http.StatusOK, map[string]any{"cert": sc.chainPEM, "ca": sc.caPEM}, api.Meta{})
	return nil
}

// finishOTTCA binds the client certificate presented over mutual TLS, which
// the enrollment's third-party CA must have issued, to the identity.
func (s *Server) finishOTTCA(w http.ResponseWriter, r *http.Request, rec *fsm.Record, e *pb.Enrollment) error {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotValidate,
			Message: "ottca enrollment needs the client certificate issued by the enrollment's CA, presented over TLS"}
	}
	leaf := r.TLS.PeerCertificates[0]
	var ca *pb.Ca
	err := s.store.View(func(rd *fsm.Reader) error {
		crec, err := rd.Get(fsm.KindCa, e.GetCaId())
		if err != nil {
			return err
		}
		ca, _ = fsm.As[*pb.Ca](crec)
		return nil
	})
	if err != nil {
		return api.NotFoundOr(err)
	}
	if !ca.GetIsVerified() || !ca.GetIsOttCaEnrollmentEnabled() {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotValidate,
			Message: "the enrollment's CA is not verified or does not allow ottca enrollment"}
	}
	roots, err := pki.ParseCertificatesPEM([]byte(ca.GetCertPem()))
	if err != nil {
		return api.Unhandled(err)
	}
	_, err = leaf.Verify(x509.VerifyOptions{Roots: pki.NewCertPool(roots...),
		Intermediates: pki.NewCertPool(r.TLS.PeerCertificates[1:]...), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		return &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotValidate,
			Message: "the client certificate was not issued by the enrollment's CA", CauseMessage: err.Error()}
	}
	auth := &pb.Authenticator{IdentityId: e.GetIdentityId(), Method: "cert", CaId: e.GetCaId(),
		CertPem: string(pki.EncodeCertificatesPEM(leaf)), Fingerprint: pki.Fingerprint(leaf)}
	op, err := fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), auth, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.consume(r, rec, op); aerr != nil {
		return aerr
	}
	api.WriteData(w, http.StatusOK, map[string]any{}, api.Meta{})
	return nil
}

// finishUPDB sets the identity's password under the username the
// enrollment was created with.
func (s *Server) finishUPDB(w http.ResponseWriter, r *http.Request, rec *fsm.Record, e *pb.Enrollment, in enrollInput) error {
	if in.username != "" && in.username != e.GetUsername() {
		return api.Invalid("username", "must be the username of the enrollment, "+e.GetUsername(), in.username)
	}
	if !in.hasPassword {
		return api.Invalid("password", "password is required", nil)
	}
	if n := len(in.password); n < edge.MinPassword || n > edge.MaxPassword {
		return api.Invalid("password", "must be 5 to 100 characters", nil)
	}
	var rules *api.Error
	if err := s.store.View(func(rd *fsm.Reader) error {
		rules = checkPassword(rd, e.GetIdentityId(), "password", in.password)
		return nil
	}); err != nil {
		return api.Unhandled(err)
	}
	if rules != nil {
		return rules
	}
	if aerr := s.acquireHashing(r); aerr != nil {
		return aerr
	}
	hash, err := s.hasher.Hash(in.password)
	s.releaseHashing()
	if err != nil {
		return api.Unhandled(err)
	}
	auth := &pb.Authenticator{IdentityId: e.GetIdentityId(), Method: "updb", Username: e.GetUsername(), PasswordHash: hash}
	op, err := fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), auth, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.consume(r, rec, op); aerr != nil {
		return aerr
	}
	// The spec's empty object, carrying the username as OpenZiti's
	// controllers since 1.6 do: the SDK logs in with it afterwards, and
	// only the admin who created the enrollment chose it.
	api.WriteData(w, http.StatusOK, map[string]any{"username": e.GetUsername()}, api.Meta{})
	return nil
}
