package pki

import (
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/smallstep/pkcs7"
)

// EncodePKCS7Certs encodes certs as a degenerate, certificates-only PKCS#7
// SignedData (DER): the format of EST's /cacerts (RFC 7030 §4.1.3) and of
// OpenZiti's /.well-known/est/cacerts, which enrolling clients read before
// they trust anything else. Nil entries are skipped; at least one
// certificate is required, since an empty trust bundle is always a bug.
func EncodePKCS7Certs(certs []*x509.Certificate) ([]byte, error) {
	var der []byte
	for _, c := range certs {
		if c != nil {
			der = append(der, c.Raw...)
		}
	}
	if len(der) == 0 {
		return nil, errors.New("pki: encode PKCS#7: no certificates")
	}
	out, err := pkcs7.DegenerateCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("pki: encode PKCS#7: %w", err)
	}
	return out, nil
}

// DecodePKCS7Certs parses a DER PKCS#7 SignedData and returns the
// certificates it carries, in order. Signatures and content are ignored: a
// trust bundle is only a container, and the caller decides what to trust.
// It fails if the structure holds no certificate.
func DecodePKCS7Certs(der []byte) ([]*x509.Certificate, error) {
	p7, err := pkcs7.Parse(der)
	if err != nil {
		return nil, fmt.Errorf("pki: decode PKCS#7: %w", err)
	}
	if len(p7.Certificates) == 0 {
		return nil, errors.New("pki: decode PKCS#7: no certificates")
	}
	return p7.Certificates, nil
}

// UniqueCerts returns certs without nil entries and without repeats of a
// certificate already listed (same DER, compared by SHA-256), keeping the
// first occurrence so the caller's order stays stable.
func UniqueCerts(certs []*x509.Certificate) []*x509.Certificate {
	seen := map[[sha256.Size]byte]bool{}
	var out []*x509.Certificate
	for _, c := range certs {
		if c == nil {
			continue
		}
		sum := sha256.Sum256(c.Raw)
		if seen[sum] {
			continue
		}
		seen[sum] = true
		out = append(out, c)
	}
	return out
}
