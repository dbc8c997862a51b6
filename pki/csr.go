package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// Limits on certificate signing requests received from clients. A CSR is
// outside input: everything in it is bounded before anything is signed.
const (
	// MaxCSRBytes bounds a PEM CSR as received.
	MaxCSRBytes = 32 << 10
	// maxSubjectBytes bounds the DER subject copied into issued certificates.
	maxSubjectBytes = 1024
	// maxAttributeLen bounds each subject attribute value. RFC 5280's
	// ub-common-name is 64, but OpenZiti's Go SDK asks for API session
	// certificates with 84-character common names ("golang-sdk-" and two
	// UUIDs), and OpenZiti signs them: the clients are the judge.
	maxAttributeLen = 128
	// maxServerSANs bounds the DNS names plus IPs a router server CSR may ask for.
	maxServerSANs = 32
	minRSABits    = 2048
	maxRSABits    = 8192
)

// Validity of certificates signed from CSRs.
const (
	// DefaultClientCertValidity is the lifetime of enrolled identity and
	// router certificates, as in OpenZiti.
	DefaultClientCertValidity = 365 * 24 * time.Hour
	// DefaultSessionCertValidity is the lifetime of API session certificates.
	DefaultSessionCertValidity = 12 * time.Hour
)

// identityPathPrefix marks the SPIFFE id of an identity certificate. It must
// differ from controllerPathPrefix: an enrolled client must never be able to
// present a certificate that names a controller.
const identityPathPrefix = "/identity/"

// ErrBadCSR wraps every reason a CSR is refused; callers map it to a 4xx.
var ErrBadCSR = errors.New("invalid certificate signing request")

// ParseCSR reads one PEM certificate signing request, checks its signature
// (proof that the requester holds the key) and bounds its subject and key.
func ParseCSR(data []byte) (*x509.CertificateRequest, error) {
	if len(data) > MaxCSRBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrBadCSR, MaxCSRBytes)
	}
	block, rest := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("%w: no PEM block", ErrBadCSR)
	}
	if block.Type != "CERTIFICATE REQUEST" && block.Type != "NEW CERTIFICATE REQUEST" {
		return nil, fmt.Errorf("%w: PEM block is %q, want CERTIFICATE REQUEST", ErrBadCSR, block.Type)
	}
	if strings.TrimSpace(string(rest)) != "" {
		return nil, fmt.Errorf("%w: data after the PEM block", ErrBadCSR)
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := checkCSR(csr); err != nil {
		return nil, err
	}
	return csr, nil
}

// checkCSR checks the proof of possession, the key and the subject.
func checkCSR(csr *x509.CertificateRequest) error {
	if err := csr.CheckSignature(); err != nil {
		return fmt.Errorf("%w: signature does not verify: %v", ErrBadCSR, err)
	}
	if err := checkRequestKey(csr.PublicKey); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	if err := checkSubject(csr); err != nil {
		return fmt.Errorf("%w: %v", ErrBadCSR, err)
	}
	return nil
}

// checkRequestKey accepts the key types and sizes clients are expected to
// use; a 512-bit RSA key or an exotic curve gets a clear refusal.
func checkRequestKey(pub any) error {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return nil
		}
		return errors.New("ECDSA key must use P-256, P-384 or P-521")
	case *rsa.PublicKey:
		if n := k.N.BitLen(); n < minRSABits || n > maxRSABits {
			return fmt.Errorf("RSA key must be %d to %d bits, got %d", minRSABits, maxRSABits, n)
		}
		return nil
	case ed25519.PublicKey:
		return nil
	default:
		return fmt.Errorf("unsupported public key type %T", pub)
	}
}

func checkSubject(csr *x509.CertificateRequest) error {
	if len(csr.RawSubject) > maxSubjectBytes {
		return fmt.Errorf("subject is larger than %d bytes", maxSubjectBytes)
	}
	for _, atv := range csr.Subject.Names {
		s, ok := atv.Value.(string)
		if !ok {
			return fmt.Errorf("subject attribute %v is not a string", atv.Type)
		}
		if !utf8.ValidString(s) || utf8.RuneCountInString(s) > maxAttributeLen {
			return fmt.Errorf("subject attribute %v must be valid UTF-8 of at most %d characters", atv.Type, maxAttributeLen)
		}
		for _, r := range s {
			if r < 0x20 || r == 0x7f {
				return fmt.Errorf("subject attribute %v contains a control character", atv.Type)
			}
		}
	}
	return nil
}

// ClientCertRequest describes a client certificate signed from a CSR.
type ClientCertRequest struct {
	// CSR must come from ParseCSR. Only its subject and public key are used:
	// requested extensions (key usage, SANs, basic constraints) are ignored.
	CSR *x509.CertificateRequest
	// IdentityID, if set, adds the URI SAN spiffe://<TrustDomain>/identity/<id>.
	IdentityID  string
	TrustDomain string
	// Validity defaults to DefaultClientCertValidity; the result is capped at
	// the issuing CA's expiry.
	Validity time.Duration
}

// SignClientCSR issues a TLS client certificate (EKU clientAuth) for the key
// in req.CSR.
func (ca *CA) SignClientCSR(req ClientCertRequest) (*x509.Certificate, error) {
	tmpl, err := ca.csrTemplate(req.CSR)
	if err != nil {
		return nil, fmt.Errorf("pki: sign client certificate: %w", err)
	}
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if req.IdentityID != "" {
		td, err := resolveTrustDomain(req.TrustDomain)
		if err != nil {
			return nil, fmt.Errorf("pki: sign client certificate: %w", err)
		}
		if strings.ContainsAny(req.IdentityID, "/?#") {
			return nil, fmt.Errorf("pki: sign client certificate: identity id %q is not a path segment", req.IdentityID)
		}
		tmpl.URIs = []*url.URL{spiffeID(td, identityPathPrefix, req.IdentityID)}
	}
	return ca.signRequest(tmpl, req.CSR, req.Validity)
}

