package trust

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/pki"
)

// Key is a signing key of a network's JWKS whose certificate chain
// verified against the network's trust bundle.
type Key struct {
	KeyID     string
	Algorithm string
	Public    crypto.PublicKey
	// Chain is the JWK's x5c, leaf first.
	Chain []*x509.Certificate
}

// KeySet holds verified keys by key id.
type KeySet map[string]*Key

// KeyError says why one JWKS entry was refused.
type KeyError struct {
	KeyID string
	Err   error
}

func (e *KeyError) Error() string { return fmt.Sprintf("key %q: %v", e.KeyID, e.Err) }
func (e *KeyError) Unwrap() error { return e.Err }

// maxJWKS bounds a JWKS body a client accepts.
const maxJWKS = 4 << 20

// ParseJWKS reads a JWKS (/enroll/jwks) and keeps the keys that check out
// against the trust bundle: the JWK carries an x5c whose leaf holds the
// JWK's key and chains to a root of the bundle (through the bundle's or
// the x5c's intermediates), kid is the key's RFC 7638 thumbprint, and alg
// is the one the key type dictates. A key that fails is reported in the
// KeyErrors and left out; only an unreadable document is an error.
func ParseJWKS(data []byte, bundle []*x509.Certificate) (KeySet, []*KeyError, error) {
	if len(data) > maxJWKS {
		return nil, nil, fmt.Errorf("JWKS: %d bytes, more than %d", len(data), maxJWKS)
	}
	var doc struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		return nil, nil, fmt.Errorf("JWKS: %w", err)
	}
	roots, inters := SplitBundle(bundle)
	if len(roots) == 0 {
		return nil, nil, errors.New("JWKS: the trust bundle holds no root to verify keys with")
	}
	keys := KeySet{}
	var bad []*KeyError
	for i, raw := range doc.Keys {
		k, err := checkJWK(raw, roots, inters)
		if err != nil {
			kid := fmt.Sprintf("#%d", i)
			if k != nil && k.KeyID != "" {
				kid = k.KeyID
			}
			bad = append(bad, &KeyError{KeyID: kid, Err: err})
			continue
		}
		if _, dup := keys[k.KeyID]; dup {
			bad = append(bad, &KeyError{KeyID: k.KeyID, Err: errors.New("listed twice")})
			continue
		}
		keys[k.KeyID] = k
	}
	return keys, bad, nil
}

// checkJWK returns the key (with at least its kid when it can be read) and
// why it is refused.
func checkJWK(raw json.RawMessage, roots, inters []*x509.Certificate) (*Key, error) {
	var jwk jose.JSONWebKey
	if err := jwk.UnmarshalJSON(raw); err != nil {
		var peek struct {
			Kid string `json:"kid"`
		}
		_ = json.Unmarshal(raw, &peek)
		return &Key{KeyID: peek.Kid}, fmt.Errorf("unreadable JWK: %w", err)
	}
	k := &Key{KeyID: jwk.KeyID, Algorithm: jwk.Algorithm, Public: jwk.Key, Chain: jwk.Certificates}
	if !jwk.IsPublic() || !jwk.Valid() {
		return k, errors.New("not a valid public key")
	}
	if jwk.Use != "" && jwk.Use != "sig" {
		return k, fmt.Errorf("use %q, want sig", jwk.Use)
	}
	kid, err := pki.KeyID(jwk.Key)
	if err != nil {
		return k, err
	}
	if jwk.KeyID != kid {
		return k, fmt.Errorf("kid is not the key's RFC 7638 thumbprint %s", kid)
	}
	alg, err := pki.JWSAlgorithm(jwk.Key)
	if err != nil {
		return k, err
	}
	if jwk.Algorithm != alg {
		return k, fmt.Errorf("alg %q, want %q for this key", jwk.Algorithm, alg)
	}
	if len(jwk.Certificates) == 0 {
		return k, errors.New("no x5c certificate chain")
	}
	leaf := jwk.Certificates[0]
	if eq, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(jwk.Key) {
		return k, errors.New("the x5c leaf certificate holds another key")
	}
	opts := x509.VerifyOptions{
		Roots:         pki.NewCertPool(roots...),
		Intermediates: pki.NewCertPool(append(append([]*x509.Certificate(nil), inters...), jwk.Certificates[1:]...)...),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if _, err := leaf.Verify(opts); err != nil {
		return k, fmt.Errorf("certificate chain does not verify against the trust bundle: %w", err)
	}
	return k, nil
}

// clockLeeway tolerates a client clock behind or ahead of the node that
// minted a JWT (network JWTs carry iat = the moment they were asked for).
const clockLeeway = 30 * time.Second

// VerifyJWT checks token's signature with the key its "kid" header names
// in keys, using the algorithm the key dictates (a token cannot choose
// "none", HMAC or a weaker algorithm), validates exp/nbf/iat when present
// and decodes the claims into claims. It returns the key that signed.
func VerifyJWT(token string, keys KeySet, claims jwt.Claims) (*Key, error) {
	var signer *Key
	_, err := jwt.NewParser(jwt.WithIssuedAt(), jwt.WithLeeway(clockLeeway)).ParseWithClaims(token, claims, func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		k := keys[kid]
		if k == nil {
			return nil, fmt.Errorf("signed with key %q, which is not a verified key of the network", kid)
		}
		if t.Method == nil || t.Method.Alg() != k.Algorithm {
			return nil, fmt.Errorf("algorithm %v, but key %q signs with %s", t.Header["alg"], kid, k.Algorithm)
		}
		signer = k
		return k.Public, nil
	})
	if err != nil {
		return nil, fmt.Errorf("JWT: %w", err)
	}
	return signer, nil
}

