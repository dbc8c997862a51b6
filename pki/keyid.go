package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"math/big"
)

// KeyID returns the RFC 7638 JWK thumbprint of pub: the base64url (unpadded)
// SHA-256 of the key's required JWK members. Using the thumbprint as the JWT
// "kid" lets any verifier recompute it from the key itself. Supported keys
// are ECDSA on P-256, P-384 and P-521, RSA, and Ed25519 (RFC 8037), as
// pointers or values.
func KeyID(pub crypto.PublicKey) (string, error) {
	var canonical string
	var err error
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		canonical, err = ecThumbprintInput(k)
	case ecdsa.PublicKey:
		canonical, err = ecThumbprintInput(&k)
	case *rsa.PublicKey:
		canonical, err = rsaThumbprintInput(k)
	case rsa.PublicKey:
		canonical, err = rsaThumbprintInput(&k)
	case ed25519.PublicKey:
		canonical, err = ed25519ThumbprintInput(k)
	case nil:
		err = errors.New("public key is nil")
	default:
		err = fmt.Errorf("unsupported public key type %T", pub)
	}
	if err != nil {
		return "", fmt.Errorf("pki: key ID: %w", err)
	}
	sum := sha256.Sum256([]byte(canonical))
	return base64.RawURLEncoding.EncodeToString(sum[:]), nil
}

// The thumbprint input functions build the JSON by hand: RFC 7638 §3.3
// requires the required members only, in lexicographic order, with no
// whitespace, and base64url values never need JSON escaping, so
// concatenation is exact where a general JSON encoder would need care.

func ecThumbprintInput(k *ecdsa.PublicKey) (string, error) {
	if k == nil || k.Curve == nil {
		return "", errors.New("ECDSA public key is nil or has no curve")
	}
	var crv string
	switch k.Curve {
	case elliptic.P256():
		crv = "P-256"
	case elliptic.P384():
		crv = "P-384"
	case elliptic.P521():
		crv = "P-521"
	default:
		return "", fmt.Errorf("ECDSA curve %s has no JWK name", k.Curve.Params().Name)
	}
	// Bytes yields 0x04 || X || Y with both coordinates left-padded to the
	// field size, which is exactly the fixed-width encoding RFC 7518 §6.2.1
	// demands for "x" and "y".
	point, err := k.Bytes()
	if err != nil {
		return "", fmt.Errorf("encode ECDSA public key: %w", err)
	}
	n := (len(point) - 1) / 2
	x := base64.RawURLEncoding.EncodeToString(point[1 : 1+n])
	y := base64.RawURLEncoding.EncodeToString(point[1+n:])
	return `{"crv":"` + crv + `","kty":"EC","x":"` + x + `","y":"` + y + `"}`, nil
}

func rsaThumbprintInput(k *rsa.PublicKey) (string, error) {
	if k == nil || k.N == nil || k.N.Sign() <= 0 || k.E <= 0 {
		return "", errors.New("RSA public key is nil or incomplete")
	}
	// big.Int.Bytes is the minimal big-endian form RFC 7518 §6.3.1 requires.
	n := base64.RawURLEncoding.EncodeToString(k.N.Bytes())
	e := base64.RawURLEncoding.EncodeToString(big.NewInt(int64(k.E)).Bytes())
	return `{"e":"` + e + `","kty":"RSA","n":"` + n + `"}`, nil
}

func ed25519ThumbprintInput(k ed25519.PublicKey) (string, error) {
	if len(k) != ed25519.PublicKeySize {
		return "", fmt.Errorf("Ed25519 public key has length %d, want %d", len(k), ed25519.PublicKeySize)
	}
	x := base64.RawURLEncoding.EncodeToString(k)
	return `{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`, nil
}
