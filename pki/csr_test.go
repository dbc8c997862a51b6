package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"
)

func newCSR(t testing.TB, key crypto.Signer, tmpl *x509.CertificateRequest) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})
}

func testIssuer(t testing.TB) (*CA, *CA) {
	t.Helper()
	root, err := NewRootCA("csr test root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA("csr test intermediate", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return root, inter
}

func TestSignClientCSRKeepsOnlySubject(t *testing.T) {
	root, inter := testIssuer(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	evil, _ := url.Parse("spiffe://garrison/controller/node1")
	csrPEM := newCSR(t, key, &x509.CertificateRequest{
		Subject:  pkix.Name{CommonName: "laptop", Organization: []string{"acme"}},
		DNSNames: []string{"evil.example"},
		URIs:     []*url.URL{evil},
		// Ask for CA powers through a raw basic-constraints extension.
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: mustASN1(t, struct {
			IsCA bool `asn1:"optional"`
		}{true})}},
	})
	csr, err := ParseCSR(csrPEM)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := inter.SignClientCSR(ClientCertRequest{CSR: csr, IdentityID: "id-1"})
	if err != nil {
		t.Fatal(err)
	}
	if cert.IsCA || len(cert.DNSNames) != 0 || cert.Subject.CommonName != "laptop" || cert.Subject.Organization[0] != "acme" {
		t.Fatalf("issued cert carries more than the subject: CA=%v dns=%v subject=%v", cert.IsCA, cert.DNSNames, cert.Subject)
	}
	if _, ok := ControllerIDFromCert(cert, ""); ok {
		t.Fatal("client certificate names a controller")
	}
	if id, ok := IdentityIDFromCert(cert, ""); !ok || id != "id-1" {
		t.Fatalf("identity URI: %q %v", id, ok)
	}
	_, err = cert.Verify(x509.VerifyOptions{Roots: NewCertPool(root.Cert), Intermediates: NewCertPool(inter.IssuerChain()...),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	if err != nil {
		t.Fatalf("client cert does not chain to root: %v", err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: NewCertPool(root.Cert), Intermediates: NewCertPool(inter.IssuerChain()...),
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
		t.Fatal("client cert is valid for serverAuth")
	}
	if !cert.NotAfter.After(time.Now()) || cert.NotAfter.After(inter.Cert.NotAfter) {
		t.Fatalf("validity %s not capped at issuer %s", cert.NotAfter, inter.Cert.NotAfter)
	}
}

func mustASN1(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseCSRRefusals(t *testing.T) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good := newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ok"}})
	block, _ := pem.Decode(good)
	tampered := append([]byte(nil), block.Bytes...)
	tampered[len(tampered)-3] ^= 0xff // inside the signature
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	cases := map[string][]byte{
		"not PEM":           []byte("hello"),
		"certificate block": pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: block.Bytes}),
		"bad signature":     pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}),
		"trailing data":     append(append([]byte(nil), good...), []byte("junk")...),
		"two CSRs":          append(append([]byte(nil), good...), good...),
		"long CN":           newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: strings.Repeat("a", 129)}}),
		"control char":      newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "a\nb"}}),
		"huge subject":      newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{OrganizationalUnit: repeatN("ou-value", 80)}}),
		"RSA 1024":          newCSR(t, small, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "weak"}}),
		"oversized":         append(good, make([]byte, MaxCSRBytes)...),
	}
	for name, data := range cases {
		if _, err := ParseCSR(data); !errors.Is(err, ErrBadCSR) {
			t.Errorf("%s: got %v, want ErrBadCSR", name, err)
		}
	}
	if _, err := ParseCSR(good); err != nil {
		t.Fatalf("good CSR refused: %v", err)
	}
}

func repeatN(s string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = s
	}
	return out
}

func TestSignServerCSR(t *testing.T) {
	root, inter := testIssuer(t)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := ParseCSR(newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "router1"},
		DNSNames: []string{"router1.example"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := inter.SignServerCSR(csr, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cert.Verify(x509.VerifyOptions{DNSName: "router1.example", Roots: NewCertPool(root.Cert),
		Intermediates: NewCertPool(inter.IssuerChain()...), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		t.Fatalf("server cert: %v", err)
	}
	wild, _ := ParseCSR(newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "router1"}, DNSNames: []string{"*.example.com"}}))
	if _, err := inter.SignServerCSR(wild, 0); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("wildcard server CSR: %v", err)
	}
	noSAN, _ := ParseCSR(newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "router1"}}))
	if _, err := inter.SignServerCSR(noSAN, 0); !errors.Is(err, ErrBadCSR) {
		t.Fatalf("server CSR without SANs: %v", err)
	}
}

func FuzzParseCSR(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	f.Add(newCSR(f, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "seed"}}))
	f.Add([]byte("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n"))
	f.Add([]byte{})
	_, inter := testIssuer(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		csr, err := ParseCSR(data)
		if err != nil {
			if !errors.Is(err, ErrBadCSR) {
				t.Fatalf("refusal not wrapped in ErrBadCSR: %v", err)
			}
			return
		}
		cert, err := inter.SignClientCSR(ClientCertRequest{CSR: csr})
		if err != nil {
			t.Fatalf("accepted CSR could not be signed: %v", err)
		}
		if cert.IsCA {
			t.Fatal("signed a CA certificate")
		}
	})
}

// IssuerChainIn finds, in a bundle of several members' intermediates, the
// chain the signing CA's IssuerChain gives, whichever CA signed.
func TestIssuerChainIn(t *testing.T) {
	root, inter := testIssuer(t)
	other, err := root.NewIntermediateCA("other member", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	bundle := []*x509.Certificate{root.Cert, other.Cert, inter.Cert}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	csr, err := ParseCSR(newCSR(t, key, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "leaf"}}))
	if err != nil {
		t.Fatal(err)
	}
	for _, ca := range []*CA{inter, other, root} {
		leaf, err := ca.SignClientCSR(ClientCertRequest{CSR: csr, IdentityID: "id-1"})
		if err != nil {
			t.Fatal(err)
		}
		got, want := IssuerChainIn(leaf, bundle), ca.IssuerChain()
		if len(got) != len(want) {
			t.Fatalf("%s: chain of %d, want %d", ca.Cert.Subject.CommonName, len(got), len(want))
		}
		for i := range got {
			if !got[i].Equal(want[i]) {
				t.Fatalf("%s: certificate %d is %s, want %s", ca.Cert.Subject.CommonName, i, got[i].Subject.CommonName, want[i].Subject.CommonName)
			}
		}
	}
	stranger, err := NewRootCA("stranger", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := stranger.SignClientCSR(ClientCertRequest{CSR: csr, IdentityID: "id-1"})
	if err != nil {
		t.Fatal(err)
	}
	if got := IssuerChainIn(leaf, bundle); got != nil {
		t.Fatalf("a stranger's leaf: chain of %d", len(got))
	}
}
