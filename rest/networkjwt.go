package rest

import (
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// listNetworkJWTs answers one network JWT, as OpenZiti does: signed by this
// node's key (so it verifies with /enroll/jwks from any node), naming this
// node as issuer and every member's Edge Client API URL in ctrls. It has no
// expiry, like OpenZiti's: it only points at the network, whose keys the
// client then checks with challenges. It is signed afresh per request
// because the member list changes.
func (s *Server) listNetworkJWTs(w http.ResponseWriter, r *http.Request) error {
	items := []map[string]string{}
	if s.cfg.Signer != nil {
		token, err := s.networkJWT(time.Now())
		if err != nil {
			return api.Unhandled(err)
		}
		items = append(items, map[string]string{"name": trust.DefaultNetworkJWTName, "token": token})
	}
	api.WriteData(w, http.StatusOK, items, api.Meta{})
	return nil
}

func (s *Server) networkJWT(now time.Time) (string, error) {
	members, err := s.members()
	if err != nil {
		return "", err
	}
	ctrls := s.clientURLs(members)

	signer := s.cfg.Signer
	alg, err := pki.JWSAlgorithm(signer.Key.Public())
	if err != nil {
		return "", fmt.Errorf("network JWT: %w", err)
	}
	issuer := s.cfg.AdvertiseURL
	claims := trust.NetworkClaims{
		EnrollmentMethod: trust.EnrollmentMethodNetwork,
		Controllers:      ctrls,
		RegisteredClaims: jwt.RegisteredClaims{
			// There is no network id apart from its controllers; OpenZiti
			// uses the issuer as subject too.
			Issuer: issuer, Subject: issuer, Audience: jwt.ClaimStrings{trust.AudienceEnroller},
			IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		},
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	tok.Header["kid"] = signer.KeyID
	signed, err := tok.SignedString(signer.Key)
	if err != nil {
		return "", fmt.Errorf("sign network JWT: %w", err)
	}
	return signed, nil
}
