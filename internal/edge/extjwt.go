package edge

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// External JWTs: tokens an outside identity provider issued, verified with
// a signer's certificate key or its JSON Web Key Set.

// ExtJwtAlgorithms are the signature algorithms accepted from external
// signers: asymmetric ones only, so "none" and HMAC (which would take the
// public key as a shared secret) are refused.
var ExtJwtAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// CheckJwksURL refuses a JWKS endpoint that is not https, except plain
// http to a loopback address (development and tests).
func CheckJwksURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return errors.New("must be an absolute URL")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopback(u.Hostname()) {
			return nil
		}
		return errors.New("plain http is accepted only for loopback addresses; use https")
	}
	return errors.New("must be an https URL")
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Bounds of a JWKS fetch: how long, how large, how often per endpoint.
const (
	jwksTimeout     = 5 * time.Second
	jwksMaxBytes    = 1 << 20
	jwksTTL         = 10 * time.Minute
	jwksMinInterval = 10 * time.Second
)

// JWKSCache fetches and keeps the key sets of JWKS endpoints: a key is
// looked up in the cached set, which is fetched again when it is older
// than its TTL or lacks the key asked for (a provider rotated its keys),
// but not more often than once per jwksMinInterval per endpoint.
type JWKSCache struct {
	fetch Fetcher
	mu    sync.Mutex
	sets  map[string]*jwksEntry
}

type jwksEntry struct {
	mu        sync.Mutex
	keys      jose.JSONWebKeySet
	fetchedAt time.Time
	err       error
}

// Fetcher gets the document at a key set URL, at most limit bytes of it
// (more is an error). The HTTP client, with its rules (server
// verification, no redirects), belongs to the caller: this package has no
// network code.
type Fetcher func(ctx context.Context, url string, limit int64) ([]byte, error)

// NewJWKSCache returns a cache that fetches key sets with fetch.
func NewJWKSCache(fetch Fetcher) *JWKSCache {
	return &JWKSCache{fetch: fetch, sets: map[string]*jwksEntry{}}
}

// Key returns the public key kid of the set at endpoint ("" kid: the set's
// only signing key).
func (c *JWKSCache) Key(ctx context.Context, endpoint, kid string) (crypto.PublicKey, error) {
	c.mu.Lock()
	e := c.sets[endpoint]
	if e == nil {
		e = &jwksEntry{}
		c.sets[endpoint] = e
	}
	c.mu.Unlock()
	e.mu.Lock()
	defer e.mu.Unlock()
	key, found := pickKey(e.keys, kid)
	stale := time.Since(e.fetchedAt) > jwksTTL
	if (found && !stale) || time.Since(e.fetchedAt) < jwksMinInterval {
		if found {
			return key, nil
		}
		if e.err != nil {
			return nil, e.err
		}
		return nil, fmt.Errorf("no key %q in the key set of %s", kid, endpoint)
	}
	set, err := c.get(ctx, endpoint)
	e.fetchedAt, e.err = time.Now(), err
	if err == nil {
		e.keys = set
	}
	if key, found := pickKey(e.keys, kid); found {
		return key, nil
	}
	if err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("no key %q in the key set of %s", kid, endpoint)
}

func (c *JWKSCache) get(ctx context.Context, endpoint string) (jose.JSONWebKeySet, error) {
	var set jose.JSONWebKeySet
	// The fetch outlives the request that caused it: a caller hanging up
	// must not leave a failed fetch that blocks the next ones for the
	// minimum interval.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksTimeout)
	defer cancel()
	raw, err := c.fetch(ctx, endpoint, jwksMaxBytes)
	if err != nil {
		return set, fmt.Errorf("fetch key set %s: %w", endpoint, err)
	}
	if len(raw) > jwksMaxBytes {
		return set, fmt.Errorf("key set %s is larger than %d bytes", endpoint, jwksMaxBytes)
	}
	if err := json.Unmarshal(raw, &set); err != nil {
		return set, fmt.Errorf("key set %s: %w", endpoint, err)
	}
	return set, nil
}

// pickKey finds the public signing key kid in set; with no kid, the set's
// only key.
func pickKey(set jose.JSONWebKeySet, kid string) (crypto.PublicKey, bool) {
	var cands []jose.JSONWebKey
	if kid != "" {
		cands = set.Key(kid)
	} else if len(set.Keys) == 1 {
		cands = set.Keys
	}
	for _, k := range cands {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if pub := publicOf(k.Key); pub != nil {
			return pub, true
		}
	}
	return nil, false
}

// publicOf is the public half of a key of a supported type, nil otherwise.
func publicOf(k any) crypto.PublicKey {
	switch k := k.(type) {
	case *rsa.PublicKey, *ecdsa.PublicKey, ed25519.PublicKey:
		return k
	case *rsa.PrivateKey:
		return &k.PublicKey
	case *ecdsa.PrivateKey:
		return &k.PublicKey
	case ed25519.PrivateKey:
		return k.Public()
	}
	return nil
}

// ExtJwtClaims are a verified external token's claims.
type ExtJwtClaims = jwt.MapClaims

// VerifyExtJwt verifies an external token's signature with key, its
// algorithm (ExtJwtAlgorithms), expiry (required), not-before, issuer and
// audience, and returns its claims.
func VerifyExtJwt(token string, key crypto.PublicKey, issuer, audience string) (ExtJwtClaims, error) {
	claims := jwt.MapClaims{}
	_, err := jwt.ParseWithClaims(token, claims, func(*jwt.Token) (any, error) { return key, nil },
		jwt.WithValidMethods(ExtJwtAlgorithms), jwt.WithExpirationRequired(), jwt.WithIssuer(issuer), jwt.WithAudience(audience),
		jwt.WithLeeway(30*time.Second))
	if err != nil {
		return nil, err
	}
	return claims, nil
}

// UnverifiedIssuerAndKid reads a token's issuer and key id without
// verifying anything: they only choose the signer and key to verify with.
func UnverifiedIssuerAndKid(token string) (issuer, kid string, err error) {
	claims := jwt.MapClaims{}
	t, _, err := jwt.NewParser().ParseUnverified(token, claims)
	if err != nil {
		return "", "", err
	}
	issuer, _ = claims["iss"].(string)
	kid, _ = t.Header["kid"].(string)
	return issuer, kid, nil
}
