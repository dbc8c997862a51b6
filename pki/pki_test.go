package pki

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io/fs"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// The RSA key is generated once because RSA key generation dominates the
// runtime of an otherwise fast suite.
var (
	rsaKeyOnce sync.Once
	rsaKey     *rsa.PrivateKey
	rsaKeyErr  error
)

func testRSAKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	rsaKeyOnce.Do(func() { rsaKey, rsaKeyErr = rsa.GenerateKey(rand.Reader, 2048) })
	if rsaKeyErr != nil {
		t.Fatalf("generate RSA key: %v", rsaKeyErr)
	}
	return rsaKey
}

func mustRoot(t *testing.T, name string) *CA {
	t.Helper()
	root, err := NewRootCA(name, 0)
	if err != nil {
		t.Fatalf("NewRootCA: %v", err)
	}
	return root
}

func mustIntermediate(t *testing.T, parent *CA, name string) *CA {
	t.Helper()
	inter, err := parent.NewIntermediateCA(name, 0)
	if err != nil {
		t.Fatalf("NewIntermediateCA: %v", err)
	}
	return inter
}

func mustParseCerts(t *testing.T, b []byte) []*x509.Certificate {
	t.Helper()
	certs, err := ParseCertificatesPEM(b)
	if err != nil {
		t.Fatalf("ParseCertificatesPEM: %v", err)
	}
	return certs
}

func nodeRequest() NodeCertRequest {
	return NodeCertRequest{
		Name:     "node1",
		DNSNames: []string{"localhost", "node1.example.com"},
		IPs:      []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
	}
}

func verify(leaf *x509.Certificate, root *x509.Certificate, intermediates []*x509.Certificate, usage x509.ExtKeyUsage) error {
	_, err := leaf.Verify(x509.VerifyOptions{
		Roots:         NewCertPool(root),
		Intermediates: NewCertPool(intermediates...),
		KeyUsages:     []x509.ExtKeyUsage{usage},
	})
	return err
}

func TestRootCA(t *testing.T) {
	root := mustRoot(t, "Test Root")
	c := root.Cert
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("root is not a CA: IsCA=%v BasicConstraintsValid=%v", c.IsCA, c.BasicConstraintsValid)
	}
	if c.KeyUsage != x509.KeyUsageCertSign|x509.KeyUsageCRLSign {
		t.Errorf("KeyUsage = %v, want CertSign|CRLSign", c.KeyUsage)
	}
	if len(root.Chain) != 1 || root.Chain[0] != c {
		t.Errorf("Chain = %v, want [Cert]", root.Chain)
	}
	if !isSelfSigned(c) {
		t.Error("root is not self-signed")
	}
	if c.Subject.CommonName != "Test Root" {
		t.Errorf("CN = %q", c.Subject.CommonName)
	}
	if len(c.SubjectKeyId) == 0 {
		t.Error("SubjectKeyId not set")
	}
	if _, ok := root.Key.(*ecdsa.PrivateKey); !ok {
		t.Errorf("key type %T, want *ecdsa.PrivateKey", root.Key)
	}
	if got := c.NotAfter.Sub(c.NotBefore); got < DefaultRootValidity || got > DefaultRootValidity+2*time.Hour {
		t.Errorf("lifetime %v, want about DefaultRootValidity plus skew", got)
	}
}

func TestCertificateCommonFields(t *testing.T) {
	root := mustRoot(t, "Test Root")
	before := time.Now()
	chainPEM, _, err := root.IssueNodeCert(nodeRequest())
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustParseCerts(t, chainPEM)[0]
	for _, c := range []*x509.Certificate{root.Cert, leaf} {
		if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 {
			t.Errorf("%s: serial %v not a positive 128-bit number", c.Subject.CommonName, c.SerialNumber)
		}
		skew := before.Sub(c.NotBefore)
		if skew < 59*time.Minute || skew > 61*time.Minute {
			t.Errorf("%s: NotBefore is %v before issuance, want about 1h", c.Subject.CommonName, skew)
		}
		if len(c.SubjectKeyId) == 0 {
			t.Errorf("%s: SubjectKeyId not set", c.Subject.CommonName)
		}
	}
	if !bytes.Equal(leaf.AuthorityKeyId, root.Cert.SubjectKeyId) {
		t.Error("leaf AuthorityKeyId does not match issuer SubjectKeyId")
	}
	if leaf.SerialNumber.Cmp(root.Cert.SerialNumber) == 0 {
		t.Error("serials collide")
	}
}

