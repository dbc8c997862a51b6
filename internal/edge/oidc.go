package edge

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"slices"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// OAuth 2.0 / OpenID Connect tokens of /oidc. Every one is a JWT signed by
// the issuing member's key, so every node verifies every node's tokens and
// nothing but the grant's one-time secret (fsm GrantRotate) is stored. The
// claim z_t says what a token is; a token of one kind is never accepted as
// another.
const (
	// OidcAudience is the audience of access and refresh tokens, as in
	// OpenZiti.
	OidcAudience = "openziti"

	OidcAccess      = "a"  // an access token for the Edge APIs
	OidcRefresh     = "r"  // a refresh token
	OidcID          = "i"  // an ID token (audience: the client)
	OidcCode        = "c"  // an authorization code
	OidcAuthRequest = "ar" // the id of a pending authorization request

	OidcAccessLifetime  = 30 * time.Minute
	OidcRefreshLifetime = 24 * time.Hour
	// OidcLoginLifetime bounds an authorization request from /oidc/authorize
	// to its code: the login, and a TOTP code if one is owed.
	OidcLoginLifetime = 10 * time.Minute
	OidcCodeLifetime  = 2 * time.Minute
)

// Confirmation binds a token to a client certificate (RFC 8705 cnf).
type Confirmation struct {
	X5tS256 string `json:"x5t#S256"`
}

// OidcRequest is what an authorization request asked for; an auth request
// id and the code carry it signed, so any node can continue the flow.
type OidcRequest struct {
	ClientID      string   `json:"cid"`
	RedirectURI   string   `json:"ru"`
	State         string   `json:"st,omitempty"`
	Nonce         string   `json:"no,omitempty"`
	CodeChallenge string   `json:"cc"`
	Scopes        []string `json:"sc,omitempty"`
}

// OidcClaims are the claims of every /oidc token. The z_ claims are
// OpenZiti's, which its SDKs read from access tokens.
type OidcClaims struct {
	jwt.RegisteredClaims
	Type             string        `json:"z_t"`
	ApiSessionID     string        `json:"z_asid,omitempty"`
	IsAdmin          bool          `json:"z_ia,omitempty"`
	ExternalID       string        `json:"z_eid,omitempty"`
	ConfigTypes      []string      `json:"z_ct,omitempty"`
	CertFingerprints []string      `json:"z_cfs,omitempty"`
	Scopes           []string      `json:"scopes,omitempty"`
	ClientID         string        `json:"client_id,omitempty"`
	Confirmation     *Confirmation `json:"cnf,omitempty"`
	// Request is the authorization request of an auth request id or code.
	Request *OidcRequest `json:"z_req,omitempty"`
	// ID token claims.
	Name     string           `json:"name,omitempty"`
	Nonce    string           `json:"nonce,omitempty"`
	AuthTime *jwt.NumericDate `json:"auth_time,omitempty"`
	AMR      []string         `json:"amr,omitempty"`
	AZP      string           `json:"azp,omitempty"`
}

// CertThumbprint is the RFC 8705 thumbprint of a certificate: base64url
// SHA-256 of its DER.
func CertThumbprint(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PKCEMatches reports whether verifier answers an S256 code challenge
// (RFC 7636 §4.6).
func PKCEMatches(challenge, verifier string) bool {
	if len(verifier) < 43 || len(verifier) > 128 {
		return false
	}
	sum := sha256.Sum256([]byte(verifier))
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// SignOidc completes claims (issuer, type, id, times from now and
// lifetime) and signs them with this node's key.
func (t *Tokens) SignOidc(issuer, typ string, claims OidcClaims, now time.Time, lifetime time.Duration) (string, *OidcClaims, error) {
	if t.Signer == nil {
		return "", nil, ErrNoSigner
	}
	claims.Issuer = issuer
	claims.Type = typ
	claims.ID = uuid.NewString()
	claims.IssuedAt = jwt.NewNumericDate(now)
	claims.NotBefore = jwt.NewNumericDate(now)
	claims.ExpiresAt = jwt.NewNumericDate(now.Add(lifetime))
	signed, err := t.Signer.Sign(claims)
	if err != nil {
		return "", nil, fmt.Errorf("sign %s token: %w", typ, err)
	}
	return signed, &claims, nil
}

// VerifyOidc checks a /oidc token of type typ signed by any member: its
// signature, expiry, type and, except for ID tokens (whose audience is
// their client), the audience openziti.
func (t *Tokens) VerifyOidc(raw, typ string) (*OidcClaims, error) {
	claims := &OidcClaims{}
	var audiences []string
	if typ != OidcID {
		audiences = []string{OidcAudience}
	}
	if _, err := t.parse(raw, claims, audiences...); err != nil {
		return nil, err
	}
	if claims.Type != typ {
		return nil, fmt.Errorf("%w: not a token of type %q", ErrBadToken, typ)
	}
	if claims.Subject == "" && typ != OidcAuthRequest {
		return nil, fmt.Errorf("%w: no subject", ErrBadToken)
	}
	if (typ == OidcAuthRequest || typ == OidcCode) && claims.Request == nil {
		return nil, fmt.Errorf("%w: no authorization request", ErrBadToken)
	}
	if typ != OidcAuthRequest && claims.ApiSessionID == "" {
		return nil, fmt.Errorf("%w: no session", ErrBadToken)
	}
	if claims.ID == "" {
		return nil, fmt.Errorf("%w: no token id", ErrBadToken)
	}
	return claims, nil
}

// Bound reports whether a token bound by cnf may be used with a request
// presenting certificate cert (nil: none): an unbound token always may.
func (c *OidcClaims) Bound(cert *x509.Certificate) bool {
	if c.Confirmation == nil || c.Confirmation.X5tS256 == "" {
		return true
	}
	return cert != nil && CertThumbprint(cert) == c.Confirmation.X5tS256
}

// HasScope reports whether the token was granted scope.
func (c *OidcClaims) HasScope(scope string) bool { return slices.Contains(c.Scopes, scope) }
