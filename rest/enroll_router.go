package rest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Router enrollment on the Edge Client API. POST /enroll/erott trades a
// router's one-time token and two CSRs (client and server) for certificates
// signed by this node's intermediate; POST /enroll/extend/router renews both
// for a router that presents its current client certificate over mutual TLS.

func errCSR(field, reason string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeCouldNotProcessCSR,
		Message: "The supplied csr could not be processed",
		Cause:   &api.FieldError{Field: field, Reason: reason}, CauseMessage: field + ": " + reason}
}

func errMissingCSR(field string) *api.Error {
	return &api.Error{Status: http.StatusBadRequest, Code: api.CodeMissingOrInvalidCSR,
		Message: "The supplied enrollment request is missing or contains an invalid CSR",
		Cause:   &api.FieldError{Field: field, Reason: field + " is required"}, CauseMessage: field + " is required"}
}

// csrNames are the body fields a router's two CSRs may come in. The spec
// names them clientCsr/serverCsr for erott and certCsr/serverCertCsr for
// extend, while OpenZiti routers send certCsr/serverCertCsr to both: the
// first name is the endpoint's own, used in errors about a missing CSR.
type csrNames struct{ client, server []string }

var (
	erottCSRNames  = csrNames{client: []string{"clientCsr", "certCsr"}, server: []string{"serverCsr", "serverCertCsr"}}
	extendCSRNames = csrNames{client: []string{"certCsr", "clientCsr"}, server: []string{"serverCertCsr", "serverCsr"}}
)

// csrField returns the first of names present in o with its PEM text; the
// first name and "" if none is.
func csrField(o api.Object, names []string) (string, string, *api.Error) {
	for _, n := range names {
		v, ok, err := o.String(n)
		if err != nil {
			return n, "", err
		}
		if ok {
			return n, v, nil
		}
	}
	return names[0], "", nil
}

// routerCerts are the certificates signed for one router request.
type routerCerts struct {
	client, server *x509.Certificate
}

// signRouterCSRs checks both CSRs of o and signs them with this node's
// intermediate: the client certificate (clientAuth, subject from the CSR,
// which must name the router by id as OpenZiti requires) and the server
// certificate (serverAuth, the CSR's DNS and IP names). Nothing is stored.
func (s *Server) signRouterCSRs(o api.Object, routerID string, names csrNames) (*routerCerts, *api.Error) {
	clientField, clientPEM, aerr := csrField(o, names.client)
	if aerr != nil {
		return nil, aerr
	}
	serverField, serverPEM, aerr := csrField(o, names.server)
	if aerr != nil {
		return nil, aerr
	}
	if serverPEM == "" {
		return nil, errMissingCSR(serverField)
	}
	if clientPEM == "" {
		return nil, errMissingCSR(clientField)
	}
	clientCSR, err := pki.ParseCSR([]byte(clientPEM))
	if err != nil {
		return nil, errCSR(clientField, err.Error())
	}
	if clientCSR.Subject.CommonName != routerID {
		return nil, errCSR(clientField, fmt.Sprintf("the common name must be the router's id %q", routerID))
	}
	serverCSR, err := pki.ParseCSR([]byte(serverPEM))
	if err != nil {
		return nil, errCSR(serverField, err.Error())
	}
	name, err := s.controllerName(serverCSR)
	if err != nil {
		return nil, api.Unhandled(err)
	}
	if name != "" {
		return nil, errCSR(serverField, fmt.Sprintf("%q is a controller's address; a router certificate must not name it", name))
	}
	issuer := s.cfg.Issuer
	if issuer == nil {
		return nil, &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnhandled,
			Message: "this node has no issuing CA and cannot sign router certificates"}
	}
	certs := &routerCerts{}
	if certs.client, err = issuer.SignClientCSR(pki.ClientCertRequest{CSR: clientCSR}); err != nil {
		return nil, signError(clientField, err)
	}
	if certs.server, err = issuer.SignServerCSR(serverCSR, 0); err != nil {
		return nil, signError(serverField, err)
	}
	return certs, nil
}