func TestChainVerification(t *testing.T) {
	root := mustRoot(t, "Test Root")
	inter := mustIntermediate(t, root, "node1 Intermediate CA")

	if len(inter.Chain) != 1 || inter.Chain[0] != inter.Cert {
		t.Fatalf("intermediate chain should exclude the root, got %d certs", len(inter.Chain))
	}
	if !inter.Cert.IsCA || inter.Cert.MaxPathLen != 0 || !inter.Cert.MaxPathLenZero {
		t.Errorf("intermediate: IsCA=%v MaxPathLen=%d MaxPathLenZero=%v, want CA with pathlen 0",
			inter.Cert.IsCA, inter.Cert.MaxPathLen, inter.Cert.MaxPathLenZero)
	}

	chainPEM, keyPEM, err := inter.IssueNodeCert(nodeRequest())
	if err != nil {
		t.Fatalf("IssueNodeCert: %v", err)
	}
	certs := mustParseCerts(t, chainPEM)
	if len(certs) != 2 || !bytes.Equal(certs[1].Raw, inter.Cert.Raw) {
		t.Fatalf("chain PEM should be [leaf, intermediate], got %d certs", len(certs))
	}
	leaf := certs[0]

	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		if err := verify(leaf, root.Cert, certs[1:], usage); err != nil {
			t.Errorf("verify for usage %v: %v", usage, err)
		}
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: NewCertPool(root.Cert), Intermediates: NewCertPool(certs[1:]...), DNSName: "node1.example.com",
	}); err != nil {
		t.Errorf("verify with DNS name: %v", err)
	}
	if err := verify(leaf, root.Cert, nil, x509.ExtKeyUsageServerAuth); err == nil {
		t.Error("verification without the intermediate should fail")
	}

	if leaf.Subject.CommonName != "node1" {
		t.Errorf("CN = %q, want node1", leaf.Subject.CommonName)
	}
	if leaf.IsCA {
		t.Error("leaf is a CA")
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want DigitalSignature", leaf.KeyUsage)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}) {
		t.Errorf("ExtKeyUsage = %v", leaf.ExtKeyUsage)
	}
	if !slices.Equal(leaf.DNSNames, []string{"localhost", "node1.example.com"}) {
		t.Errorf("DNSNames = %v", leaf.DNSNames)
	}
	if len(leaf.IPAddresses) != 2 || !leaf.IPAddresses[0].Equal(net.ParseIP("127.0.0.1")) || !leaf.IPAddresses[1].Equal(net.IPv6loopback) {
		t.Errorf("IPAddresses = %v", leaf.IPAddresses)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://garrison/controller/node1" {
		t.Errorf("URIs = %v", leaf.URIs)
	}
	if !bytes.Equal(leaf.AuthorityKeyId, inter.Cert.SubjectKeyId) {
		t.Error("leaf AuthorityKeyId does not match intermediate SubjectKeyId")
	}

	// The pair must load as a TLS certificate, which is how it will be used.
	pair, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		t.Fatalf("tls.X509KeyPair: %v", err)
	}
	if len(pair.Certificate) != 2 {
		t.Errorf("TLS certificate chain length %d, want 2", len(pair.Certificate))
	}
}

func TestIntermediateCannotIssueCA(t *testing.T) {
	root := mustRoot(t, "Test Root")
	inter := mustIntermediate(t, root, "Inter")
	if _, err := inter.NewIntermediateCA("Sub", 0); err == nil {
		t.Fatal("pathlen-0 intermediate issued a sub-CA")
	}
}

