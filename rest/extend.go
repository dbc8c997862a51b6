package rest

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// maxClientCertPEM bounds the certificate PEM extend-verify reads; the leaf
// and a few CA certificates fit many times over.
const maxClientCertPEM = 64 << 10

func errCannotUpdateAuthenticator(why string) *api.Error {
	return &api.Error{Status: http.StatusConflict, Code: api.CodeCanNotUpdateAuthenticator,
		Message: "The authenticator cannot be updated in this fashion", CauseMessage: why}
}

func errInvalidClientCert(why string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeInvalidClientCert,
		Message: "The provided client certificate is invalid",
		Cause:   &api.FieldError{Field: "clientCert", Reason: why}, CauseMessage: "clientCert: " + why}
}

// extendAuthenticator signs a new client certificate for the caller's own
// network-issued cert authenticator from a CSR (which may carry a new key).
// The new certificate is only stored as pending: the current one stays the
// authenticator's certificate until the client proves receipt through
// extend-verify. As the spec says and OpenZiti does, the request must come
// over TLS with the current certificate, so a stolen session token alone
// cannot move the identity to a key the thief holds.
// loadOwnAuthenticator reads the caller's own authenticator named in the
// URL; another identity's is "not found", not "forbidden".
func (s *Server) loadOwnAuthenticator(r *http.Request) (*fsm.Record, *pb.Authenticator, *api.Error) {
	rec, a, aerr := load[*pb.Authenticator](s, r, fsm.KindAuthenticator)
	if aerr != nil {
		return nil, nil, aerr
	}
	if a.GetIdentityId() != callerOf(r).identity.ID {
		return nil, nil, api.NotFound()
	}
	return rec, a, nil
}

func (s *Server) extendAuthenticator(w http.ResponseWriter, r *http.Request) error {
	rec, a, aerr := s.loadOwnAuthenticator(r)
	if aerr != nil {
		return aerr
	}
	if a.GetMethod() != "cert" || a.GetCertPem() == "" {
		return errCannotUpdateAuthenticator("only certificate authenticators can be extended")
	}
	if !a.GetIsIssuedByNetwork() {
		return errCannotUpdateAuthenticator("the certificate was not issued by this network; only network-issued certificates can be extended")
	}
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 || pki.Fingerprint(r.TLS.PeerCertificates[0]) != a.GetFingerprint() {
		aerr := api.Unauthorized()
		aerr.CauseMessage = "extending a certificate requires presenting that certificate in the TLS handshake"
		return aerr
	}
	csrPEM, aerr := requiredString(r, "clientCertCsr")
	if aerr != nil {
		return aerr
	}
	sc, aerr := s.signClientCSR("clientCertCsr", csrPEM, a.GetIdentityId(), 0)
	if aerr != nil {
		return aerr
	}
	a.UnverifiedCertPem = string(pki.EncodeCertificatesPEM(sc.cert))
	a.UnverifiedFingerprint = pki.Fingerprint(sc.cert)
	op, err := fsm.PatchOp(fsm.KindAuthenticator, rec.ID, a, nil, "unverified_cert_pem", "unverified_fingerprint")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	// A retry (the same Idempotency-Key) is deduplicated onto its first
	// attempt, whose certificate stays the pending one; answering this
	// request's own would hand the client one extend-verify refuses. What
	// is stored is the answer.
	return s.writePendingExtension(w, rec.ID, sc)
}

// writePendingExtension answers extend with the authenticator's pending
// certificate, its issuer chain and the CA bundle; sc is the certificate
// this request signed, whose chain is at hand when it is the pending one.
func (s *Server) writePendingExtension(w http.ResponseWriter, authID string, sc *signedCert) error {
	rec, err := s.store.Get(fsm.KindAuthenticator, authID)
	if err != nil {
		return api.NotFoundOr(err)
	}
	a, _ := fsm.As[*pb.Authenticator](rec)
	if sc != nil && a.GetUnverifiedFingerprint() == pki.Fingerprint(sc.cert) {
		api.WriteData(w, http.StatusOK, map[string]any{"clientCert": sc.chainPEM, "ca": sc.caPEM}, api.Meta{})
		return nil
	}
	if a.GetUnverifiedCertPem() == "" {
		return errCannotUpdateAuthenticator("the extension the first attempt of this request (the same " + api.IdempotencyHeader +
			") started is no longer pending; a new request with a new key starts another")
	}
	certs, err := pki.ParseCertificatesPEM([]byte(a.GetUnverifiedCertPem()))
	if err != nil {
		return api.Unhandled(fmt.Errorf("authenticator %s: pending certificate: %w", authID, err))
	}
	bundle, err := s.caBundle()
	if err != nil {
		return api.Unhandled(err)
	}
	chain := append(certs[:1], pki.IssuerChainIn(certs[0], bundle)...)
	api.WriteData(w, http.StatusOK, map[string]any{"clientCert": string(pki.EncodeCertificatesPEM(chain...)),
		"ca": string(pki.EncodeCertificatesPEM(bundle...))}, api.Meta{})
	return nil
}

