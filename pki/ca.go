// Package pki creates, stores and inspects the X.509 material a Garrison
// controller cluster runs on: a cluster root CA, a per-node intermediate CA,
// node certificates used for both sides of controller-to-controller TLS,
// and JWT signing certificates whose chains are published in JWKS x5c.
//
// Node identity is carried in a SPIFFE-style URI SAN
// (spiffe://<trustDomain>/controller/<nodeName>) rather than in the CN, so
// peers can authenticate each other without relying on DNS names that may
// differ between deployments.
//
// New keys are ECDSA P-256. Existing RSA and Ed25519 keys are accepted when
// loading, so operators can bring their own CA.
package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// DefaultTrustDomain is the trust domain used in SPIFFE-style URI SANs
// (spiffe://<trustDomain>/controller/<nodeName>) when none is given.
const DefaultTrustDomain = "garrison"

// Default lifetimes applied when a caller passes a zero validity.
const (
	// DefaultRootValidity is the lifetime of a root CA (10 years).
	DefaultRootValidity = 10 * 365 * 24 * time.Hour
	// DefaultIntermediateValidity is the lifetime of an intermediate CA
	// (5 years), shorter than the root so a node's CA can be rotated
	// without re-rooting the cluster.
	DefaultIntermediateValidity = 5 * 365 * 24 * time.Hour
	// DefaultLeafValidity is the lifetime of node and signing certificates
	// (1 year).
	DefaultLeafValidity = 365 * 24 * time.Hour
)

// clockSkew backdates NotBefore so that a peer whose clock runs somewhat
// behind the issuer's still accepts a certificate issued moments ago.
const clockSkew = time.Hour

// serialLimit bounds serial numbers to 128 bits: enough entropy to make
// collisions and prediction infeasible, while staying well inside RFC 5280's
// 20-octet limit.
var serialLimit = new(big.Int).Lsh(big.NewInt(1), 128)

// CA is a certificate authority able to issue certificates.
type CA struct {
	// Cert is this CA's own certificate.
	Cert *x509.Certificate
	// Chain is Cert followed by its issuers up to, but excluding, the root.
	// For a root CA it is just [Cert]. It is what gets appended to issued
	// leaves so peers that only hold the root can build a path.
	Chain []*x509.Certificate
	// Key is the private key matching Cert.
	Key crypto.Signer
}

// NewRootCA creates a self-signed root CA with a fresh ECDSA P-256 key.
// A zero validity means DefaultRootValidity.
func NewRootCA(commonName string, validity time.Duration) (*CA, error) {
	if err := checkCommonName(commonName); err != nil {
		return nil, fmt.Errorf("pki: new root CA: %w", err)
	}
	validity, err := resolveValidity(validity, DefaultRootValidity)
	if err != nil {
		return nil, fmt.Errorf("pki: new root CA %q: %w", commonName, err)
	}
	key, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("pki: new root CA %q: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	if err := fillTemplate(tmpl, key.Public(), validity, nil); err != nil {
		return nil, fmt.Errorf("pki: new root CA %q: %w", commonName, err)
	}
	cert, err := createCertificate(tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("pki: new root CA %q: %w", commonName, err)
	}
	return &CA{Cert: cert, Chain: []*x509.Certificate{cert}, Key: key}, nil
}

// NewIntermediateCA creates a CA signed by ca with a path length of 0, so it
// can issue leaf certificates but no further CAs. A zero validity means
// DefaultIntermediateValidity; the lifetime is capped at ca's own expiry.
//
// The returned Chain is the intermediate followed by ca.Chain, except that a
// self-signed root is never included: peers already hold the root, and the
// Chain field is defined to exclude it.
func (ca *CA) NewIntermediateCA(commonName string, validity time.Duration) (*CA, error) {
	if err := ca.validate(); err != nil {
		return nil, fmt.Errorf("pki: new intermediate CA: %w", err)
	}
	if err := checkCommonName(commonName); err != nil {
		return nil, fmt.Errorf("pki: new intermediate CA: %w", err)
	}
	// Verifiers would reject anything this sub-CA issued, so fail now rather
	// than hand out a CA that cannot work.
	if ca.Cert.MaxPathLen == 0 && ca.Cert.MaxPathLenZero {
		return nil, fmt.Errorf("pki: new intermediate CA %q: issuer %q has path length 0 and cannot issue CAs",
			commonName, ca.Cert.Subject.CommonName)
	}
	validity, err := resolveValidity(validity, DefaultIntermediateValidity)
	if err != nil {
		return nil, fmt.Errorf("pki: new intermediate CA %q: %w", commonName, err)
	}
	tmpl := &x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLen:            0,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	cert, key, err := ca.issue(tmpl, validity)
	if err != nil {
		return nil, fmt.Errorf("pki: new intermediate CA %q: %w", commonName, err)
	}
	chain := []*x509.Certificate{cert}
	if !isSelfSigned(ca.Cert) {
		chain = append(chain, ca.chain()...)
	}
	return &CA{Cert: cert, Chain: chain, Key: key}, nil
}