func TestValidityCappedAtIssuer(t *testing.T) {
	root, err := NewRootCA("Short Root", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA("Inter", 100*365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !inter.Cert.NotAfter.Equal(root.Cert.NotAfter) {
		t.Errorf("intermediate NotAfter %v, want capped at root's %v", inter.Cert.NotAfter, root.Cert.NotAfter)
	}
	chainPEM, _, err := inter.IssueNodeCert(NodeCertRequest{Name: "n", Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustParseCerts(t, chainPEM)[0]
	if got := time.Until(leaf.NotAfter); got > time.Hour || got < 50*time.Minute {
		t.Errorf("leaf expires in %v, want the requested 1h", got)
	}
}

func TestNodeCertFromDifferentRootFails(t *testing.T) {
	root1 := mustRoot(t, "Root One")
	root2 := mustRoot(t, "Root Two")
	inter := mustIntermediate(t, root1, "Inter")
	chainPEM, _, err := inter.IssueNodeCert(nodeRequest())
	if err != nil {
		t.Fatal(err)
	}
	certs := mustParseCerts(t, chainPEM)
	for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
		err := verify(certs[0], root2.Cert, certs[1:], usage)
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("usage %v: got %v, want UnknownAuthorityError", usage, err)
		}
	}
}

func TestSigningCert(t *testing.T) {
	root := mustRoot(t, "Test Root")
	inter := mustIntermediate(t, root, "Inter")
	chainPEM, keyPEM, err := inter.IssueSigningCert("node1", "", 0)
	if err != nil {
		t.Fatalf("IssueSigningCert: %v", err)
	}
	certs := mustParseCerts(t, chainPEM)
	if len(certs) != 2 {
		t.Fatalf("chain length %d, want 2", len(certs))
	}
	leaf := certs[0]
	if leaf.Subject.CommonName != "node1 signing" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	if leaf.KeyUsage != x509.KeyUsageDigitalSignature {
		t.Errorf("KeyUsage = %v, want DigitalSignature only", leaf.KeyUsage)
	}
	if len(leaf.ExtKeyUsage) != 0 || len(leaf.UnknownExtKeyUsage) != 0 {
		t.Errorf("unexpected EKU %v %v", leaf.ExtKeyUsage, leaf.UnknownExtKeyUsage)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://garrison/signer/node1" {
		t.Errorf("URIs = %v", leaf.URIs)
	}
	if len(leaf.DNSNames) != 0 || len(leaf.IPAddresses) != 0 {
		t.Error("signing cert should carry no DNS or IP SANs")
	}
	if got := leaf.NotAfter.Sub(leaf.NotBefore); got < DefaultLeafValidity || got > DefaultLeafValidity+2*time.Hour {
		t.Errorf("lifetime %v, want about one year", got)
	}
	if err := verify(leaf, root.Cert, certs[1:], x509.ExtKeyUsageAny); err != nil {
		t.Errorf("verify signing chain: %v", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeysEqual(key.Public(), leaf.PublicKey) {
		t.Error("signing key does not match certificate")
	}
}

func TestAPICert(t *testing.T) {
	root := mustRoot(t, "Test Root")
	chainPEM, keyPEM, err := root.IssueAPICert(APICertRequest{
		DNSNames: []string{"ziti.example.com", "node1.example.com"},
		IPs:      []net.IP{net.ParseIP("127.0.0.1")},
	})
	if err != nil {
		t.Fatalf("IssueAPICert: %v", err)
	}
	certs := mustParseCerts(t, chainPEM)
	leaf := certs[0]
	if leaf.Subject.CommonName != "ziti.example.com" {
		t.Errorf("CN = %q", leaf.Subject.CommonName)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("EKU = %v, want serverAuth only", leaf.ExtKeyUsage)
	}
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://garrison/api" {
		t.Errorf("URIs = %v", leaf.URIs)
	}
	if id, ok := ControllerIDFromCert(leaf, ""); ok {
		t.Errorf("the API certificate names controller %q", id)
	}
	for _, host := range []string{"ziti.example.com", "node1.example.com", "127.0.0.1"} {
		if err := leaf.VerifyHostname(host); err != nil {
			t.Errorf("%s: %v", host, err)
		}
	}
	if err := verify(leaf, root.Cert, certs[1:], x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("verify API chain: %v", err)
	}
	if err := verify(leaf, root.Cert, certs[1:], x509.ExtKeyUsageClientAuth); err == nil {
		t.Error("the API certificate verifies for client authentication")
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil || !publicKeysEqual(key.Public(), leaf.PublicKey) {
		t.Fatalf("API key does not match certificate: %v", err)
	}
	if _, _, err := root.IssueAPICert(APICertRequest{}); err == nil {
		t.Error("an API certificate without any name was issued")
	}
}

func TestControllerIDFromCert(t *testing.T) {
	root := mustRoot(t, "Test Root")
	nodePEM, _, err := root.IssueNodeCert(NodeCertRequest{Name: "node-1.a_b", TrustDomain: "example.org"})
	if err != nil {
		t.Fatal(err)
	}
	node := mustParseCerts(t, nodePEM)[0]
	signPEM, _, err := root.IssueSigningCert("node-1.a_b", "example.org", 0)
	if err != nil {
		t.Fatal(err)
	}
	signing := mustParseCerts(t, signPEM)[0]
	defPEM, _, err := root.IssueNodeCert(NodeCertRequest{Name: "node2"})
	if err != nil {
		t.Fatal(err)
	}
	defNode := mustParseCerts(t, defPEM)[0]

	if id, ok := ControllerIDFromCert(node, "example.org"); !ok || id != "node-1.a_b" {
		t.Errorf("node cert: got %q %v", id, ok)
	}
	if id, ok := ControllerIDFromCert(defNode, ""); !ok || id != "node2" {
		t.Errorf("default trust domain: got %q %v", id, ok)
	}
	if id, ok := ControllerIDFromCert(defNode, DefaultTrustDomain); !ok || id != "node2" {
		t.Errorf("explicit default trust domain: got %q %v", id, ok)
	}
	if _, ok := ControllerIDFromCert(node, "garrison"); ok {
		t.Error("wrong trust domain accepted")
	}
	if _, ok := ControllerIDFromCert(signing, "example.org"); ok {
		t.Error("signing cert accepted as controller")
	}
	if _, ok := ControllerIDFromCert(nil, ""); ok {
		t.Error("nil cert accepted")
	}

	// A really signed certificate without any URI SAN.
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(42),
		Subject:      pkix.Name{CommonName: "node1"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		DNSNames:     []string{"node1"},
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, key.Public(), root.Key)
	if err != nil {
		t.Fatal(err)
	}
	noURI, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := ControllerIDFromCert(noURI, ""); ok {
		t.Error("cert without URI SAN accepted")
	}

	for _, tc := range []struct {
		uris []string
		want string
	}{
		{[]string{"spiffe://garrison/controller/node1"}, "node1"},
		{[]string{"https://example.com/x", "spiffe://garrison/controller/node1"}, "node1"},
		{[]string{"spiffe://garrison/controller/node1", "spiffe://garrison/controller/node1"}, "node1"},
		{[]string{"spiffe://garrison/controller/node1", "spiffe://garrison/controller/node2"}, ""},
		{[]string{"spiffe://garrison/controller/"}, ""},
		{[]string{"spiffe://garrison/controller/node1/extra"}, ""},
		{[]string{"spiffe://garrison/controller/.."}, ""},
		{[]string{"spiffe://garrison/controller/no%2Fde"}, ""},
		{[]string{"spiffe://garrison/controller/node1?x=1"}, ""},
		{[]string{"spiffe://garrison/controller/node1#frag"}, ""},
		{[]string{"spiffe://garrison:8443/controller/node1"}, ""},
		{[]string{"spiffe://user@garrison/controller/node1"}, ""},
		{[]string{"spiffe://GARRISON/controller/node1"}, ""},
		{[]string{"https://garrison/controller/node1"}, ""},
		{[]string{"spiffe://garrison/signer/node1"}, ""},
		{[]string{"spiffe://garrison/Controller/node1"}, ""},
		{[]string{"spiffe:garrison/controller/node1"}, ""},
	} {
		c := &x509.Certificate{}
		for _, s := range tc.uris {
			u, err := url.Parse(s)
			if err != nil {
				t.Fatalf("parse %q: %v", s, err)
			}
			c.URIs = append(c.URIs, u)
		}
		c.URIs = append(c.URIs, nil)
		id, ok := ControllerIDFromCert(c, "garrison")
		if id != tc.want || ok != (tc.want != "") {
			t.Errorf("%v: got (%q, %v), want %q", tc.uris, id, ok, tc.want)
		}
	}
}

func TestInvalidRequests(t *testing.T) {
	root := mustRoot(t, "Test Root")
	for _, req := range []NodeCertRequest{
		{Name: ""},
		{Name: "a/b"},
		{Name: ".."},
		{Name: "node 1"},
		{Name: "nöde"},
		{Name: strings.Repeat("n", 65)},
		{Name: "n", TrustDomain: "Upper"},
		{Name: "n", TrustDomain: "a/b"},
		{Name: "n", Validity: -time.Hour},
		{Name: "n", DNSNames: []string{""}},
		{Name: "n", DNSNames: []string{"bad name"}},
		{Name: "n", IPs: []net.IP{nil}},
		{Name: "n", IPs: []net.IP{{1, 2, 3}}},
	} {
		if _, _, err := root.IssueNodeCert(req); err == nil {
			t.Errorf("IssueNodeCert(%+v) succeeded", req)
		}
	}
	if _, _, err := root.IssueSigningCert("", "", 0); err == nil {
		t.Error("IssueSigningCert with empty name succeeded")
	}
	if _, _, err := root.IssueSigningCert("n", "", -time.Second); err == nil {
		t.Error("IssueSigningCert with negative validity succeeded")
	}
	if _, err := NewRootCA("", 0); err == nil {
		t.Error("NewRootCA with empty name succeeded")
	}
	if _, err := NewRootCA("x\x00y", 0); err == nil {
		t.Error("NewRootCA with control characters succeeded")
	}
	if _, err := NewRootCA("x", -time.Hour); err == nil {
		t.Error("NewRootCA with negative validity succeeded")
	}

	// Broken CAs must fail cleanly rather than panic or mint unverifiable
	// certificates.
	other := mustRoot(t, "Other")
	leafPEM, _, err := root.IssueNodeCert(NodeCertRequest{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	leaf := mustParseCerts(t, leafPEM)[0]
	var nilCA *CA
	for name, ca := range map[string]*CA{
		"nil CA":         nilCA,
		"no cert":        {Key: root.Key},
		"no key":         {Cert: root.Cert},
		"typed nil key":  {Cert: root.Cert, Key: (*ecdsa.PrivateKey)(nil)},
		"mismatched key": {Cert: root.Cert, Key: other.Key},
		"leaf as CA":     {Cert: leaf, Key: root.Key},
		"bad chain":      {Cert: root.Cert, Chain: []*x509.Certificate{other.Cert}, Key: root.Key},
		"nil in chain":   {Cert: root.Cert, Chain: []*x509.Certificate{root.Cert, nil}, Key: root.Key},
	} {
		if _, _, err := ca.IssueNodeCert(NodeCertRequest{Name: "n"}); err == nil {
			t.Errorf("%s: IssueNodeCert succeeded", name)
		}
		if _, _, err := ca.IssueSigningCert("n", "", 0); err == nil {
			t.Errorf("%s: IssueSigningCert succeeded", name)
		}
		if _, err := ca.NewIntermediateCA("i", 0); err == nil {
			t.Errorf("%s: NewIntermediateCA succeeded", name)
		}
		if err := ca.Save(filepath.Join(t.TempDir(), "c"), filepath.Join(t.TempDir(), "k")); err == nil {
			t.Errorf("%s: Save succeeded", name)
		}
	}
}

func TestHandBuiltCAWithoutChain(t *testing.T) {
	root := mustRoot(t, "Test Root")
	ca := &CA{Cert: root.Cert, Key: root.Key}
	chainPEM, _, err := ca.IssueNodeCert(NodeCertRequest{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(mustParseCerts(t, chainPEM)); n != 2 {
		t.Errorf("chain length %d, want leaf plus CA", n)
	}
}

// rfc7638Modulus is the RSA modulus of the example key in RFC 7638 §3.1.
const rfc7638Modulus = "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"

func b64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatalf("decode %q: %v", s, err)
	}
	return b
}

func TestKeyIDRFC7638(t *testing.T) {
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(b64(t, rfc7638Modulus)), E: 65537}
	const want = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs" // RFC 7638 §3.1
	got, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	if v, err := KeyID(*pub); err != nil || v != want {
		t.Errorf("KeyID(value) = %q, %v", v, err)
	}
}

func TestKeyIDEC(t *testing.T) {
	// The P-256 example key of RFC 7517 Appendix A.1. The expected value was
	// computed independently (Python hashlib over the canonical JSON
	// {"crv":"P-256","kty":"EC","x":"MKBC...","y":"4Etl..."}).
	x := b64(t, "MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4")
	y := b64(t, "4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM")
	pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
	if err != nil {
		t.Fatal(err)
	}
	const want = "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s"
	got, err := KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
	again, _ := KeyID(pub)
	if again != got {
		t.Error("KeyID not deterministic")
	}
	if v, err := KeyID(*pub); err != nil || v != want {
		t.Errorf("KeyID(value) = %q, %v", v, err)
	}
}

// TestKeyIDECPadding checks that short coordinates are left-padded to the
// field size, the detail implementations most often get wrong.
func TestKeyIDECPadding(t *testing.T) {
	var key *ecdsa.PrivateKey
	for i := 0; i < 20000; i++ {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		point, err := k.PublicKey.Bytes()
		if err != nil {
			t.Fatal(err)
		}
		if point[1] == 0 {
			key = k
			break
		}
	}
	if key == nil {
		t.Skip("no key with a short X coordinate found")
	}
	point, _ := key.PublicKey.Bytes()
	canonical, err := json.Marshal(struct {
		Crv string `json:"crv"`
		Kty string `json:"kty"`
		X   string `json:"x"`
		Y   string `json:"y"`
	}{"P-256", "EC", base64.RawURLEncoding.EncodeToString(point[1:33]), base64.RawURLEncoding.EncodeToString(point[33:])})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(canonical)
	want := base64.RawURLEncoding.EncodeToString(sum[:])
	got, err := KeyID(key.Public())
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("KeyID = %q, want %q", got, want)
	}
}

func TestKeyIDOther(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	id1, err1 := KeyID(k1.Public())
	id2, err2 := KeyID(k2.Public())
	if err1 != nil || err2 != nil || id1 == id2 {
		t.Errorf("distinct keys: %q %v, %q %v", id1, err1, id2, err2)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if id, err := KeyID(p384.Public()); err != nil || len(id) != 43 {
		t.Errorf("P-384: %q %v", id, err)
	}
	edPub, _, _ := ed25519.GenerateKey(rand.Reader)
	if id, err := KeyID(edPub); err != nil || len(id) != 43 {
		t.Errorf("Ed25519: %q %v", id, err)
	}
	p224, _ := ecdsa.GenerateKey(elliptic.P224(), rand.Reader)
	for name, pub := range map[string]crypto.PublicKey{
		"nil":           nil,
		"typed nil EC":  (*ecdsa.PublicKey)(nil),
		"typed nil RSA": (*rsa.PublicKey)(nil),
		"EC no curve":   &ecdsa.PublicKey{},
		"RSA no N":      &rsa.PublicKey{E: 65537},
		"RSA bad E":     &rsa.PublicKey{N: big.NewInt(12345), E: 0},
		"P-224":         p224.Public(),
		"short Ed25519": ed25519.PublicKey{1, 2, 3},
		"string":        "not a key",
	} {
		if _, err := KeyID(pub); err == nil {
			t.Errorf("%s: KeyID succeeded", name)
		}
	}
}

func TestFingerprint(t *testing.T) {
	root := mustRoot(t, "Test Root")
	sum := sha1.Sum(root.Cert.Raw)
	want := hex.EncodeToString(sum[:])
	got := Fingerprint(root.Cert)
	if got != want || len(got) != 40 || strings.ToLower(got) != got {
		t.Errorf("Fingerprint = %q, want %q", got, want)
	}
	if Fingerprint(nil) != "" {
		t.Error("Fingerprint(nil) not empty")
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	dir := t.TempDir()
	root := mustRoot(t, "Test Root")
	certPath, keyPath := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca.key")
	if err := root.Save(certPath, keyPath); err != nil {
		t.Fatalf("Save: %v", err)
	}
	if runtime.GOOS != "windows" {
		info, err := os.Stat(keyPath)
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode().Perm() != 0o600 {
			t.Errorf("key file mode %v, want 0600", info.Mode().Perm())
		}
	}
	loaded, err := LoadCA(certPath, keyPath)
	if err != nil {
		t.Fatalf("LoadCA: %v", err)
	}
	if !bytes.Equal(loaded.Cert.Raw, root.Cert.Raw) || len(loaded.Chain) != 1 {
		t.Error("loaded root differs")
	}
	if !publicKeysEqual(loaded.Key.Public(), root.Key.Public()) {
		t.Error("loaded key differs")
	}

	// Save over existing files must replace them.
	if err := root.Save(certPath, keyPath); err != nil {
		t.Fatalf("second Save: %v", err)
	}

	// An intermediate saved and reloaded must keep issuing verifiable certs.
	inter := mustIntermediate(t, loaded, "Inter")
	icert, ikey := filepath.Join(dir, "i.pem"), filepath.Join(dir, "i.key")
	if err := inter.Save(icert, ikey); err != nil {
		t.Fatal(err)
	}
	linter, err := LoadCA(icert, ikey)
	if err != nil {
		t.Fatal(err)
	}
	if len(linter.Chain) != 1 || !bytes.Equal(linter.Cert.Raw, inter.Cert.Raw) {
		t.Errorf("loaded intermediate chain length %d", len(linter.Chain))
	}
	chainPEM, _, err := linter.IssueNodeCert(nodeRequest())
	if err != nil {
		t.Fatal(err)
	}
	certs := mustParseCerts(t, chainPEM)
	if err := verify(certs[0], root.Cert, certs[1:], x509.ExtKeyUsageServerAuth); err != nil {
		t.Errorf("cert from reloaded intermediate: %v", err)
	}

	// A bundle that also carries the root loads, with the root dropped.
	bundle := filepath.Join(dir, "bundle.pem")
	if err := os.WriteFile(bundle, EncodeCertificatesPEM(inter.Cert, root.Cert), 0o644); err != nil {
		t.Fatal(err)
	}
	b, err := LoadCA(bundle, ikey)
	if err != nil {
		t.Fatalf("LoadCA bundle: %v", err)
	}
	if len(b.Chain) != 1 {
		t.Errorf("bundle chain length %d, want root dropped", len(b.Chain))
	}
}

func TestLoadCAErrors(t *testing.T) {
	dir := t.TempDir()
	root := mustRoot(t, "Test Root")
	other := mustRoot(t, "Other")
	inter := mustIntermediate(t, root, "Inter")
	leafPEM, leafKey, err := root.IssueNodeCert(NodeCertRequest{Name: "n"})
	if err != nil {
		t.Fatal(err)
	}
	rootKey, _ := EncodePrivateKeyPEM(root.Key)
	otherKey, _ := EncodePrivateKeyPEM(other.Key)
	interKey, _ := EncodePrivateKeyPEM(inter.Key)
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	rootPEM := write("root.pem", EncodeCertificatesPEM(root.Cert))
	for name, tc := range map[string][2]string{
		"missing cert":    {filepath.Join(dir, "nope.pem"), write("k1", rootKey)},
		"missing key":     {rootPEM, filepath.Join(dir, "nope.key")},
		"garbage cert":    {write("g.pem", []byte("garbage")), write("k2", rootKey)},
		"garbage key":     {rootPEM, write("g.key", []byte("garbage"))},
		"mismatched key":  {rootPEM, write("k3", otherKey)},
		"leaf not CA":     {write("leaf.pem", leafPEM), write("leaf.key", leafKey)},
		"wrong order":     {write("wo.pem", EncodeCertificatesPEM(inter.Cert, other.Cert, root.Cert)), write("k4", interKey)},
		"root key bundle": {write("rb.pem", EncodeCertificatesPEM(inter.Cert, root.Cert)), write("k5", rootKey)},
	} {
		if _, err := LoadCA(tc[0], tc[1]); err == nil {
			t.Errorf("%s: LoadCA succeeded", name)
		}
	}
}

func TestParsePrivateKeyPEM(t *testing.T) {
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsaKey := testRSAKey(t)
	_, edKey, _ := ed25519.GenerateKey(rand.Reader)

	pkcs8 := func(k any) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	}
	sec1DER, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	sec1 := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: sec1DER})
	// openssl ecparam -genkey emits the parameters block first.
	sec1WithParams := append(pem.EncodeToMemory(&pem.Block{Type: "EC PARAMETERS", Bytes: []byte{6, 8, 42, 134, 72, 206, 61, 3, 1, 7}}), sec1...)
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(rsaKey)})
	ours, err := EncodePrivateKeyPEM(ecKey)
	if err != nil {
		t.Fatal(err)
	}

	for name, tc := range map[string]struct {
		pem  []byte
		want crypto.Signer
	}{
		"PKCS#8 EC":      {pkcs8(ecKey), ecKey},
		"PKCS#8 RSA":     {pkcs8(rsaKey), rsaKey},
		"PKCS#8 Ed25519": {pkcs8(edKey), edKey},
		"SEC1 EC":        {sec1, ecKey},
		"SEC1 + params":  {sec1WithParams, ecKey},
		"PKCS#1 RSA":     {pkcs1, rsaKey},
		"our encoding":   {ours, ecKey},
	} {
		got, err := ParsePrivateKeyPEM(tc.pem)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		if !publicKeysEqual(got.Public(), tc.want.Public()) {
			t.Errorf("%s: parsed key differs", name)
		}
	}
	if !bytes.HasPrefix(ours, []byte("-----BEGIN PRIVATE KEY-----")) {
		t.Error("EncodePrivateKeyPEM is not PKCS#8")
	}

	encrypted := pem.EncodeToMemory(&pem.Block{
		Type:    "RSA PRIVATE KEY",
		Headers: map[string]string{"Proc-Type": "4,ENCRYPTED", "DEK-Info": "AES-128-CBC,00112233445566778899AABBCCDDEEFF"},
		Bytes:   []byte{1, 2, 3},
	})
	for name, in := range map[string][]byte{
		"nil":               nil,
		"garbage":           []byte("this is not a key"),
		"certificate only":  EncodeCertificatesPEM(mustRoot(t, "x").Cert),
		"PKCS#8 garbage":    pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte("junk")}),
		"SEC1 garbage":      pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: []byte("junk")}),
		"PKCS#1 garbage":    pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: []byte("junk")}),
		"SEC1 in PKCS8 tag": pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: sec1DER}),
		"encrypted PEM":     encrypted,
		"encrypted PKCS#8":  pem.EncodeToMemory(&pem.Block{Type: "ENCRYPTED PRIVATE KEY", Bytes: []byte{1}}),
		"two keys":          append(pkcs8(ecKey), sec1...),
		"truncated":         pkcs8(ecKey)[:60],
	} {
		got, err := ParsePrivateKeyPEM(in)
		if err == nil {
			t.Errorf("%s: got %T, want error", name, got)
		}
	}
	if _, err := EncodePrivateKeyPEM(nil); err == nil {
		t.Error("EncodePrivateKeyPEM(nil) succeeded")
	}
	if _, err := EncodePrivateKeyPEM((*ecdsa.PrivateKey)(nil)); err == nil {
		t.Error("EncodePrivateKeyPEM(typed nil) succeeded")
	}
}

