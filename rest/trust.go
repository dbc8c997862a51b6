package rest

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"slices"

	"github.com/go-jose/go-jose/v4"
	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Network trust: what a client fetches, without a session, to check that it
// talks to the genuine network before it sends anything. All of it is built
// from the replicated controller records, so every node answers the same
// whichever one a load balancer picks, and members that are offline are
// still included.

func (s *Server) routeTrust(client, mgmt *mux.Router) {
	for _, router := range []*mux.Router{client, mgmt} {
		router.Handle("/.well-known/est/cacerts", api.Handle(s.wellKnownCACerts)).Methods(http.MethodGet)
		router.Handle("/network-jwts", api.Handle(s.listNetworkJWTs)).Methods(http.MethodGet)
	}
	client.Handle("/enroll/jwks", api.Handle(s.enrollJWKS)).Methods(http.MethodGet)
	client.Handle("/enroll/challenge", api.Handle(s.enrollChallenge)).Methods(http.MethodPost)
}

// member is one controller record with its parsed signing chain.
type member struct {
	rec   *pb.Controller
	chain []*x509.Certificate
}

// members returns every controller record in id order; chain is nil for a
// record whose signing certificate does not parse.
func (s *Server) members() ([]member, error) {
	var out []member
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		out, err = membersIn(rd)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read controller records: %w", err)
	}
	return out, nil
}

// membersIn is members within an open read view.
func membersIn(rd *fsm.Reader) ([]member, error) {
	var out []member
	err := rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
		c, ok := fsm.As[*pb.Controller](rec)
		if !ok {
			return nil
		}
		m := member{rec: c}
		if c.GetSigningCertPem() != "" {
			// An unreadable record must not hide the other members.
			m.chain, _ = pki.ParseCertificatesPEM([]byte(c.GetSigningCertPem()))
		}
		out = append(out, m)
		return nil
	})
	return out, err
}

// intermediates are the CA certificates of the members' signing chains (each
// node's intermediate) and this node's own, for the moment before its
// record is replicated: the CAs that issue the cluster's certificates.
func (s *Server) intermediates(members []member) []*x509.Certificate {
	var certs []*x509.Certificate
	for _, m := range members {
		for _, c := range m.chain {
			if c.IsCA {
				certs = append(certs, c)
			}
		}
	}
	if s.cfg.Issuer != nil {
		certs = append(certs, s.cfg.Issuer.IssuerChain()...)
	}
	return pki.UniqueCerts(certs)
}

// trustBundle is the cluster root(s) followed by every member's
// intermediate, each once, in a stable order.
func (s *Server) trustBundle(members []member) []*x509.Certificate {
	return pki.UniqueCerts(append(append([]*x509.Certificate(nil), s.cfg.CACerts...), s.intermediates(members)...))
}

// caBundle is the trust bundle as the certificate answers (enrollment,
// session certificates, extension) carry it: what a client must trust to
// verify any node and any certificate the cluster issues.
func (s *Server) caBundle() ([]*x509.Certificate, error) {
	members, err := s.members()
	if err != nil {
		return nil, err
	}
	return s.trustBundle(members), nil
}

// clientURLs is every member's Edge Client API URL, this node's own first
// included even before its record is replicated; sorted, each once.
func (s *Server) clientURLs(members []member) []string {
	ctrls := []string{s.cfg.AdvertiseURL + ClientBase}
	for _, m := range members {
		for _, a := range m.rec.GetApiAddresses()[APIEdgeClient].GetAddresses() {
			if a.GetUrl() != "" {
				ctrls = append(ctrls, a.GetUrl())
			}
		}
	}
	slices.Sort(ctrls)
	return slices.Compact(ctrls)
}

// wellKnownCACerts answers the trust bundle as base64 PKCS#7, the EST
// /cacerts form OpenZiti's SDKs read.
func (s *Server) wellKnownCACerts(w http.ResponseWriter, r *http.Request) error {
	members, err := s.members()
	if err != nil {
		return api.Unhandled(err)
	}
	body, err := trust.EncodeBundle(s.trustBundle(members))
	if err != nil {
		return api.Unhandled(fmt.Errorf("encode trust bundle: %w", err))
	}
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// enrollJWKS answers every member's public signing key as a JWKS (no
// envelope: the spec's jwks is the standard document).
func (s *Server) enrollJWKS(w http.ResponseWriter, r *http.Request) error {
	members, err := s.members()
	if err != nil {
		return api.Unhandled(err)
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	seen := map[string]bool{}
	for _, m := range members {
		if len(m.chain) == 0 {
			continue
		}
		jwk, err := pki.SigningJWK(m.chain)
		if err != nil {
			s.log.Warn("member's signing certificate cannot be published", "member", m.rec.GetName(), "err", err)
			continue
		}
		if !seen[jwk.KeyID] {
			seen[jwk.KeyID] = true
			set.Keys = append(set.Keys, jwk)
		}
	}
	api.WriteJSON(w, http.StatusOK, set)
	return nil
}