// LoadCA reads a CA from a PEM certificate file and a PEM key file. The
// certificate file may hold a chain with the CA's own certificate first; a
// trailing self-signed root is dropped from Chain so that Chain keeps its
// documented meaning. Each certificate must be signed by the next one.
func LoadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	certs, err := ParseCertificatesPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA certificate %s: %w", certPath, err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("pki: load CA key %s: %w", keyPath, err)
	}
	if len(certs) > 1 && isSelfSigned(certs[len(certs)-1]) {
		certs = certs[:len(certs)-1]
	}
	for i := 0; i+1 < len(certs); i++ {
		if err := certs[i].CheckSignatureFrom(certs[i+1]); err != nil {
			return nil, fmt.Errorf("pki: load CA certificate %s: certificate %d (%q) is not issued by certificate %d (%q): %w",
				certPath, i, certs[i].Subject.CommonName, i+1, certs[i+1].Subject.CommonName, err)
		}
	}
	ca := &CA{Cert: certs[0], Chain: certs, Key: key}
	if err := ca.validate(); err != nil {
		return nil, fmt.Errorf("pki: load CA from %s and %s: %w", certPath, keyPath, err)
	}
	return ca, nil
}

// Save writes the CA's certificate chain to certPath and its key to keyPath
// (mode 0600). Each file is replaced atomically, so a crash never leaves a
// truncated key behind; existing files are overwritten.
func (ca *CA) Save(certPath, keyPath string) error {
	if err := ca.validate(); err != nil {
		return fmt.Errorf("pki: save CA: %w", err)
	}
	keyPEM, err := EncodePrivateKeyPEM(ca.Key)
	if err != nil {
		return fmt.Errorf("pki: save CA: %w", err)
	}
	if err := writeFileAtomic(keyPath, keyPEM, keyFileMode); err != nil {
		return fmt.Errorf("pki: save CA key: %w", err)
	}
	if err := writeFileAtomic(certPath, EncodeCertificatesPEM(ca.chain()...), certFileMode); err != nil {
		return fmt.Errorf("pki: save CA certificate: %w", err)
	}
	return nil
}

// validate rejects CAs that would produce certificates no verifier accepts,
// so mistakes surface at issuance instead of at the first TLS handshake.
func (ca *CA) validate() error {
	if ca == nil || ca.Cert == nil {
		return errors.New("CA has no certificate")
	}
	if ca.Key == nil {
		return errors.New("CA has no private key")
	}
	if !ca.Cert.BasicConstraintsValid || !ca.Cert.IsCA {
		return fmt.Errorf("certificate %q is not a CA certificate", ca.Cert.Subject.CommonName)
	}
	if ca.Cert.KeyUsage != 0 && ca.Cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("CA certificate %q does not allow certificate signing", ca.Cert.Subject.CommonName)
	}
	pub, err := signerPublic(ca.Key)
	if err != nil {
		return fmt.Errorf("CA key: %w", err)
	}
	if !publicKeysEqual(pub, ca.Cert.PublicKey) {
		return fmt.Errorf("CA key does not match certificate %q", ca.Cert.Subject.CommonName)
	}
	if len(ca.Chain) > 0 && (ca.Chain[0] == nil || !bytes.Equal(ca.Chain[0].Raw, ca.Cert.Raw)) {
		return errors.New("CA chain does not start with the CA certificate")
	}
	for i, c := range ca.Chain {
		if c == nil {
			return fmt.Errorf("CA chain entry %d is nil", i)
		}
	}
	return nil
}

// chain tolerates a hand-built CA with an empty Chain by treating it as a
// root-style chain of just the CA certificate.
func (ca *CA) chain() []*x509.Certificate {
	if len(ca.Chain) == 0 {
		return []*x509.Certificate{ca.Cert}
	}
	return ca.Chain
}