func TestParseCertificatesPEM(t *testing.T) {
	root := mustRoot(t, "Test Root")
	inter := mustIntermediate(t, root, "Inter")
	encoded := EncodeCertificatesPEM(inter.Cert, nil, root.Cert)
	keyPEM, _ := EncodePrivateKeyPEM(root.Key)
	// Comments and non-certificate blocks between certificates are skipped.
	mixed := slices.Concat([]byte("subject=Inter\n"), EncodeCertificatesPEM(inter.Cert), keyPEM, []byte("# root\n"), EncodeCertificatesPEM(root.Cert))
	for name, in := range map[string][]byte{"plain": encoded, "mixed": mixed} {
		certs, err := ParseCertificatesPEM(in)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(certs) != 2 || !bytes.Equal(certs[0].Raw, inter.Cert.Raw) || !bytes.Equal(certs[1].Raw, root.Cert.Raw) {
			t.Errorf("%s: round trip mismatch", name)
		}
	}
	for name, in := range map[string][]byte{
		"nil":       nil,
		"garbage":   []byte("garbage"),
		"key only":  keyPEM,
		"bad DER":   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte("junk")}),
		"truncated": encoded[:len(encoded)/3],
	} {
		if _, err := ParseCertificatesPEM(in); err == nil {
			t.Errorf("%s: ParseCertificatesPEM succeeded", name)
		}
	}
}