// verifyExtendAuthenticator makes the pending certificate the
// authenticator's certificate once the client hands it back. The swap and
// the clearing of the pending fields are one patch, so from that apply on,
// on every node, only the new certificate matches the authenticator.
func (s *Server) verifyExtendAuthenticator(w http.ResponseWriter, r *http.Request) error {
	// The body is read first, its error kept for later: a retry whose
	// first attempt cleared the pending extension gets that attempt's
	// answer, which needs the body's fingerprint.
	certPEM, bodyErr := requiredString(r, "clientCert")
	rec, a, aerr := s.loadOwnAuthenticator(r)
	if aerr != nil {
		return aerr
	}
	if a.GetMethod() != "cert" {
		return errCannotUpdateAuthenticator("only certificate authenticators can be extended")
	}
	if a.GetUnverifiedCertPem() == "" || a.GetUnverifiedFingerprint() == "" {
		if retry, err := s.rs.RetriedEmpty(w, r); retry {
			return err
		}
		return errCannotUpdateAuthenticator("no extension is pending for this authenticator")
	}
	if bodyErr != nil {
		return bodyErr
	}
	if aerr := checkPendingCert(certPEM, a.GetUnverifiedFingerprint()); aerr != nil {
		return aerr
	}
	a.CertPem, a.Fingerprint = a.GetUnverifiedCertPem(), a.GetUnverifiedFingerprint()
	a.UnverifiedCertPem, a.UnverifiedFingerprint = "", ""
	a.IsExtendRequested, a.IsKeyRollRequested, a.ExtendRequestedAt = false, false, 0
	op, err := fsm.PatchOp(fsm.KindAuthenticator, rec.ID, a, nil,
		"cert_pem", "fingerprint", "unverified_cert_pem", "unverified_fingerprint",
		"is_extend_requested", "is_key_roll_requested", "extend_requested_at")
	if err != nil {
		return api.Unhandled(err)
	}
	return s.applyEmpty(w, r, op)
}

// checkPendingCert checks that certPEM, as a client sends it to
// extend-verify, is the certificate with the pending fingerprint. The
// client may send back the leaf alone or the chain extend returned; the
// leaf comes first either way.
func checkPendingCert(certPEM, pendingFingerprint string) *api.Error {
	if len(certPEM) > maxClientCertPEM {
		return errInvalidClientCert(fmt.Sprintf("larger than %d bytes", maxClientCertPEM))
	}
	certs, err := pki.ParseCertificatesPEM([]byte(certPEM))
	if err != nil {
		return errInvalidClientCert(err.Error())
	}
	if pendingFingerprint == "" || pki.Fingerprint(certs[0]) != pendingFingerprint {
		return errInvalidClientCert("does not match the certificate issued by the pending extension")
	}
	return nil
}

// issuedByNetwork reports whether cert was signed by the intermediate CA of
// a cluster member (this node's issuer, or one found in a member's
// registered signing chain) for client authentication: the certificates
// extension may renew. The chain is checked at a moment inside the
// certificate's own validity, so an expired certificate is still recognised
// as the network's.
func (s *Server) issuedByNetwork(rd *fsm.Reader, cert *x509.Certificate) bool {
	members, err := edge.Members(rd)
	if err != nil || cert.IsCA {
		return false
	}
	inters := s.trust.Intermediates(members)
	if len(inters) == 0 {
		return false
	}
	anchors := pki.NewCertPool(inters...)
	at := time.Now()
	if at.After(cert.NotAfter) {
		at = cert.NotAfter
	}
	if at.Before(cert.NotBefore) {
		at = cert.NotBefore
	}
	_, err = cert.Verify(x509.VerifyOptions{
		Roots:       anchors,
		CurrentTime: at,
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	})
	return err == nil
}

// requestExtend answers POST /authenticators/{id}/request-extend: an admin
// asks the identity to extend its network-issued certificate (and, with
// rollKeys, to make a new key). The identity's clients see it in their
// API session (isCertExtendRequested, isCertKeyRollRequested) and an
// extension clears it. Only such certificates can be extended: another
// authenticator is a 403, as the spec documents.
func (s *Server) requestExtend(w http.ResponseWriter, r *http.Request) error {
	in, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	roll, _, aerr := in.Bool("rollKeys")
	if aerr != nil {
		return aerr
	}
	if retry, err := s.rs.RetriedEmpty(w, r); retry {
		return err
	}
	rec, a, aerr := load[*pb.Authenticator](s, r, fsm.KindAuthenticator)
	if aerr != nil {
		return aerr
	}
	if a.GetMethod() != "cert" || !a.GetIsIssuedByNetwork() {
		return &api.Error{Status: http.StatusForbidden, Code: api.CodeCanNotUpdateAuthenticator,
			Message: "Only certificate authenticators issued by this network can be extended"}
	}
	op, err := fsm.PatchOp(fsm.KindAuthenticator, rec.ID,
		&pb.Authenticator{IsExtendRequested: true, IsKeyRollRequested: roll, ExtendRequestedAt: time.Now().UnixNano()}, nil,
		"is_extend_requested", "is_key_roll_requested", "extend_requested_at")
	if err != nil {
		return api.Unhandled(err)
	}
	if aerr := s.apply(r, op); aerr != nil {
		return aerr
	}
	api.WriteEmpty(w)
	return nil
}