// issue signs tmpl with ca for a newly generated key. The caller must have
// validated ca.
func (ca *CA) issue(tmpl *x509.Certificate, validity time.Duration) (*x509.Certificate, crypto.Signer, error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	if err := fillTemplate(tmpl, key.Public(), validity, ca.Cert); err != nil {
		return nil, nil, err
	}
	cert, err := createCertificate(tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return nil, nil, err
	}
	return cert, key, nil
}

// fillTemplate sets the fields every certificate we issue shares. When issuer
// is non-nil the lifetime is capped at the issuer's expiry, because a chain is
// only valid while every certificate in it is, and advertising a longer
// lifetime would only mislead operators.
func fillTemplate(tmpl *x509.Certificate, pub crypto.PublicKey, validity time.Duration, issuer *x509.Certificate) error {
	now := time.Now()
	notBefore := now.Add(-clockSkew)
	notAfter := now.Add(validity)
	if issuer != nil {
		if !now.Before(issuer.NotAfter) {
			return fmt.Errorf("issuer %q expired at %s", issuer.Subject.CommonName, issuer.NotAfter.UTC().Format(time.RFC3339))
		}
		if notAfter.After(issuer.NotAfter) {
			notAfter = issuer.NotAfter
		}
	}
	serial, err := newSerial()
	if err != nil {
		return err
	}
	skid, err := subjectKeyID(pub)
	if err != nil {
		return err
	}
	tmpl.SerialNumber = serial
	tmpl.NotBefore = notBefore
	tmpl.NotAfter = notAfter
	tmpl.SubjectKeyId = skid
	return nil
}

func createCertificate(tmpl, parent *x509.Certificate, pub crypto.PublicKey, signer crypto.Signer) (*x509.Certificate, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, signer)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parse freshly signed certificate: %w", err)
	}
	return cert, nil
}

func resolveValidity(v, def time.Duration) (time.Duration, error) {
	switch {
	case v < 0:
		return 0, fmt.Errorf("validity must not be negative, got %s", v)
	case v == 0:
		return def, nil
	default:
		return v, nil
	}
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate ECDSA P-256 key: %w", err)
	}
	return key, nil
}

func newSerial() (*big.Int, error) {
	for {
		n, err := rand.Int(rand.Reader, serialLimit)
		if err != nil {
			return nil, fmt.Errorf("generate serial number: %w", err)
		}
		// RFC 5280 requires a positive serial; zero is astronomically
		// unlikely but cheap to rule out.
		if n.Sign() > 0 {
			return n, nil
		}
	}
}

// subjectKeyID follows RFC 7093 method 1 (leftmost 160 bits of the SHA-256
// of the subjectPublicKey bits). We set it ourselves because x509 only fills
// it in for CA certificates, while RFC 5280 recommends it on end-entity
// certificates too and tooling uses it to match certificates to keys.
func subjectKeyID(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshal public key: %w", err)
	}
	var spki struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}
	if _, err := asn1.Unmarshal(der, &spki); err != nil {
		return nil, fmt.Errorf("decode public key: %w", err)
	}
	sum := sha256.Sum256(spki.PublicKey.Bytes)
	return sum[:20], nil
}

// isSelfSigned reports whether c is a root: same subject and issuer, and its
// signature verifies under its own key. Name equality alone is not enough,
// since a cross-signed CA can share subject and issuer names.
func isSelfSigned(c *x509.Certificate) bool {
	if c == nil || !bytes.Equal(c.RawSubject, c.RawIssuer) {
		return false
	}
	return c.CheckSignature(c.SignatureAlgorithm, c.RawTBSCertificate, c.Signature) == nil
}

// signerPublic guards against typed-nil or malformed standard keys, whose
// Public methods would otherwise panic on caller-supplied input.
func signerPublic(s crypto.Signer) (crypto.PublicKey, error) {
	switch k := s.(type) {
	case nil:
		return nil, errors.New("private key is nil")
	case *ecdsa.PrivateKey:
		if k == nil || k.Curve == nil {
			return nil, errors.New("ECDSA private key is nil or has no curve")
		}
	case *rsa.PrivateKey:
		if k == nil || k.N == nil {
			return nil, errors.New("RSA private key is nil or incomplete")
		}
	case ed25519.PrivateKey:
		if len(k) != ed25519.PrivateKeySize {
			return nil, fmt.Errorf("Ed25519 private key has length %d, want %d", len(k), ed25519.PrivateKeySize)
		}
	}
	pub := s.Public()
	if pub == nil {
		return nil, errors.New("private key has no public key")
	}
	return pub, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	eq, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && eq.Equal(b)
}
