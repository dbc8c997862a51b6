package rest

import (
	"crypto/x509"
	"fmt"
	"net/http"

	"github.com/go-jose/go-jose/v4"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Network trust: what a client fetches, without a session, to check that it
// talks to the genuine network before it sends anything. All of it is built
// from the replicated controller records, so every node answers the same
// whichever one a load balancer picks, and members that are offline are
// still included.

// members returns every controller record in id order.
func (s *Server) members() ([]edge.Member, error) {
	var out []edge.Member
	err := s.store.View(func(rd *fsm.Reader) error {
		var err error
		out, err = edge.Members(rd)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read controller records: %w", err)
	}
	return out, nil
}

// caBundle is the trust bundle as the certificate answers (enrollment,
// session certificates, extension) carry it: what a client must trust to
// verify any node and any certificate the cluster issues.
func (s *Server) caBundle() ([]*x509.Certificate, error) {
	members, err := s.members()
	if err != nil {
		return nil, err
	}
	return s.trust.Bundle(members), nil
}

// wellKnownCACerts answers the trust bundle as base64 PKCS#7, the EST
// /cacerts form OpenZiti's SDKs read.
func (s *Server) wellKnownCACerts(w http.ResponseWriter, r *http.Request) error {
	members, err := s.members()
	if err != nil {
		return api.Unhandled(err)
	}
	body, err := trust.EncodeBundle(s.trust.Bundle(members))
	if err != nil {
		return api.Unhandled(fmt.Errorf("encode trust bundle: %w", err))
	}
	w.Header().Set("Content-Type", "application/pkcs7-mime")
	w.Header().Set("Content-Transfer-Encoding", "base64")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
	return nil
}

// enrollJWKS answers every member's public signing key and API key as a
// JWKS (no envelope: the spec's jwks is the standard document), each key
// once.
func (s *Server) enrollJWKS(w http.ResponseWriter, r *http.Request) error {
	set, err := s.memberJWKS()
	if err != nil {
		return api.Unhandled(err)
	}
	api.WriteJSON(w, http.StatusOK, set)
	return nil
}

// memberJWKS is every member's public signing key and API key, each once:
// it verifies every token and JWT any member signs.
func (s *Server) memberJWKS() (jose.JSONWebKeySet, error) {
	members, err := s.members()
	if err != nil {
		return jose.JSONWebKeySet{}, err
	}
	set := jose.JSONWebKeySet{Keys: []jose.JSONWebKey{}}
	seen := map[string]bool{}
	for _, m := range members {
		for _, chain := range m.Keys() {
			jwk, err := pki.SigningJWK(chain)
			if err != nil {
				s.log.Warn("member's certificate cannot be published", "member", m.Record.GetName(), "err", err)
				continue
			}
			if !seen[jwk.KeyID] {
				seen[jwk.KeyID] = true
				set.Keys = append(set.Keys, jwk)
			}
		}
	}
	return set, nil
}
