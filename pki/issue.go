package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// SPIFFE path prefixes distinguishing what a certificate is for. Keeping
// signing certificates under a different prefix means a stolen or misused
// signing certificate can never be mistaken for a controller's TLS identity.
const (
	controllerPathPrefix = "/controller/"
	signerPathPrefix     = "/signer/"
	apiPath              = "/api"
)

// maxNodeNameLen mirrors RFC 5280's upper bound for a common name, which the
// node name becomes.
const maxNodeNameLen = 64

// maxTrustDomainLen is the SPIFFE limit for a trust domain.
const maxTrustDomainLen = 255

// NodeCertRequest describes the node certificate IssueNodeCert produces.
type NodeCertRequest struct {
	// Name is the node name, e.g. "node1". It becomes the CN and the last
	// segment of the SPIFFE ID, so it is limited to ASCII letters, digits,
	// '.', '-' and '_' (at most 64 characters, not "." or "..").
	Name string
	// TrustDomain is the SPIFFE trust domain; DefaultTrustDomain when empty.
	TrustDomain string
	// DNSNames are added as DNS SANs.
	DNSNames []string
	// IPs are added as IP SANs.
	IPs []net.IP
	// Validity is the certificate lifetime; DefaultLeafValidity (1 year) when
	// zero. It is capped at the issuing CA's expiry.
	Validity time.Duration
}

// IssueNodeCert issues a certificate valid both as a TLS server and as a TLS
// client (EKU serverAuth and clientAuth), because controllers dial each other
// and one identity per node keeps peer authentication symmetric. It carries
// the requested DNS and IP SANs plus the URI SAN
// spiffe://<trustDomain>/controller/<name>.
//
// certChainPEM is the new leaf followed by ca.Chain; keyPEM is its PKCS#8
// private key.
func (ca *CA) IssueNodeCert(req NodeCertRequest) (certChainPEM, keyPEM []byte, err error) {
	if err := ca.validate(); err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate: %w", err)
	}
	td, err := resolveTrustDomain(req.TrustDomain)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate: %w", err)
	}
	if err := checkNodeName(req.Name); err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate: %w", err)
	}
	validity, err := resolveValidity(req.Validity, DefaultLeafValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate for %q: %w", req.Name, err)
	}
	dnsNames, err := normalizeDNSNames(req.DNSNames)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate for %q: %w", req.Name, err)
	}
	ips, err := normalizeIPs(req.IPs)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate for %q: %w", req.Name, err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: req.Name},
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  []*url.URL{spiffeID(td, controllerPathPrefix, req.Name)},
	}
	certChainPEM, keyPEM, err = ca.issueLeaf(tmpl, validity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue node certificate for %q: %w", req.Name, err)
	}
	return certChainPEM, keyPEM, nil
}

// IssueSigningCert issues a key pair and certificate a node uses to sign
// JWTs; the chain is later published in JWKS x5c. The certificate allows
// only digital signatures and carries no TLS EKU, has CN "<name> signing" and
// the URI SAN spiffe://<trustDomain>/signer/<name>. An empty trustDomain means
// DefaultTrustDomain and a zero validity means DefaultLeafValidity.
//
// certChainPEM is the new leaf followed by ca.Chain; keyPEM is its PKCS#8
// private key.
func (ca *CA) IssueSigningCert(name, trustDomain string, validity time.Duration) (certChainPEM, keyPEM []byte, err error) {
	if err := ca.validate(); err != nil {
		return nil, nil, fmt.Errorf("pki: issue signing certificate: %w", err)
	}
	td, err := resolveTrustDomain(trustDomain)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue signing certificate: %w", err)
	}
	if err := checkNodeName(name); err != nil {
		return nil, nil, fmt.Errorf("pki: issue signing certificate: %w", err)
	}
	validity, err = resolveValidity(validity, DefaultLeafValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue signing certificate for %q: %w", name, err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: name + " signing"},
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		URIs:                  []*url.URL{spiffeID(td, signerPathPrefix, name)},
	}
	certChainPEM, keyPEM, err = ca.issueLeaf(tmpl, validity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue signing certificate for %q: %w", name, err)
	}
	return certChainPEM, keyPEM, nil
}

