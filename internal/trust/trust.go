// Package trust holds what both sides need to establish that a network is
// genuine before a client sends it anything: the wire formats of the trust
// bundle (/.well-known/est/cacerts), network JWTs (/network-jwts) and nonce
// challenges (/enroll/challenge), used by the API server to produce them,
// and the checks a client runs on them (JWKS against the bundle, JWTs and
// challenge signatures against the JWKS), used by `garrison edge
// verify-network` and, later, by enrollment.
package trust

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/pki"
)

// Names shared with OpenZiti's network JWT.
const (
	// EnrollmentMethodNetwork is the "em" of a network JWT.
	EnrollmentMethodNetwork = "network"
	// AudienceEnroller is the audience OpenZiti gives enrollment JWTs.
	AudienceEnroller = "openziti-enroller"
	// DefaultNetworkJWTName names the one network JWT a node lists.
	DefaultNetworkJWTName = "default"
)

// ClientBase is the Edge Client API's base path, where the trust endpoints
// live.
const ClientBase = "/edge/client/v1"

// NetworkClaims are the claims of a network JWT: OpenZiti's enrollment
// claims with em "network" and, in ctrls, the Edge Client API URL of every
// controller of the network.
type NetworkClaims struct {
	EnrollmentMethod string   `json:"em"`
	Controllers      []string `json:"ctrls"`
	jwt.RegisteredClaims
}

// NonceChallenge is the body of POST /enroll/challenge.
type NonceChallenge struct {
	Nonce string `json:"nonce"`
	KeyID string `json:"keyId"`
}

// NonceSignature is the answer to a nonce challenge (the spec's
// nonceSignature). Signature is the raw JWS signature (pki.SignNonce) over
// the nonce's bytes, base64url-encoded without padding as in a JWS;
// Algorithm its JWS algorithm; Kid the key that signed; CAPool the PEM
// trust bundle (cluster root and every member's intermediate).
type NonceSignature struct {
	Signature string `json:"signature"`
	Algorithm string `json:"algorithm"`
	Kid       string `json:"kid"`
	CAPool    string `json:"caPool"`
}

// NewNonceSignature encodes a challenge answer.
func NewNonceSignature(kid, alg string, sig []byte, caPool []*x509.Certificate) NonceSignature {
	return NonceSignature{
		Signature: base64.RawURLEncoding.EncodeToString(sig), Algorithm: alg, Kid: kid,
		CAPool: string(pki.EncodeCertificatesPEM(caPool...)),
	}
}

// bundleLineLength is the base64 line length of the bundle body, MIME's
// (RFC 2045 allows 76; 64 is what OpenZiti and PEM use).
const bundleLineLength = 64

// EncodeBundle renders certs as the body of /.well-known/est/cacerts:
// base64 of a certificates-only PKCS#7, in lines of 64 characters.
func EncodeBundle(certs []*x509.Certificate) ([]byte, error) {
	der, err := pki.EncodePKCS7Certs(certs)
	if err != nil {
		return nil, err
	}
	b64 := base64.StdEncoding.EncodeToString(der)
	var out bytes.Buffer
	for len(b64) > bundleLineLength {
		out.WriteString(b64[:bundleLineLength])
		out.WriteByte('\n')
		b64 = b64[bundleLineLength:]
	}
	out.WriteString(b64)
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// maxBundle bounds a bundle body a client accepts; a bundle of a few
// hundred certificates is far smaller.
const maxBundle = 4 << 20

// ParseBundle reads the body of /.well-known/est/cacerts: base64 (padded,
// whitespace and line breaks ignored) of a DER PKCS#7 holding certificates.
func ParseBundle(body []byte) ([]*x509.Certificate, error) {
	if len(body) > maxBundle {
		return nil, fmt.Errorf("trust bundle: %d bytes, more than %d", len(body), maxBundle)
	}
	compact := strings.Join(strings.Fields(string(body)), "")
	if compact == "" {
		return nil, errors.New("trust bundle: empty body")
	}
	der, err := base64.StdEncoding.DecodeString(compact)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: not base64: %w", err)
	}
	certs, err := pki.DecodePKCS7Certs(der)
	if err != nil {
		return nil, fmt.Errorf("trust bundle: %w", err)
	}
	return certs, nil
}

// SplitBundle separates a bundle's roots (self-signed certificates) from
// its intermediates.
func SplitBundle(bundle []*x509.Certificate) (roots, intermediates []*x509.Certificate) {
	for _, c := range bundle {
		if c == nil {
			continue
		}
		if bytes.Equal(c.RawSubject, c.RawIssuer) && c.CheckSignatureFrom(c) == nil {
			roots = append(roots, c)
		} else {
			intermediates = append(intermediates, c)
		}
	}
	return roots, intermediates
}
