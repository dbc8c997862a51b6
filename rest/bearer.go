package rest

import (
	"crypto"
	"crypto/sha256"
	"errors"
	"fmt"
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
	accessTokenLifetime = 10 * time.Minute
	// tokenLeeway tolerates clock skew between nodes.
	tokenLeeway = 30 * time.Second
)

// TokenSigner is this node's signing key for access tokens.
type TokenSigner struct {
	Key    crypto.Signer
	KeyID  string
	Issuer string
}

// sign signs claims as ES256 under this node's key id.
func (t *TokenSigner) sign(claims jwt.Claims) (string, error) {
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = t.KeyID
	return tok.SignedString(t.Key)
}

// accessClaims are the claims of an access token; SessionID is the API
// session it stands for, so ending the session revokes the token.
type accessClaims struct {
	SessionID string `json:"sid"`
	jwt.RegisteredClaims
}

// issueAccessToken signs a token for a session, or returns "" when this
// node has no signing key configured.
func (s *Server) issueAccessToken(sessionID, identityID string, now time.Time) (string, time.Time, error) {
	signer := s.cfg.Signer
	if signer == nil {
		return "", time.Time{}, nil
	}
	exp := now.Add(accessTokenLifetime)
	claims := accessClaims{
		SessionID: sessionID,
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer: signer.Issuer, Subject: identityID, Audience: jwt.ClaimStrings{accessTokenAudience},
			ExpiresAt: jwt.NewNumericDate(exp), IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now),
			ID: uuid.NewString(),
		},
	}
	signed, err := signer.sign(claims)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("sign access token: %w", err)
	}
	return signed, exp, nil
}

// memberKey is a member's verified signing key.
type memberKey struct {
	certHash [32]byte
	key      crypto.PublicKey
	issuers  []string
}

// keyCache remembers parsed member keys by kid; an entry is reused only
// while the member's certificate in the store is the same.
type keyCache struct{ m sync.Map }

var errBadToken = errors.New("invalid access token")

// memberKeyFor finds the signing key a token's kid names among the members
// recorded in the replicated state.
func (s *Server) memberKeyFor(kid string) (*memberKey, error) {
	// This node's own key is known before its controller record has been
	// replicated, so its tokens work here from the first moment.
	if own := s.cfg.Signer; own != nil && kid == own.KeyID {
		return &memberKey{key: own.Key.Public(), issuers: []string{own.Issuer}}, nil
	}
	var found *pb.Controller
	err := s.store.View(func(rd *fsm.Reader) error {
		return rd.ForEach(fsm.KindController, func(rec *fsm.Record) error {
			if c, _ := fsm.As[*pb.Controller](rec); c.GetSigningKid() == kid && kid != "" {
				found = c
			}
			return nil
		})
	})
	if err != nil || found == nil {
		return nil, fmt.Errorf("%w: unknown key id %q", errBadToken, kid)
	}
	sum := sha256.Sum256([]byte(found.GetSigningCertPem()))
	if v, ok := s.keys.m.Load(kid); ok && v.(*memberKey).certHash == sum {
		return v.(*memberKey), nil
	}
	certs, err := pki.ParseCertificatesPEM([]byte(found.GetSigningCertPem()))
	if err != nil || len(certs) == 0 {
		return nil, fmt.Errorf("%w: member %s has no usable signing certificate", errBadToken, found.GetName())
	}
	mk := &memberKey{certHash: sum, key: certs[0].PublicKey}
	for _, list := range found.GetApiAddresses() {
		for _, a := range list.GetAddresses() {
			mk.issuers = append(mk.issuers, a.GetUrl())
		}
	}
	s.keys.m.Store(kid, mk)
	return mk, nil
}

// verifyAccessToken checks signature (ES256 only: no "none", no HMAC keyed
// with a public key), expiry, audience and that the issuer is the member
// whose key signed it. It returns the claims; the caller checks the session.
func (s *Server) verifyAccessToken(raw string) (*accessClaims, error) {
	claims := &accessClaims{}
	var signer *memberKey
	parser := jwt.NewParser(
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithAudience(accessTokenAudience),
		jwt.WithExpirationRequired(),
		jwt.WithIssuedAt(),
		jwt.WithLeeway(tokenLeeway),
	)
	_, err := parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		mk, err := s.memberKeyFor(kid)
		if err != nil {
			return nil, err
		}
		signer = mk
		return mk.key, nil
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errBadToken, err)
	}
	if claims.SessionID == "" || claims.Subject == "" {
		return nil, fmt.Errorf("%w: missing sid or sub", errBadToken)
	}
	issuerOK := false
	for _, u := range signer.issuers {
		if claims.Issuer != "" && strings.HasPrefix(u, claims.Issuer) {
			issuerOK = true
		}
	}
	if !issuerOK {
		return nil, fmt.Errorf("%w: issuer %q is not the signing member", errBadToken, claims.Issuer)
	}
	return claims, nil
}

// bearerToken returns the token of an "Authorization: Bearer" header.
func bearerToken(header string) (string, bool) {
	scheme, tok, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(tok) == "" {
		return "", false
	}
	return strings.TrimSpace(tok), true
}
