package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"strings"
)

// PEM block types this package reads and writes.
const (
	pemTypeCertificate = "CERTIFICATE"
	pemTypePKCS8       = "PRIVATE KEY"
	pemTypeSEC1        = "EC PRIVATE KEY"
	pemTypePKCS1       = "RSA PRIVATE KEY"
	pemTypeEncrypted   = "ENCRYPTED PRIVATE KEY"
)

// ParseCertificatesPEM parses every CERTIFICATE block in b, in order. Other
// block types and text between blocks are skipped, because bundles exported
// by common tools interleave comments or keys with certificates. It fails if
// no certificate is found or any certificate block is malformed.
func ParseCertificatesPEM(b []byte) ([]*x509.Certificate, error) {
	var certs []*x509.Certificate
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		if block.Type != pemTypeCertificate {
			continue
		}
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("pki: parse certificate #%d: %w", len(certs)+1, err)
		}
		certs = append(certs, cert)
	}
	if len(certs) == 0 {
		return nil, errors.New("pki: no CERTIFICATE PEM block found")
	}
	return certs, nil
}

// ParsePrivateKeyPEM parses a single unencrypted private key in PKCS#8
// ("PRIVATE KEY"), SEC 1 ("EC PRIVATE KEY") or PKCS#1 ("RSA PRIVATE KEY")
// form. ECDSA, RSA and Ed25519 keys are supported. Other blocks such as
// "EC PARAMETERS" are skipped; more than one key is an error because silently
// picking one could pair the wrong key with a certificate.
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	var found *pem.Block
	rest := b
	for {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		switch block.Type {
		case pemTypePKCS8, pemTypeSEC1, pemTypePKCS1:
			if found != nil {
				return nil, errors.New("pki: parse private key: more than one private key PEM block")
			}
			found = block
		case pemTypeEncrypted:
			return nil, errors.New("pki: parse private key: encrypted PKCS#8 keys are not supported")
		}
	}
	if found == nil {
		return nil, errors.New("pki: parse private key: no private key PEM block found")
	}
	if strings.Contains(found.Headers["Proc-Type"], "ENCRYPTED") {
		return nil, errors.New("pki: parse private key: encrypted PEM keys are not supported")
	}

	var key any
	var err error
	switch found.Type {
	case pemTypePKCS8:
		key, err = x509.ParsePKCS8PrivateKey(found.Bytes)
	case pemTypeSEC1:
		key, err = x509.ParseECPrivateKey(found.Bytes)
	case pemTypePKCS1:
		key, err = x509.ParsePKCS1PrivateKey(found.Bytes)
	}
	if err != nil {
		return nil, fmt.Errorf("pki: parse %s: %w", found.Type, err)
	}
	switch k := key.(type) {
	case *ecdsa.PrivateKey:
		return k, nil
	case *rsa.PrivateKey:
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	default:
		return nil, fmt.Errorf("pki: parse %s: unsupported key type %T", found.Type, key)
	}
}

// EncodeCertificatesPEM encodes certs as consecutive CERTIFICATE blocks in
// the given order. Nil entries are skipped.
func EncodeCertificatesPEM(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		if c == nil {
			continue
		}
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: pemTypeCertificate, Bytes: c.Raw})...)
	}
	return out
}

// EncodePrivateKeyPEM encodes key as an unencrypted PKCS#8 "PRIVATE KEY"
// block, the one format that covers every key type we accept.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	if _, err := signerPublic(key); err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("pki: encode private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: pemTypePKCS8, Bytes: der}), nil
}

// NewCertPool returns a pool holding certs. Nil entries are skipped.
func NewCertPool(certs ...*x509.Certificate) *x509.CertPool {
	pool := x509.NewCertPool()
	for _, c := range certs {
		if c != nil {
			pool.AddCert(c)
		}
	}
	return pool
}

// Fingerprint returns the lowercase hex SHA-1 of the certificate's DER with
// no separators. SHA-1 is used only because that is the form OpenZiti shows
// and matches on, not for any security property. A nil certificate yields "".
func Fingerprint(cert *x509.Certificate) string {
	if cert == nil {
		return ""
	}
	sum := sha1.Sum(cert.Raw)
	return hex.EncodeToString(sum[:])
}

// FingerprintSHA256 is the SHA-256 of the certificate's DER in the form
// `openssl x509 -fingerprint -sha256` prints (upper-case hex, colons), so an
// operator can compare it by eye.
func FingerprintSHA256(cert *x509.Certificate) string {
	sum := sha256.Sum256(cert.Raw)
	parts := make([]string, len(sum))
	for i, b := range sum {
		parts[i] = fmt.Sprintf("%02X", b)
	}
	return strings.Join(parts, ":")
}
