package rest

import (
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Certificate authentication: POST /authenticate?method=cert. The API
// listener asks every client for a certificate without requiring one, so
// the handshake has already proven that the client holds the leaf's key;
// what is left is deciding whom the certificate vouches for.

// clientChain is what the client presented in the TLS handshake, leaf first.
// Nothing in it is trusted yet.
func clientChain(r *http.Request) []*x509.Certificate {
	if r.TLS == nil {
		return nil
	}
	return r.TLS.PeerCertificates
}

// clientAuthOptions verifies leaf-to-root for client authentication now,
// with whatever intermediates the client sent added to extra.
func clientAuthOptions(roots *x509.CertPool, chain []*x509.Certificate, extra ...*x509.Certificate) x509.VerifyOptions {
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	for _, c := range extra {
		inter.AddCert(c)
	}
	return x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
}

// chainsToCluster reports whether chain[0] was issued by the cluster's own
// PKI: it must chain to the root through a member's intermediate. The
// members' intermediates come from the replicated controller records (the
// chain after each signing certificate), so a certificate issued by any
// node verifies on every node, whether or not the issuer is online.
func (s *Server) chainsToCluster(rd *fsm.Reader, chain []*x509.Certificate, at time.Time) (bool, error) {
	if len(s.cfg.CACerts) == 0 {
		return false, nil
	}
	members, err := edge.Members(rd)
	if err != nil {
		return false, fmt.Errorf("read members' intermediates: %w", err)
	}
	opts := clientAuthOptions(pki.NewCertPool(s.cfg.CACerts...), chain, s.trust.Intermediates(members)...)
	opts.CurrentTime = at
	chains, verr := chain[0].Verify(opts)
	return verr == nil && issuersValidNow(chains, time.Now()), nil
}

// issuersValidNow reports whether some verified chain's certificates other
// than the leaf are valid now: an expired leaf is verified as of its end,
// but the CAs that vouch for it must still be in force.
func issuersValidNow(chains [][]*x509.Certificate, now time.Time) bool {
	for _, c := range chains {
		ok := true
		for _, cert := range c[1:] {
			if now.Before(cert.NotBefore) || now.After(cert.NotAfter) {
				ok = false
				break
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// caRec is a stored third-party CA.
type caRec struct {
	rec  *fsm.Record
	body *pb.Ca
}

// vouchingCAs returns the verified third-party CAs, among those use
// accepts, to which chain[0] chains for client authentication, in id order.
func vouchingCAs(rd *fsm.Reader, chain []*x509.Certificate, use func(*pb.Ca) bool) ([]caRec, error) {
	return vouchingCAsAt(rd, chain, use, time.Now())
}

// vouchingCAsAt is vouchingCAs with the chain verified as of at.
func vouchingCAsAt(rd *fsm.Reader, chain []*x509.Certificate, use func(*pb.Ca) bool, at time.Time) ([]caRec, error) {
	var out []caRec
	err := rd.ForEach(fsm.KindCa, func(rec *fsm.Record) error {
		ca, _ := fsm.As[*pb.Ca](rec)
		if !ca.GetIsVerified() || !use(ca) {
			return nil
		}
		certs, err := pki.ParseCertificatesPEM([]byte(ca.GetCertPem()))
		if err != nil {
			return nil // stored only after parsing; unreachable unless the store is damaged
		}
		opts := clientAuthOptions(pki.NewCertPool(certs[0]), chain)
		opts.CurrentTime = at
		if chains, err := chain[0].Verify(opts); err == nil && issuersValidNow(chains, time.Now()) {
			out = append(out, caRec{rec, ca})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read CAs: %w", err)
	}
	return out, nil
}

// certLogin logs in the identity of the request's client certificate.
func (s *Server) certLogin(w http.ResponseWriter, r *http.Request, req *authenticateRequest, done loginDone) error {
	chain := clientChain(r)
	if len(chain) == 0 {
		return api.InvalidAuth()
	}
	ident, authID, _, err := s.certIdentity(chain, time.Now())
	if err != nil {
		return api.Unhandled(err)
	}
	// An expired certificate is judged as of its last valid second; the
	// identity's auth policy then says whether expired ones may log in
	// (OpenZiti's default policy lets them, so they can be extended).
	expired := false
	if ident == nil && time.Now().After(chain[0].NotAfter) {
		if ident, authID, _, err = s.certIdentity(chain, chain[0].NotAfter.Add(-time.Second)); err != nil {
			return api.Unhandled(err)
		}
		expired = ident != nil
	}
	if ident == nil || edge.IsDisabled(ident.body, time.Now()) {
		s.log.Debug("certificate login refused", "requestId", api.RequestID(r), "fingerprint", pki.Fingerprint(chain[0]))
		return api.InvalidAuth()
	}
	policy, err := s.loginPolicy(ident)
	if err != nil {
		return api.Unhandled(err)
	}
	cert := policy.GetPrimary().GetCert()
	if !cert.GetAllowed() || (expired && !cert.GetAllowExpiredCerts()) {
		s.log.Debug("certificate login refused by the auth policy", "requestId", api.RequestID(r), "policy", policy.GetName())
		return api.InvalidAuth()
	}
	return done(w, r, req, ident, authID)
}

// certIdentity finds the identity a client certificate logs in as, and the
// cert authenticator that matched ("" for a match by external id), or nil
// if the certificate is not trusted or matches nobody; trusted reports
// whether the chain verified at all. Chains are verified as of at.
//
// Trust comes first: the chain must verify against the cluster's PKI or
// against a verified third-party CA with isAuthEnabled. Then the leaf must
// be a cert authenticator's current certificate (never one whose extension
// is still unverified), and a CA-issued authenticator must belong to a CA
// that vouched for this chain, so a CA whose auth is switched off locks
// its certificates out. Failing that, a vouching CA with an externalIdClaim
// may name the identity by the external id it reads from the certificate.
func (s *Server) certIdentity(chain []*x509.Certificate, at time.Time) (ident *identityRec, authID string, trusted bool, err error) {
	leaf := chain[0]
	fp := pki.Fingerprint(leaf)
	err = s.store.View(func(rd *fsm.Reader) error {
		ours, err := s.chainsToCluster(rd, chain, at)
		if err != nil {
			return err
		}
		cas, err := vouchingCAsAt(rd, chain, (*pb.Ca).GetIsAuthEnabled, at)
		if err != nil {
			return err
		}
		if !ours && len(cas) == 0 {
			return nil
		}
		trusted = true
		rec, err := rd.Lookup(fsm.AuthenticatorFingerprint, fp)
		switch {
		case errors.Is(err, fsm.ErrNotFound):
		case err != nil:
			return err
		default:
			a, _ := fsm.As[*pb.Authenticator](rec)
			if a.GetMethod() == "cert" && a.GetFingerprint() == fp && vouchedFor(a.GetCaId(), ours, cas) {
				ident, err = readIdentity(rd, a.GetIdentityId())
				authID = rec.ID
				return err
			}
		}
		for _, ca := range cas {
			claim := ca.body.GetExternalIdClaim()
			if claim == nil {
				continue
			}
			ext, ok := externalIDOf(claim, leaf)
			if !ok {
				continue
			}
			irec, err := rd.Lookup(fsm.IdentityExternalID, ext)
			if errors.Is(err, fsm.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			body, _ := fsm.As[*pb.Identity](irec)
			ident = &identityRec{irec, body}
			return nil
		}
		return nil
	})
	if err != nil {
		return nil, "", false, err
	}
	return ident, authID, trusted, nil
}

// vouchedFor reports whether a cert authenticator issued by caID ("" for
// one registered by fingerprint alone) is covered by the chain's trust.
func vouchedFor(caID string, ours bool, cas []caRec) bool {
	if caID == "" {
		return ours || len(cas) > 0
	}
	for _, ca := range cas {
		if ca.rec.ID == caID {
			return true
		}
	}
	return false
}

// readIdentity reads one identity; a dangling reference reads as nobody.
func readIdentity(rd *fsm.Reader, id string) (*identityRec, error) {
	irec, err := rd.Get(fsm.KindIdentity, id)
	if errors.Is(err, fsm.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	body, _ := fsm.As[*pb.Identity](irec)
	return &identityRec{irec, body}, nil
}