// APICertRequest describes the cluster's API certificate.
type APICertRequest struct {
	// TrustDomain is the SPIFFE trust domain; DefaultTrustDomain when empty.
	TrustDomain string
	// DNSNames and IPs are the SANs: every name clients use for the API,
	// the load balancer's and each node's. The first DNS name, if any,
	// becomes the CN.
	DNSNames []string
	IPs      []net.IP
	// Validity is the certificate lifetime; DefaultLeafValidity when zero.
	Validity time.Duration
}

// IssueAPICert issues the certificate every node of a cluster presents on
// its API listener, so that a client sees one server whichever node a load
// balancer picks, and whose key signs enrollment JWTs (OpenZiti's SDKs
// verify an enrollment JWT with the key of the certificate the server at
// its issuer URL presents). It is a TLS server certificate only (EKU
// serverAuth) with the URI SAN spiffe://<trustDomain>/api, so the cluster
// port, which wants .../controller/<name> and client authentication, never
// accepts it as a peer.
func (ca *CA) IssueAPICert(req APICertRequest) (certChainPEM, keyPEM []byte, err error) {
	if err := ca.validate(); err != nil {
		return nil, nil, fmt.Errorf("pki: issue API certificate: %w", err)
	}
	td, err := resolveTrustDomain(req.TrustDomain)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue API certificate: %w", err)
	}
	validity, err := resolveValidity(req.Validity, DefaultLeafValidity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue API certificate: %w", err)
	}
	dnsNames, err := normalizeDNSNames(req.DNSNames)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue API certificate: %w", err)
	}
	ips, err := normalizeIPs(req.IPs)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue API certificate: %w", err)
	}
	if len(dnsNames) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("pki: issue API certificate: it needs at least one DNS name or IP address")
	}
	cn := "garrison api"
	if len(dnsNames) > 0 {
		cn = dnsNames[0]
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: cn},
		BasicConstraintsValid: true,
		IsCA:                  false,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:              dnsNames,
		IPAddresses:           ips,
		URIs:                  []*url.URL{{Scheme: "spiffe", Host: td, Path: apiPath}},
	}
	certChainPEM, keyPEM, err = ca.issueLeaf(tmpl, validity)
	if err != nil {
		return nil, nil, fmt.Errorf("pki: issue API certificate: %w", err)
	}
	return certChainPEM, keyPEM, nil
}

func (ca *CA) issueLeaf(tmpl *x509.Certificate, validity time.Duration) (certChainPEM, keyPEM []byte, err error) {
	cert, key, err := ca.issue(tmpl, validity)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = EncodePrivateKeyPEM(key)
	if err != nil {
		return nil, nil, err
	}
	certs := append([]*x509.Certificate{cert}, ca.chain()...)
	return EncodeCertificatesPEM(certs...), keyPEM, nil
}

// ControllerIDFromCert returns the node name from a URI SAN of the form
// spiffe://<trustDomain>/controller/<name>. An empty trustDomain means
// DefaultTrustDomain. It reports false when no such SAN exists, when the
// trust domain differs, and when the certificate names more than one
// controller, since an ambiguous identity must not authenticate as either.
//
// It only inspects the certificate; callers must verify the chain first.
func ControllerIDFromCert(cert *x509.Certificate, trustDomain string) (string, bool) {
	if cert == nil {
		return "", false
	}
	if trustDomain == "" {
		trustDomain = DefaultTrustDomain
	}
	var id string
	for _, u := range cert.URIs {
		name, ok := controllerNameFromURI(u, trustDomain)
		if !ok {
			continue
		}
		if id != "" && id != name {
			return "", false
		}
		id = name
	}
	return id, id != ""
}

