package rest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// maxSessionCerts bounds the certificates one API session may hold, so a
// session cannot grow the replicated state without limit. A client needs
// one, or two while it rolls over to a fresh one.
const maxSessionCerts = 16

// sessionCertsPath is the collection path of API session certificates; the
// spec defines it on the client API only.
const sessionCertsPath = "current-api-session/certificates"

// errBadCSR answers a refused certificate signing request as OpenZiti does,
// naming the request field that held it.
func errBadCSR(field string, err error) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotProcessCSR,
		Message: "The supplied csr could not be processed",
		Cause:   &api.FieldError{Field: field, Reason: err.Error()}, CauseMessage: field + ": " + err.Error()}
}

// requiredString reads a JSON body whose one required field is a
// non-empty string, such as a PEM CSR or certificate.
func requiredString(r *http.Request, field string) (string, *api.Error) {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return "", aerr
	}
	v, _, aerr := o.String(field)
	if aerr != nil {
		return "", aerr
	}
	if v == "" {
		return "", api.Invalid(field, field+" is required", nil)
	}
	return v, nil
}

// issuer is the CA this node signs client certificates with.
func (s *Server) issuer() (*pki.CA, *api.Error) {
	if s.cfg.Issuer == nil {
		return nil, api.Unhandled(errors.New("this node has no issuing CA configured"))
	}
	return s.cfg.Issuer, nil
}

// signedCert is a client certificate signed from a CSR, with what the
// answer carries: the leaf and issuer chain, and the cluster CA bundle.
type signedCert struct {
	cert     *x509.Certificate
	chainPEM string
	// caPEM is the cluster CA bundle (root and every member's intermediate),
	// what the spec's "ca" and "cas" fields carry, so a client can use it as
	// its trust store. It is read before the certificate is stored, so a
	// failure to read it never follows a committed write.
	caPEM string
}

// refuseMemberSubject refuses a CSR whose subject names a cluster member:
// a client certificate keeps the CSR's subject, and one the cluster's CA
// signed with CN=node1 would pass for that member wherever a name is read
// from a certificate.
func (s *Server) refuseMemberSubject(field string, csr *x509.CertificateRequest) *api.Error {
	cn := strings.TrimSpace(csr.Subject.CommonName)
	if cn == "" {
		return nil
	}
	named := s.node != nil && strings.EqualFold(cn, s.node.ID())
	if !named {
		_ = s.store.View(func(rd *fsm.Reader) error {
			return rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
				if strings.EqualFold(cn, rec.ID) || strings.EqualFold(cn, rec.Body.(*pb.Controller).GetName()) {
					named = true
				}
				return nil
			})
		})
	}
	if named {
		return errBadCSR(field, fmt.Errorf("the subject's common name %q is a cluster member's; choose another", cn))
	}
	return nil
}

// signClientCSR parses a PEM CSR from field and signs a client certificate
// for identityID with this node's issuer.
func (s *Server) signClientCSR(field, csrPEM, identityID string, validity time.Duration) (*signedCert, *api.Error) {
	ca, aerr := s.issuer()
	if aerr != nil {
		return nil, aerr
	}
	csr, err := pki.ParseCSR([]byte(csrPEM))
	if err != nil {
		return nil, errBadCSR(field, err)
	}
	if aerr := s.refuseMemberSubject(field, csr); aerr != nil {
		return nil, aerr
	}
	bundle, err := s.caBundle()
	if err != nil {
		return nil, api.Unhandled(err)
	}
	cert, err := ca.SignClientCSR(pki.ClientCertRequest{CSR: csr, IdentityID: identityID, TrustDomain: s.cfg.TrustDomain, Validity: validity})
	if errors.Is(err, pki.ErrBadCSR) {
		return nil, errBadCSR(field, err)
	}
	if err != nil {
		return nil, api.Unhandled(fmt.Errorf("sign client certificate: %w", err))
	}
	chain := append([]*x509.Certificate{cert}, ca.IssuerChain()...)
	return &signedCert{cert: cert, chainPEM: string(pki.EncodeCertificatesPEM(chain...)),
		caPEM: string(pki.EncodeCertificatesPEM(bundle...))}, nil
}

