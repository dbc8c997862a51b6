package rest

import (
	"crypto/x509"
	"fmt"
	"net/http"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest/api"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Enrollment methods, as OpenZiti names them in enrollment.method and the
// JWT's em claim.
const (
	methodOTT   = "ott"
	methodOTTCA = "ottca"
	methodUPDB  = "updb"
	methodEROTT = "erott"
)

// defaultEnrollmentLifetime is how long an enrollment token stays valid when
// the caller does not say: OpenZiti's default (180 minutes) for identities
// and routers.
const defaultEnrollmentLifetime = 3 * time.Hour

// mintEnrollment fills e's token, expiry, issuer and JWT. subject is the
// identity or router id the token enrolls. The JWT is signed by this node's
// key and names every member, so any node can serve the enrollment and the
// client can check the signature against /enroll/jwks from any node.
func (s *Server) mintEnrollment(rd *fsm.Reader, e *pb.Enrollment, subject string, expiresAt time.Time) *api.Error {
	signer := s.cfg.Signer
	if signer == nil {
		return &api.Error{Status: http.StatusServiceUnavailable, Code: api.CodeUnhandled,
			Message: "this node has no signing key and cannot issue enrollment tokens"}
	}
	e.Token = uuid.NewString()
	e.ExpiresAt = expiresAt.UnixNano()
	e.IssuedBy = s.node.ID()
	// Callers hold a read view: reading the members in it, not in a view
	// of their own, because a nested read waits for a waiting writer (a
	// growing apply, a restore) that waits for the outer read: deadlock.
	members, err := membersIn(rd)
	if err != nil {
		return api.Unhandled(err)
	}
	ctrls := s.clientURLs(members)
	claims := trust.EnrollmentClaims{
		EnrollmentMethod: e.GetMethod(),
		Controllers:      ctrls,
		CA:               e.GetCaId(),
		Roots:            rootFingerprints(s.cfg.CACerts),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    signer.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{""},
			ExpiresAt: jwt.NewNumericDate(expiresAt),
			IssuedAt:  jwt.NewNumericDate(time.Now()),
			ID:        e.Token,
		},
	}
	signed, err := signer.sign(claims)
	if err != nil {
		return api.Unhandled(fmt.Errorf("sign enrollment JWT: %w", err))
	}
	e.Jwt = signed
	return nil
}

// rootFingerprints are the SHA-256 fingerprints enrollment JWTs pin the
// network's roots with.
func rootFingerprints(roots []*x509.Certificate) []string {
	out := make([]string, len(roots))
	for i, c := range roots {
		out[i] = pki.FingerprintSHA256(c)
	}
	return out
}