// controllerNameFromURI is deliberately strict: anything beyond the exact
// canonical form (ports, user info, queries, escaped characters, extra
// segments) is rejected rather than normalised, so two parsers can never
// disagree about which controller a certificate names.
func controllerNameFromURI(u *url.URL, trustDomain string) (string, bool) {
	if u == nil || u.Scheme != "spiffe" || u.Opaque != "" || u.User != nil ||
		u.Host != trustDomain || u.RawQuery != "" || u.ForceQuery ||
		u.Fragment != "" || u.RawFragment != "" || u.RawPath != "" {
		return "", false
	}
	name, ok := strings.CutPrefix(u.Path, controllerPathPrefix)
	if !ok || checkNodeName(name) != nil {
		return "", false
	}
	return name, true
}

func spiffeID(trustDomain, prefix, name string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: prefix + name}
}

func resolveTrustDomain(td string) (string, error) {
	if td == "" {
		return DefaultTrustDomain, nil
	}
	if err := checkTrustDomain(td); err != nil {
		return "", err
	}
	return td, nil
}

// checkTrustDomain applies the SPIFFE trust domain character set, which is
// also what keeps the value usable verbatim as a URI host.
func checkTrustDomain(td string) error {
	if td == "" || len(td) > maxTrustDomainLen {
		return fmt.Errorf("trust domain %q must be 1 to %d characters", td, maxTrustDomainLen)
	}
	for i := 0; i < len(td); i++ {
		c := td[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("trust domain %q may only contain lowercase letters, digits, '.', '-' and '_'", td)
		}
	}
	return nil
}

// checkNodeName applies the SPIFFE path segment character set, so the name
// can appear in the URI SAN without escaping and round-trips exactly.
func checkNodeName(name string) error {
	if name == "" || len(name) > maxNodeNameLen {
		return fmt.Errorf("node name %q must be 1 to %d characters", name, maxNodeNameLen)
	}
	if name == "." || name == ".." {
		return fmt.Errorf("node name %q is not allowed", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return fmt.Errorf("node name %q may only contain letters, digits, '.', '-' and '_'", name)
		}
	}
	return nil
}

// checkCommonName rejects names that render confusingly in tools and logs;
// CA names are free text, so only emptiness and control characters matter.
func checkCommonName(cn string) error {
	if strings.TrimSpace(cn) == "" {
		return errors.New("common name must not be empty")
	}
	if !utf8.ValidString(cn) {
		return fmt.Errorf("common name %q is not valid UTF-8", cn)
	}
	for _, r := range cn {
		if unicode.IsControl(r) {
			return fmt.Errorf("common name %q contains control characters", cn)
		}
	}
	return nil
}

// normalizeDNSNames drops duplicates and rejects values that are not even
// plausibly host names, because a malformed SAN is silently unusable for
// hostname verification.
func normalizeDNSNames(names []string) ([]string, error) {
	var out []string
	seen := make(map[string]bool, len(names))
	for _, n := range names {
		if n == "" || len(n) > 253 {
			return nil, fmt.Errorf("DNS name %q must be 1 to 253 characters", n)
		}
		for i := 0; i < len(n); i++ {
			c := n[i]
			if c <= ' ' || c >= 0x7f {
				return nil, fmt.Errorf("DNS name %q contains whitespace, control or non-ASCII characters", n)
			}
		}
		key := strings.ToLower(n)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, n)
	}
	return out, nil
}

func normalizeIPs(ips []net.IP) ([]net.IP, error) {
	var out []net.IP
	seen := make(map[string]bool, len(ips))
	for _, ip := range ips {
		if len(ip) != net.IPv4len && len(ip) != net.IPv6len {
			return nil, fmt.Errorf("invalid IP address %v", ip)
		}
		// Compare in 16-byte form so 127.0.0.1 given in both encodings is
		// listed once.
		key := string(ip.To16())
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, ip)
	}
	return out, nil
}