func TestNewCertPool(t *testing.T) {
	root := mustRoot(t, "Test Root")
	pool := NewCertPool(root.Cert, nil)
	if !pool.Equal(NewCertPool(root.Cert)) {
		t.Error("nil entry changed the pool")
	}
	if _, err := root.Cert.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
		t.Errorf("root does not verify against its own pool: %v", err)
	}
}

func TestCreateNodeFiles(t *testing.T) {
	root := mustRoot(t, "Test Root")
	dir := filepath.Join(t.TempDir(), "node1")
	files, err := CreateNodeFiles(root, dir, nodeRequest())
	if err != nil {
		t.Fatalf("CreateNodeFiles: %v", err)
	}
	if files != NodeFilesIn(dir) {
		t.Errorf("returned %+v, want NodeFilesIn(dir)", files)
	}
	for _, p := range append(files.Files(), files.Dir) {
		if !filepath.IsAbs(p) {
			t.Errorf("%s is not absolute", p)
		}
		info, err := os.Stat(p)
		if err != nil {
			t.Fatalf("stat: %v", err)
		}
		if runtime.GOOS != "windows" && strings.HasSuffix(p, ".key") && info.Mode().Perm() != 0o600 {
			t.Errorf("%s mode %v, want 0600", p, info.Mode().Perm())
		}
	}

	read := func(p string) []*x509.Certificate {
		t.Helper()
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return mustParseCerts(t, b)
	}
	caCerts := read(files.CA)
	if len(caCerts) != 1 || !bytes.Equal(caCerts[0].Raw, root.Cert.Raw) {
		t.Fatal("ca.pem must hold exactly the root certificate")
	}
	interCerts := read(files.IntermediateCert)
	if len(interCerts) != 1 || !interCerts[0].IsCA {
		t.Fatal("intermediate.pem must hold the intermediate CA only")
	}
	interCA, err := LoadCA(files.IntermediateCert, files.IntermediateKey)
	if err != nil {
		t.Fatalf("load intermediate: %v", err)
	}
	if err := interCA.Cert.CheckSignatureFrom(root.Cert); err != nil {
		t.Errorf("intermediate not signed by root: %v", err)
	}

	for _, tc := range []struct {
		cert, key string
		usages    []x509.ExtKeyUsage
	}{
		{files.ServerCert, files.ServerKey, []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}},
		{files.SigningCert, files.SigningKey, []x509.ExtKeyUsage{x509.ExtKeyUsageAny}},
	} {
		certs := read(tc.cert)
		if len(certs) != 2 || !bytes.Equal(certs[1].Raw, interCerts[0].Raw) {
			t.Fatalf("%s must be [leaf, intermediate]", tc.cert)
		}
		// Issued by the intermediate, not the root.
		if err := certs[0].CheckSignatureFrom(interCerts[0]); err != nil {
			t.Errorf("%s leaf not signed by intermediate: %v", tc.cert, err)
		}
		if !bytes.Equal(certs[0].RawIssuer, interCerts[0].RawSubject) {
			t.Errorf("%s issuer is not the intermediate", tc.cert)
		}
		for _, u := range tc.usages {
			if err := verify(certs[0], caCerts[0], certs[1:], u); err != nil {
				t.Errorf("%s: verify %v: %v", tc.cert, u, err)
			}
		}
		if _, err := tls.LoadX509KeyPair(tc.cert, tc.key); err != nil {
			t.Errorf("%s: key pair: %v", tc.cert, err)
		}
	}
	server := read(files.ServerCert)[0]
	if id, ok := ControllerIDFromCert(server, ""); !ok || id != "node1" {
		t.Errorf("server cert controller ID = %q %v", id, ok)
	}
	signing := read(files.SigningCert)[0]
	if signing.Subject.CommonName != "node1 signing" {
		t.Errorf("signing CN = %q", signing.Subject.CommonName)
	}

	// Re-running must not clobber the node's existing keys.
	before, _ := os.ReadFile(files.IntermediateKey)
	if _, err := CreateNodeFiles(root, dir, nodeRequest()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("second CreateNodeFiles: got %v, want fs.ErrExist", err)
	}
	after, _ := os.ReadFile(files.IntermediateKey)
	if !bytes.Equal(before, after) {
		t.Error("intermediate key was overwritten")
	}
}

