package edge

import (
	"fmt"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Enrollment methods, as OpenZiti names them in enrollment.method and the
// JWT's em claim; MethodCA is the em claim of a CA's auto-enrollment JWT.
const (
	MethodOTT   = "ott"
	MethodOTTCA = "ottca"
	MethodUPDB  = "updb"
	MethodEROTT = "erott"
	MethodCA    = "ca"
)

// DefaultEnrollmentLifetime is how long an enrollment token stays valid when
// the caller does not say: OpenZiti's default (180 minutes) for identities
// and routers.
const DefaultEnrollmentLifetime = 3 * time.Hour

// Minter makes enrollment tokens and signs the JWTs that carry them.
type Minter struct {
	// Signer signs enrollment and CA JWTs: the key of the API certificate,
	// with the cluster's public URL as issuer. nil: this node cannot mint
	// (ErrNoSigner).
	Signer *TokenSigner
	// NetworkSigner signs network JWTs: this node's signing key.
	NetworkSigner *TokenSigner
	Trust         *Trust
	// NodeID is recorded as the enrollment's issuer.
	NodeID string
}

// Mint fills e's token, expiry, issuer and JWT. subject is the identity or
// router id the token enrolls. The JWT is signed by this node's key and
// names every member, so any node can serve the enrollment and the client
// can check the signature against /enroll/jwks from any node. rd is the
// caller's read view.
func (m *Minter) Mint(rd *fsm.Reader, e *pb.Enrollment, subject string, expiresAt time.Time) error {
	if m.Signer == nil {
		return ErrNoSigner
	}
	e.Token = uuid.NewString()
	e.ExpiresAt = expiresAt.UnixNano()
	e.IssuedBy = m.NodeID
	members, err := Members(rd)
	if err != nil {
		return fmt.Errorf("read members: %w", err)
	}
	claims := trust.EnrollmentClaims{
		EnrollmentMethod: e.GetMethod(),
		Controllers:      m.Trust.ClientURLs(members),
		CA:               e.GetCaId(),
		Roots:            m.Trust.RootFingerprints(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    m.Signer.Issuer,
			Subject:   subject,
			Audience:  jwt.ClaimStrings{""},
			ExpiresAt: jwt.NewNumericDate(expiresAt),
			IssuedAt:  jwt.NewNumericDate(time.Now()),
			ID:        e.Token,
		},
	}
	signed, err := m.Signer.Sign(claims)
	if err != nil {
		return fmt.Errorf("sign enrollment JWT: %w", err)
	}
	e.Jwt = signed
	return nil
}

// CAJWT is a CA's auto-enrollment JWT (em "ca", sub and jti the CA id),
// naming every member in ctrls. It carries no secret: enrolling still needs
// a certificate the CA signed.
func (m *Minter) CAJWT(rd *fsm.Reader, caID string) (string, error) {
	if m.Signer == nil {
		return "", ErrNoSigner
	}
	members, err := Members(rd)
	if err != nil {
		return "", fmt.Errorf("read members: %w", err)
	}
	signed, err := m.Signer.Sign(trust.EnrollmentClaims{
		EnrollmentMethod: MethodCA,
		Controllers:      m.Trust.ClientURLs(members),
		Roots:            m.Trust.RootFingerprints(),
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: m.Signer.Issuer, Subject: caID, ID: caID,
			Audience: jwt.ClaimStrings{""}, IssuedAt: jwt.NewNumericDate(time.Now()),
		},
	})
	if err != nil {
		return "", fmt.Errorf("sign CA enrollment JWT: %w", err)
	}
	return signed, nil
}

// NetworkJWT is the network JWT (em "network"): signed by this node's key
// (so it verifies with /enroll/jwks from any node), naming issuer (this
// node's API URL) and every member's Edge Client API URL in ctrls. It has
// no expiry, like OpenZiti's: it only points at the network, whose keys the
// client then checks with challenges.
func (m *Minter) NetworkJWT(rd *fsm.Reader, issuer string, now time.Time) (string, error) {
	if m.NetworkSigner == nil {
		return "", ErrNoSigner
	}
	members, err := Members(rd)
	if err != nil {
		return "", fmt.Errorf("read members: %w", err)
	}
	alg, err := pki.JWSAlgorithm(m.NetworkSigner.Key.Public())
	if err != nil {
		return "", fmt.Errorf("network JWT: %w", err)
	}
	claims := trust.NetworkClaims{
		EnrollmentMethod: trust.EnrollmentMethodNetwork,
		Controllers:      m.Trust.ClientURLs(members),
		RegisteredClaims: jwt.RegisteredClaims{
			// There is no network id apart from its controllers; OpenZiti
			// uses the issuer as subject too.
			Issuer: issuer, Subject: issuer, Audience: jwt.ClaimStrings{trust.AudienceEnroller},
			IssuedAt: jwt.NewNumericDate(now), ID: uuid.NewString(),
		},
	}
	tok := jwt.NewWithClaims(jwt.GetSigningMethod(alg), claims)
	tok.Header["kid"] = m.NetworkSigner.KeyID
	signed, err := tok.SignedString(m.NetworkSigner.Key)
	if err != nil {
		return "", fmt.Errorf("sign network JWT: %w", err)
	}
	return signed, nil
}