// SignServerCSR issues a TLS server certificate (EKU serverAuth and
// clientAuth, as routers dial too) carrying the CSR's DNS and IP SANs.
// URI and e-mail SANs are dropped.
func (ca *CA) SignServerCSR(csr *x509.CertificateRequest, validity time.Duration) (*x509.Certificate, error) {
	tmpl, err := ca.csrTemplate(csr)
	if err != nil {
		return nil, fmt.Errorf("pki: sign server certificate: %w", err)
	}
	if len(csr.DNSNames)+len(csr.IPAddresses) == 0 {
		return nil, fmt.Errorf("pki: sign server certificate: %w: no DNS or IP subject alternative names", ErrBadCSR)
	}
	if len(csr.DNSNames)+len(csr.IPAddresses) > maxServerSANs {
		return nil, fmt.Errorf("pki: sign server certificate: %w: more than %d subject alternative names", ErrBadCSR, maxServerSANs)
	}
	dns, err := normalizeDNSNames(csr.DNSNames)
	if err != nil {
		return nil, fmt.Errorf("pki: sign server certificate: %w: %v", ErrBadCSR, err)
	}
	// A wildcard would let one router answer for every name under it,
	// controllers included; routers name themselves exactly.
	for _, n := range dns {
		if strings.Contains(n, "*") {
			return nil, fmt.Errorf("pki: sign server certificate: %w: wildcard DNS name %q", ErrBadCSR, n)
		}
	}
	ips, err := normalizeIPs(append([]net.IP(nil), csr.IPAddresses...))
	if err != nil {
		return nil, fmt.Errorf("pki: sign server certificate: %w: %v", ErrBadCSR, err)
	}
	tmpl.DNSNames, tmpl.IPAddresses = dns, ips
	tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	return ca.signRequest(tmpl, csr, validity)
}

// csrTemplate starts a leaf template from the CSR's subject only.
func (ca *CA) csrTemplate(csr *x509.CertificateRequest) (*x509.Certificate, error) {
	if err := ca.validate(); err != nil {
		return nil, err
	}
	if csr == nil {
		return nil, fmt.Errorf("%w: missing", ErrBadCSR)
	}
	// Re-check: callers may hand in a CSR that did not come from ParseCSR.
	if err := checkCSR(csr); err != nil {
		return nil, err
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := csr.PublicKey.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	return &x509.Certificate{
		// Copy the raw subject rather than csr.Subject: pkix.Name drops
		// attributes it does not model, and the client asked for exactly this.
		RawSubject:            csr.RawSubject,
		Subject:               pkix.Name{},
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              usage,
	}, nil
}

func (ca *CA) signRequest(tmpl *x509.Certificate, csr *x509.CertificateRequest, validity time.Duration) (*x509.Certificate, error) {
	validity, err := resolveValidity(validity, DefaultClientCertValidity)
	if err != nil {
		return nil, err
	}
	if err := fillTemplate(tmpl, csr.PublicKey, validity, ca.Cert); err != nil {
		return nil, err
	}
	return createCertificate(tmpl, ca.Cert, csr.PublicKey, ca.Key)
}

// IssuerChain is the certificates a client needs after its own leaf to reach
// the root: this CA and its issuers below the root.
func (ca *CA) IssuerChain() []*x509.Certificate {
	return append([]*x509.Certificate(nil), ca.chain()...)
}

// IssuerChainIn finds, among certs (a trust bundle), the chain of the CA
// that signed leaf, as that CA's IssuerChain gives it: the issuer and the
// CAs above it, each signed by the next, without the self-signed root
// unless the issuer is itself that root. It lets a node answer with a
// certificate another node issued. nil when no cert in certs signed leaf.
func IssuerChainIn(leaf *x509.Certificate, certs []*x509.Certificate) []*x509.Certificate {
	var chain []*x509.Certificate
	for cur := leaf; len(chain) <= len(certs); {
		var issuer *x509.Certificate
		for _, c := range certs {
			if c != cur && !c.Equal(cur) && bytes.Equal(cur.RawIssuer, c.RawSubject) && cur.CheckSignatureFrom(c) == nil {
				issuer = c
				break
			}
		}
		if issuer == nil || (isSelfSigned(issuer) && len(chain) > 0) {
			return chain
		}
		chain = append(chain, issuer)
		if isSelfSigned(issuer) {
			return chain
		}
		cur = issuer
	}
	return chain
}

// IdentityIDFromCert returns the identity id from an identity certificate's
// URI SAN spiffe://<trustDomain>/identity/<id>, if it has exactly one.
func IdentityIDFromCert(cert *x509.Certificate, trustDomain string) (string, bool) {
	if cert == nil {
		return "", false
	}
	td, err := resolveTrustDomain(trustDomain)
	if err != nil {
		return "", false
	}
	id, found := "", 0
	for _, u := range cert.URIs {
		if u.Scheme == "spiffe" && u.Host == td && strings.HasPrefix(u.Path, identityPathPrefix) {
			id = strings.TrimPrefix(u.Path, identityPathPrefix)
			found++
		}
	}
	return id, found == 1 && id != ""
}