func TestCreateNodeFilesErrors(t *testing.T) {
	root := mustRoot(t, "Test Root")
	inter := mustIntermediate(t, root, "Inter")
	dir := t.TempDir()
	if _, err := CreateNodeFiles(inter, filepath.Join(dir, "a"), nodeRequest()); err == nil {
		t.Error("non-root CA accepted")
	}
	if _, err := CreateNodeFiles(nil, filepath.Join(dir, "b"), nodeRequest()); err == nil {
		t.Error("nil CA accepted")
	}
	if _, err := CreateNodeFiles(root, "", nodeRequest()); err == nil {
		t.Error("empty dir accepted")
	}
	bad := filepath.Join(dir, "c")
	if _, err := CreateNodeFiles(root, bad, NodeCertRequest{Name: "bad/name"}); err == nil {
		t.Error("invalid name accepted")
	}
	if _, err := os.Stat(bad); !errors.Is(err, fs.ErrNotExist) {
		t.Error("directory created despite invalid request")
	}
	// One pre-existing file blocks the whole set.
	partial := filepath.Join(dir, "d")
	if err := os.MkdirAll(partial, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(NodeFilesIn(partial).SigningKey, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := CreateNodeFiles(root, partial, nodeRequest()); !errors.Is(err, fs.ErrExist) {
		t.Errorf("got %v, want fs.ErrExist", err)
	}
	if _, err := os.Stat(NodeFilesIn(partial).CA); !errors.Is(err, fs.ErrNotExist) {
		t.Error("files written despite conflict")
	}
}

func TestNodeFilesIn(t *testing.T) {
	f := NodeFilesIn("rel/node")
	if !filepath.IsAbs(f.Dir) || !strings.HasSuffix(f.Dir, filepath.Join("rel", "node")) {
		t.Errorf("Dir = %q", f.Dir)
	}
	want := map[string]string{
		f.CA: "ca.pem", f.IntermediateCert: "intermediate.pem", f.IntermediateKey: "intermediate.key",
		f.ServerCert: "server.pem", f.ServerKey: "server.key", f.SigningCert: "signing.pem", f.SigningKey: "signing.key",
	}
	if len(want) != 7 {
		t.Fatal("duplicate paths")
	}
	for p, base := range want {
		if filepath.Dir(p) != f.Dir || filepath.Base(p) != base {
			t.Errorf("%s, want %s in %s", p, base, f.Dir)
		}
	}
}

func FuzzParseCertificatesPEM(f *testing.F) {
	root, err := NewRootCA("Fuzz Root", 0)
	if err != nil {
		f.Fatal(err)
	}
	inter, err := root.NewIntermediateCA("Fuzz Inter", 0)
	if err != nil {
		f.Fatal(err)
	}
	chain := EncodeCertificatesPEM(inter.Cert, root.Cert)
	f.Add(chain)
	f.Add(chain[:len(chain)/2])
	f.Add([]byte{})
	f.Add([]byte("-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----\n"))
	f.Add([]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"))
	f.Add(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Cert.Raw[:len(root.Cert.Raw)-1]}))
	f.Fuzz(func(t *testing.T, in []byte) {
		certs, err := ParseCertificatesPEM(in)
		if err != nil {
			if certs != nil {
				t.Fatal("certificates returned with an error")
			}
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		// Whatever parsed must survive a re-encode unchanged.
		again, err := ParseCertificatesPEM(EncodeCertificatesPEM(certs...))
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		if len(again) != len(certs) {
			t.Fatalf("re-parse found %d certificates, want %d", len(again), len(certs))
		}
		for i := range certs {
			if !bytes.Equal(again[i].Raw, certs[i].Raw) {
				t.Fatalf("certificate %d changed on re-encode", i)
			}
			_ = Fingerprint(certs[i])
			_, _ = ControllerIDFromCert(certs[i], "")
		}
	})
}
