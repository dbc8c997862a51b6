package edge

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// Access tokens: a short-lived JWT naming an API session, signed by the
// node that issued it and accepted by every node, because every node knows
// every member's signing certificate from the replicated controllers list.
const (
	accessTokenAudience = "garrison"
	AccessTokenLifetime = 10 * time.Minute
	// tokenLeeway tolerates clock skew between nodes.
	tokenLeeway = 30 * time.Second
)

// TokenSigner is this node's signing key, for access tokens and the JWTs of
// enrollments, CAs and the network.
type TokenSigner struct {
	Key    crypto.Signer
	KeyID  string
	Issuer string
}

// Sign signs claims as ES256 under this node's key id.
func (t *TokenSigner) Sign(claims jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = t.KeyID
	return tok.SignedString(t.Key)
}

// ErrNoSigner: this node has no signing key and cannot issue JWTs.
var ErrNoSigner = errors.New("this node has no signing key and cannot issue tokens")

// AccessClaims are the claims of an access token; SessionID is the API
// session it stands for, so ending the session revokes the token.
type AccessClaims struct {
	SessionID string `json:"sid,omitempty"`
	jwt.RegisteredClaims

	// The claims of an OAuth access token (see OidcClaims) that Verify reads.
	OidcType      string        `json:"z_t,omitempty"`
	OidcSessionID string        `json:"z_asid,omitempty"`
	Confirmation  *Confirmation `json:"cnf,omitempty"`
	// CertThumbprint is the base64url SHA-256 of the certificate an OAuth
	// access token is bound to (RFC 8705), "" when it is not bound.
	CertThumbprint string `json:"-"`
}

// ErrBadToken wraps every reason an access token is refused.
var ErrBadToken = errors.New("invalid access token")

// Tokens issues this node's access tokens and checks anyone's.
type Tokens struct {
	// Signer is nil when this node issues no tokens (it still checks them).
	Signer *TokenSigner
	Store  *fsm.Store
	keys   sync.Map // kid -> *memberKey
}

// memberKey is a member's verified signing key.
type memberKey struct {
	certHash [32]byte
	key      crypto.PublicKey
	issuers  []string
}

// Issue signs a token for a session, or returns "" when this node has no
// signing key configured.
func (t *Tokens) Issue(sessionID, identityID string, now time.Time) (string, time.Time, error) {
	if t.Signer == nil {
		return "", time.Time{}, nil
	}
	exp := now.Add(AccessTokenLifetime)
	claims := AccessClaims{
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: t.Signer.Issuer, Subject: identityID, Audience: jwt.ClaimStrings{accessTokenAudience},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ID: uuid.NewString(),
		},
	}
	signed, err := t.Signer.Sign(claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp, nil
}

// memberKeyFor finds the signing key a token's kid names among the members
// recorded in the replicated state.
func (t *Tokens) memberKeyFor(kid string) (*memberKey, error) {
	// This node's own key is known before its controller record has been
	// replicated, so its tokens work here from the first moment.
	if own := t.Signer; own != nil && kid == own.KeyID {
		return &memberKey{key: own.Key.Public(), issuers: []string{own.Issuer}}, nil
	}
	var found *pb.Controller
	err := t.Store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
			if c, _ := fsm.As[*pb.Controller](rec); c.GetSigningKid() == kid && kid != "" {
				found = c
			}
			return nil
		})
	})
	if err != nil || found == nil {
		return nil, fmt.Errorf("%w: unknown key id %q", ErrBadToken, kid)
	}
	sum := sha256.Sum256([]byte(found.GetSigningCertPem()))
	if v, ok := t.keys.Load(kid); ok && v.(*memberKey).certHash == sum {
		return v.(*memberKey), nil
	}
	certs, err := pki.ParseCertificatesPEM([]byte(found.GetSigningCertPem()))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: member %s has no usable signing certificate", ErrBadToken, found.GetName())
	}
	mk := &memberKey{certHash: sum, key: certs[0].PublicKey}
	for _, list := range found.GetApiAddresses() {
		for _, a := range list.GetAddresses() {
			mk.issuers = append(mk.issuers, a.GetUrl())
		}
	}
	t.keys.Store(kid, mk)
	return mk, nil
}

// Verify checks an access token for the APIs: one of /authenticate (this
// package's AccessClaims) or an OAuth access token of /oidc (OidcClaims of
// type "a"). It checks signature (ES256 only: no "none", no HMAC keyed with
// a public key), expiry and audience, and for a token of /authenticate that
// the issuer is the member whose key signed it. It returns the claims; the
// caller checks the session and, for a token bound to a certificate
// (CertThumbprint), the request's certificate.
func (t *Tokens) Verify(raw string) (*AccessClaims, error) {
	claims := &AccessClaims{}
	signer, err := t.parse(raw, claims, accessTokenAudience, OidcAudience)
	if err != nil {
		return nil, err
	}
	if claims.OidcType != "" || claims.OidcSessionID != "" {
		// An OAuth access token: its issuer is the URL the client used,
		// which may be a load balancer's, not the signing member's.
		if claims.OidcType != OidcAccess || claims.SessionID != "" || !slices.Contains(claims.Audience, OidcAudience) {
			return nil, fmt.Errorf("%w: not an access token", ErrBadToken)
		}
		claims.SessionID = claims.OidcSessionID
		if claims.Confirmation != nil {
			claims.CertThumbprint = claims.Confirmation.X5tS256
		}
	} else if !slices.Contains(claims.Audience, accessTokenAudience) {
		return nil, fmt.Errorf("%w: not an access token", ErrBadToken)
	} else if !signer.issued(claims.Issuer) {
		return nil, fmt.Errorf("%w: issuer %q is not the signing member", ErrBadToken, claims.Issuer)
	}
	if claims.SessionID == "" || claims.Subject == "" {
		return nil, fmt.Errorf("%w: missing session or subject", ErrBadToken)
	}
	return claims, nil
}

// parse verifies raw's signature by a member's key, its expiry and issue
// time and that its audience has one of audiences, into claims.
func (t *Tokens) parse(raw string, claims jwt.Claims, audiences ...string) (*memberKey, error) {
	var signer *memberKey
	opts := []jwt.ParserOption{
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
	}
	if len(audiences) > 0 {
		opts = append(opts, jwt.WithAudience(audiences...))
	}
	_, err := jwt.NewParser(opts...).ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		mk, err := t.memberKeyFor(kid)
		if err != nil {
			return nil, err
		}
		signer = mk
		return mk.key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadToken, err)
	}
	return signer, nil
}

// issued reports whether issuer names one of the member's API URLs.
func (mk *memberKey) issued(issuer string) bool {
	for _, u := range mk.issuers {
		if issuer != "" && strings.HasPrefix(u, issuer) {
			return true
		}
	}
	return false
}
