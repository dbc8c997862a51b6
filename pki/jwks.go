package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// JWSAlgorithm returns the JWS "alg" (RFC 7518) Garrison signs with for a
// key: ES256, ES384 or ES512 by ECDSA curve, RS256 for RSA and EdDSA for
// Ed25519. JWKS entries, network JWTs and nonce challenges all use it, so a
// verifier can take the algorithm from the JWK instead of from the signed
// message, where an attacker would choose it.
func JWSAlgorithm(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		if k == nil || k.Curve == nil {
			return "", errors.New("pki: JWS algorithm: ECDSA public key is nil or has no curve")
		}
		switch k.Curve {
		case elliptic.P256():
			return jwt.SigningMethodES256.Alg(), nil
		case elliptic.P384():
			return jwt.SigningMethodES384.Alg(), nil
		case elliptic.P521():
			return jwt.SigningMethodES512.Alg(), nil
		}
		return "", fmt.Errorf("pki: JWS algorithm: ECDSA curve %s has no JWS algorithm", k.Curve.Params().Name)
	case *rsa.PublicKey:
		if k == nil || k.N == nil {
			return "", errors.New("pki: JWS algorithm: RSA public key is nil")
		}
		return jwt.SigningMethodRS256.Alg(), nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return "", errors.New("pki: JWS algorithm: malformed Ed25519 public key")
		}
		return jwt.SigningMethodEdDSA.Alg(), nil
	}
	return "", fmt.Errorf("pki: JWS algorithm: unsupported public key type %T", pub)
}

// SigningJWK renders the public key of a signing certificate chain (leaf
// first, as controller records carry it) as a JWK for a JWKS: kty and the
// key's own members (crv/x/y or n/e), kid = KeyID (the RFC 7638 thumbprint,
// the kid every token this key signs carries), use "sig", alg as
// JWSAlgorithm, x5c the chain and x5t#S256 the leaf's SHA-256 thumbprint.
func SigningJWK(chain []*x509.Certificate) (jose.JSONWebKey, error) {
	if len(chain) == 0 || chain[0] == nil {
		return jose.JSONWebKey{}, errors.New("pki: signing JWK: empty certificate chain")
	}
	leaf := chain[0]
	kid, err := KeyID(leaf.PublicKey)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("pki: signing JWK for %q: %w", leaf.Subject.CommonName, err)
	}
	alg, err := JWSAlgorithm(leaf.PublicKey)
	if err != nil {
		return jose.JSONWebKey{}, fmt.Errorf("pki: signing JWK for %q: %w", leaf.Subject.CommonName, err)
	}
	sum := sha256.Sum256(leaf.Raw)
	var certs []*x509.Certificate
	for _, c := range chain {
		if c != nil {
			certs = append(certs, c)
		}
	}
	return jose.JSONWebKey{
		Key: leaf.PublicKey, KeyID: kid, Algorithm: alg, Use: "sig",
		Certificates: certs, CertificateThumbprintSHA256: sum[:],
	}, nil
}

// CheckNonce accepts only a UUID in its 36-character hyphenated form (any
// case), the form the API's nonceChallenge demands. The restriction is also
// what makes it safe to sign a caller's nonce with a key that signs JWTs:
// the input of a JWS signature always contains a '.', a nonce never does,
// so a nonce signature can never pass for a token's.
func CheckNonce(nonce string) error {
	if len(nonce) != 36 {
		return fmt.Errorf("nonce must be a UUID of 36 characters, got %d characters", len(nonce))
	}
	if _, err := uuid.Parse(nonce); err != nil {
		return fmt.Errorf("nonce is not a UUID: %w", err)
	}
	return nil
}

// SignNonce answers a nonce challenge: it signs the nonce's bytes, exactly
// as given, with key, using JWSAlgorithm of its public key. The signature is
// the raw JWS signature (for ECDSA the fixed-width r||s of RFC 7518 §3.4,
// not ASN.1), so any JOSE library verifies it with the key's JWK; the API
// sends it base64url-encoded without padding, as in a JWS.
func SignNonce(key crypto.Signer, nonce string) (alg string, sig []byte, err error) {
	if err := CheckNonce(nonce); err != nil {
		return "", nil, fmt.Errorf("pki: sign nonce: %w", err)
	}
	pub, err := signerPublic(key)
	if err != nil {
		return "", nil, fmt.Errorf("pki: sign nonce: %w", err)
	}
	if alg, err = JWSAlgorithm(pub); err != nil {
		return "", nil, fmt.Errorf("pki: sign nonce: %w", err)
	}
	if sig, err = jwt.GetSigningMethod(alg).Sign(nonce, key); err != nil {
		return "", nil, fmt.Errorf("pki: sign nonce with %s: %w", alg, err)
	}
	return alg, sig, nil
}

// VerifyNonce checks a SignNonce signature with pub. The algorithm must be
// the one JWSAlgorithm names for pub: a signer cannot pick a weaker one.
func VerifyNonce(pub crypto.PublicKey, alg, nonce string, sig []byte) error {
	if err := CheckNonce(nonce); err != nil {
		return fmt.Errorf("pki: verify nonce: %w", err)
	}
	want, err := JWSAlgorithm(pub)
	if err != nil {
		return fmt.Errorf("pki: verify nonce: %w", err)
	}
	if alg != want {
		return fmt.Errorf("pki: verify nonce: algorithm %q, want %q for this key", alg, want)
	}
	if err := jwt.GetSigningMethod(alg).Verify(nonce, sig, pub); err != nil {
		return fmt.Errorf("pki: verify nonce: %w", err)
	}
	return nil
}