func signError(field string, err error) *api.Error {
	if errors.Is(err, pki.ErrBadCSR) {
		return errCSR(field, err.Error())
	}
	return api.Unhandled(fmt.Errorf("sign %s: %w", field, err))
}

// patchOp records certs as the router's current certificates.
func (c *routerCerts) patchOp(routerID string) (*pb.Op, error) {
	er := &pb.EdgeRouter{
		CertPem:       string(pki.EncodeCertificatesPEM(c.client)),
		Fingerprint:   pki.Fingerprint(c.client),
		ServerCertPem: string(pki.EncodeCertificatesPEM(c.server)),
		IsVerified:    true,
	}
	return fsm.PatchOp(fsm.KindEdgeRouter, routerID, er, nil,
		"cert_pem", "fingerprint", "server_cert_pem", "is_verified", "unverified_cert_pem", "unverified_fingerprint")
}

// writeRouterCerts answers the spec's enrollmentCerts: each certificate
// followed by the chain up to (not including) the root, and the CAs to
// trust.
func (s *Server) writeRouterCerts(w http.ResponseWriter, c *routerCerts) error {
	cas, err := s.caBundle()
	if err != nil {
		return api.Unhandled(err)
	}
	chain := s.cfg.Issuer.IssuerChain()
	api.WriteData(w, http.StatusOK, map[string]any{
		"cert":       string(pki.EncodeCertificatesPEM(append([]*x509.Certificate{c.client}, chain...)...)),
		"serverCert": string(pki.EncodeCertificatesPEM(append([]*x509.Certificate{c.server}, chain...)...)),
		"ca":         string(pki.EncodeCertificatesPEM(cas...)),
	}, api.Meta{})
	return nil
}

// enrollEdgeRouter is POST /enroll/erott. The token comes in the body (as
// the spec has it) or in the query (as OpenZiti routers send it).
func (s *Server) enrollEdgeRouter(w http.ResponseWriter, r *http.Request) error {
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	token, _, aerr := o.String("token")
	if aerr != nil {
		return aerr
	}
	if token == "" {
		token = r.URL.Query().Get("token")
	}
	enrollment, e, aerr := s.enrollmentByToken(r, token)
	if aerr != nil {
		return aerr
	}
	if e.GetMethod() != edge.MethodEROTT || e.GetEdgeRouterId() == "" {
		return errInvalidToken()
	}
	certs, aerr := s.signRouterCSRs(o, e.GetEdgeRouterId(), erottCSRNames)
	if aerr != nil {
		return aerr
	}
	patch, err := certs.patchOp(e.GetEdgeRouterId())
	if err != nil {
		return api.Unhandled(err)
	}
	// Consuming the token and storing the certificates are one command
	// (see consume): exactly one enrollment wins whichever nodes the
	// attempts reached.
	if aerr := s.consume(r, enrollment, patch); aerr != nil {
		return aerr
	}
	return s.writeRouterCerts(w, certs)
}

// extendRouterEnrollment is POST /enroll/extend/router: a router presenting
// its current client certificate gets new client and server certificates
// (possibly for a new key); from then on only the new client certificate
// is its own.
func (s *Server) extendRouterEnrollment(w http.ResponseWriter, r *http.Request) error {
	routerID, aerr := s.routerOfPeer(r)
	if aerr != nil {
		return aerr
	}
	o, aerr := api.DecodeObject(r)
	if aerr != nil {
		return aerr
	}
	certs, aerr := s.signRouterCSRs(o, routerID, extendCSRNames)
	if aerr != nil {
		return aerr
	}
	patch, err := certs.patchOp(routerID)
	if err != nil {
		return api.Unhandled(err)
	}
	// A router has an outstanding enrollment exactly while it is not
	// enrolled (re-enroll clears its certificates and creates one in one
	// command). Creating and deleting a placeholder enrollment in this
	// command therefore fails, through the one-enrollment-per-router index,
	// if a re-enroll got in between the check above and this write, so a
	// re-enrolled router cannot win its old certificate back.
	guardID := uuid.NewString()
	guard, err := fsm.CreateOp(fsm.KindEnrollment, guardID, &pb.Enrollment{Method: edge.MethodEROTT, EdgeRouterId: routerID}, nil)
	if err != nil {
		return api.Unhandled(err)
	}
	res, aerr := s.applyResult(r, guard, fsm.DeleteOp(fsm.KindEnrollment, guardID), patch)
	if aerr != nil {
		return aerr
	}
	switch res.GetCode() {
	case pb.Result_CONFLICT, pb.Result_REFERENCE_MISSING, pb.Result_NOT_FOUND:
		if res.GetField() != "fingerprint" {
			return api.Unauthorized()
		}
	}
	if aerr := api.FromResult(res); aerr != nil {
		return aerr
	}
	return s.writeRouterCerts(w, certs)
}