// VerifyNetworkJWT verifies a network JWT (VerifyJWT) and checks that it
// is one: em "network", an issuer and at least one controller URL.
func VerifyNetworkJWT(token string, keys KeySet) (*NetworkClaims, *Key, error) {
	claims := &NetworkClaims{}
	k, err := VerifyJWT(token, keys, claims)
	if err != nil {
		return nil, nil, err
	}
	switch {
	case claims.EnrollmentMethod != EnrollmentMethodNetwork:
		return nil, nil, fmt.Errorf("network JWT: em %q, want %q", claims.EnrollmentMethod, EnrollmentMethodNetwork)
	case claims.Issuer == "":
		return nil, nil, errors.New("network JWT: no issuer")
	case len(claims.Controllers) == 0:
		return nil, nil, errors.New("network JWT: no controllers in ctrls")
	}
	return claims, k, nil
}

// VerifyChallenge checks the answer to a challenge of nonce for keyID: it
// names that key, its signature verifies with the key from keys under the
// key's algorithm, and its caPool holds a root the key chains to. It
// returns the caPool certificates.
func VerifyChallenge(ans NonceSignature, nonce, keyID string, keys KeySet) ([]*x509.Certificate, error) {
	k := keys[keyID]
	if k == nil || len(k.Chain) == 0 {
		return nil, fmt.Errorf("challenge: key %q is not a verified key of the network", keyID)
	}
	if ans.Kid != keyID {
		return nil, fmt.Errorf("challenge: answered for key %q, asked for %q", ans.Kid, keyID)
	}
	sig, err := base64.RawURLEncoding.DecodeString(ans.Signature)
	if err != nil {
		return nil, fmt.Errorf("challenge: signature is not base64url: %w", err)
	}
	if err := pki.VerifyNonce(k.Public, ans.Algorithm, nonce, sig); err != nil {
		return nil, fmt.Errorf("challenge: %w", err)
	}
	pool, err := pki.ParseCertificatesPEM([]byte(ans.CAPool))
	if err != nil {
		return nil, fmt.Errorf("challenge: caPool: %w", err)
	}
	roots, inters := SplitBundle(pool)
	opts := x509.VerifyOptions{
		Roots:         pki.NewCertPool(roots...),
		Intermediates: pki.NewCertPool(append(inters, k.Chain[1:]...)...),
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}
	if _, err := k.Chain[0].Verify(opts); err != nil {
		return nil, fmt.Errorf("challenge: the key does not chain to the caPool: %w", err)
	}
	return pool, nil
}