// createSessionCert signs a short-lived client certificate for the caller
// and binds it to the caller's API session: the record references the
// session, so ending the session on any node deletes it in the same apply.
func (s *Server) createSessionCert(w http.ResponseWriter, r *http.Request) error {
	csrPEM, aerr := requiredString(r, "csr")
	if aerr != nil {
		return aerr
	}
	c := callerOf(r)
	// The id comes first: a retry's names what the first attempt created.
	id := s.newID(r)
	var held int
	err := s.store.View(func(rd *fsm.Reader) error {
		ids, err := rd.IDsByIndex(fsm.ApiSessionCertificateSession, c.session.ID)
		held = len(ids)
		return err
	})
	if err != nil {
		return api.Unhandled(err)
	}
	// A retry (the same Idempotency-Key) of a request that took effect
	// answers the certificate stored then, not a new one, and is not
	// refused for the slot the first attempt took. Asked after the count,
	// it sees any attempt the count saw (Store.Retried).
	if retry, aerr := s.rs.Retried(r); retry {
		if aerr != nil {
			return aerr
		}
		return s.writeStoredSessionCert(w, id)
	}
	if held >= maxSessionCerts {
		return api.Invalid("csr", fmt.Sprintf("this API session already holds %d certificates; delete one first", held), nil)
	}
	sc, aerr := s.signClientCSR("csr", csrPEM, c.identity.ID, pki.DefaultSessionCertValidity)
	if aerr != nil {
		return aerr
	}
	cert := sc.cert
	op, err := fsm.CreateOp(fsm.KindApiSessionCertificate, id, &pb.ApiSessionCertificate{
		ApiSessionId: c.session.ID,
		Subject:      cert.Subject.String(),
		Fingerprint:  pki.Fingerprint(cert),
		ValidFrom:    cert.NotBefore.UnixNano(),
		ValidTo:      cert.NotAfter.UnixNano(),
		CertPem:      sc.chainPEM,
	}, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	// A retry sent while its first attempt was still being applied (its
	// client gave up on the answer) is deduplicated onto that attempt: the
	// certificate stored at id is then the first attempt's, not this one.
	chain := sc.chainPEM
	if rec, err := s.store.Get(fsm.KindApiSessionCertificate, id); err == nil {
		if stored, ok := rec.Body.(*pb.ApiSessionCertificate); ok {
			chain = stored.GetCertPem()
		}
	}
	writeSessionCert(w, id, chain, sc.caPEM)
	return nil
}

// writeSessionCert answers a created session certificate: its id, its
// chain (leaf and issuer chain) and the cluster CA bundle.
func writeSessionCert(w http.ResponseWriter, id, chainPEM, caPEM string) {
	api.WriteData(w, http.StatusCreated, map[string]any{
		"id":          id,
		"_links":      api.Links("./" + sessionCertsPath + "/" + id),
		"certificate": chainPEM,
		"cas":         caPEM,
	}, api.Meta{})
}

// writeStoredSessionCert answers a retry of a request that stored session
// certificate id as its first attempt was answered: the chain stored with
// it and the CA bundle.
func (s *Server) writeStoredSessionCert(w http.ResponseWriter, id string) error {
	rec, err := s.store.Get(fsm.KindApiSessionCertificate, id)
	if errors.Is(err, fsm.ErrNotFound) {
		// Deleted since. The spec documents no 404 here.
		return api.Invalid("csr", "the certificate issued to the first attempt of this request (the same "+api.IdempotencyHeader+
			") was deleted since; a new request with a new key makes a new one", id)
	}
	if err != nil {
		return api.Unhandled(err)
	}
	stored, ok := rec.Body.(*pb.ApiSessionCertificate)
	if !ok {
		return api.Unhandled(fmt.Errorf("%s %s has a %T body", fsm.KindApiSessionCertificate, id, rec.Body))
	}
	bundle, err := s.caBundle()
	if err != nil {
		return api.Unhandled(err)
	}
	writeSessionCert(w, id, stored.GetCertPem(), string(pki.EncodeCertificatesPEM(bundle...)))
	return nil
}

// sessionCerts declares /current-api-session/certificates: the caller's
// session's own certificates only. Another session's, even of the same
// identity, is "not found": it is useless outside the session that made it.
func (s *Server) sessionCerts() *Resource {
	return &Resource{
		Kind: fsm.KindApiSessionCertificate, Path: sessionCertsPath,
		Fields: []Field{
			{Name: "subject", Proto: "subject", Type: String, Access: ReadOnly},
			{Name: "fingerprint", Proto: "fingerprint", Type: String, Access: ReadOnly, Index: fsm.ApiSessionCertificateFingerprint},
			{Name: "validFrom", Proto: "valid_from", Type: DateTime, Access: ReadOnly},
			{Name: "validTo", Proto: "valid_to", Type: DateTime, Access: ReadOnly},
			{Name: "certificate", Proto: "cert_pem", Type: String, Access: ReadOnly, NoFilter: true},
			{Name: "apiSessionId", Proto: "api_session_id", Type: String, Access: FilterOnly, Filter: []string{"apiSession"}},
		},
		Scope: func(r *http.Request) (Scope, error) {
			return Scope{By: fsm.ApiSessionCertificateSession, Key: callerOf(r).session.ID}, nil
		},
	}
}