// routerOfPeer returns the id of the enrolled router whose current client
// certificate the request presented over mutual TLS, or 401.
func (s *Server) routerOfPeer(r *http.Request) (string, *api.Error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return "", api.Unauthorized()
	}
	leaf := r.TLS.PeerCertificates[0]
	// The chain is checked first (still valid, issued by a cluster CA), so
	// that only certificates of this cluster can cost a catch-up below.
	cas, err := s.caBundle()
	if err != nil {
		return "", api.Unhandled(err)
	}
	opts := x509.VerifyOptions{Roots: pki.NewCertPool(cas...), Intermediates: pki.NewCertPool(r.TLS.PeerCertificates[1:]...),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	if _, err := leaf.Verify(opts); err != nil {
		s.log.Debug("router certificate refused", "requestId", api.RequestID(r), "err", err)
		return "", api.Unauthorized()
	}
	// The fingerprint says it is the certificate this cluster last issued
	// to the router.
	fingerprint := pki.Fingerprint(leaf)
	var id string
	err = s.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Lookup(fsm.EdgeRouterFingerprint, fingerprint)
		if err != nil {
			return err
		}
		// The index also holds unverified fingerprints, which do not
		// authenticate.
		if er, _ := fsm.As[*pb.EdgeRouter](rec); er.GetFingerprint() != fingerprint {
			return fmt.Errorf("fingerprint is not current: %w", fsm.ErrNotFound)
		}
		id = rec.ID
		return nil
	})
	if errors.Is(err, fsm.ErrNotFound) {
		return "", api.Unauthorized()
	}
	if err != nil {
		return "", api.As(err)
	}
	return id, nil
}

// controllerName returns a DNS name or IP of the CSR that a member
// advertises (API or cluster address), or "". The router's server
// certificate chains to the root clients trust for controllers, so it must
// not be valid for a controller's name. Loopback IPs are allowed: only a
// local process could use them, and a router beside a controller on one
// host is a normal test setup.
func (s *Server) controllerName(csr *x509.CertificateRequest) (string, error) {
	members, err := s.members()
	if err != nil {
		return "", err
	}
	hosts := map[string]bool{}
	addURL := func(raw string) {
		if u, err := url.Parse(raw); err == nil && u.Hostname() != "" {
			hosts[strings.ToLower(u.Hostname())] = true
		}
	}
	for _, m := range members {
		// ctrl_address is "tls:host:port"; as a URL its host part is opaque,
		// so give it a scheme url.Parse understands.
		addURL("tls://" + strings.TrimPrefix(m.Record.GetCtrlAddress(), "tls:"))
		for _, list := range m.Record.GetApiAddresses() {
			for _, a := range list.GetAddresses() {
				addURL(a.GetUrl())
			}
		}
	}
	addURL(s.cfg.AdvertiseURL)
	for _, n := range csr.DNSNames {
		if hosts[strings.ToLower(n)] {
			return n, nil
		}
	}
	for _, ip := range csr.IPAddresses {
		if !ip.IsLoopback() && hosts[ip.String()] {
			return ip.String(), nil
		}
	}
	return "", nil
}
