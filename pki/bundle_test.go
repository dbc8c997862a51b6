package pki

import (
	"bytes"
	"crypto/x509"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestPKCS7RoundTrip(t *testing.T) {
	root := mustRoot(t, "Bundle Root")
	a := mustIntermediate(t, root, "Inter A")
	b := mustIntermediate(t, root, "Inter B")
	want := []*x509.Certificate{root.Cert, a.Cert, b.Cert}
	der, err := EncodePKCS7Certs(append(want, nil))
	if err != nil {
		t.Fatalf("EncodePKCS7Certs: %v", err)
	}
	got, err := DecodePKCS7Certs(der)
	if err != nil {
		t.Fatalf("DecodePKCS7Certs: %v", err)
	}
	if len(got) != len(want) {
		t.Fatalf("decoded %d certificates, want %d", len(got), len(want))
	}
	for i := range want {
		if !bytes.Equal(got[i].Raw, want[i].Raw) {
			t.Errorf("certificate %d (%s) changed in the round trip", i, want[i].Subject.CommonName)
		}
	}

	if _, err := EncodePKCS7Certs(nil); err == nil {
		t.Error("an empty bundle was encoded")
	}
	if _, err := EncodePKCS7Certs([]*x509.Certificate{nil}); err == nil {
		t.Error("a bundle of only nil entries was encoded")
	}
	if _, err := DecodePKCS7Certs(root.Cert.Raw); err == nil {
		t.Error("a bare certificate decoded as PKCS#7")
	}
	if _, err := DecodePKCS7Certs(der[:len(der)-3]); err == nil {
		t.Error("a truncated bundle decoded")
	}
}

// The issue demands that `openssl pkcs7 -print_certs` reads the bundle,
// which is what operators and non-Go clients will use.
func TestPKCS7ReadByOpenSSL(t *testing.T) {
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		t.Skip("openssl is not installed")
	}
	root := mustRoot(t, "OpenSSL Root")
	inter := mustIntermediate(t, root, "OpenSSL Inter")
	der, err := EncodePKCS7Certs([]*x509.Certificate{root.Cert, inter.Cert})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "cacerts.p7b")
	if err := os.WriteFile(path, der, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(openssl, "pkcs7", "-inform", "DER", "-in", path, "-print_certs").CombinedOutput()
	if err != nil {
		t.Fatalf("openssl pkcs7: %v\n%s", err, out)
	}
	certs, err := ParseCertificatesPEM(out)
	if err != nil {
		t.Fatalf("parse openssl output: %v\n%s", err, out)
	}
	if len(certs) != 2 || !bytes.Equal(certs[0].Raw, root.Cert.Raw) || !bytes.Equal(certs[1].Raw, inter.Cert.Raw) {
		t.Fatalf("openssl printed %d certificates, want the root and the intermediate:\n%s", len(certs), out)
	}
}

func TestUniqueCerts(t *testing.T) {
	root := mustRoot(t, "Unique Root")
	a := mustIntermediate(t, root, "Unique A")
	b := mustIntermediate(t, root, "Unique B")
	// A re-parsed copy is a different pointer with the same DER.
	aCopy := mustParseCerts(t, EncodeCertificatesPEM(a.Cert))[0]
	got := UniqueCerts([]*x509.Certificate{root.Cert, nil, a.Cert, b.Cert, aCopy, root.Cert})
	want := []*x509.Certificate{root.Cert, a.Cert, b.Cert}
	if len(got) != len(want) {
		t.Fatalf("%d certificates, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("position %d: %s, want %s (first occurrence, original order)", i, got[i].Subject.CommonName, want[i].Subject.CommonName)
		}
	}
	if UniqueCerts(nil) != nil {
		t.Error("UniqueCerts(nil) is not nil")
	}
}

func FuzzDecodePKCS7Certs(f *testing.F) {
	root, err := NewRootCA("Fuzz PKCS7 Root", 0)
	if err != nil {
		f.Fatal(err)
	}
	der, err := EncodePKCS7Certs([]*x509.Certificate{root.Cert})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(der)
	f.Add(der[:len(der)/2])
	f.Add(root.Cert.Raw)
	f.Add([]byte{})
	f.Add([]byte{0x30, 0x80, 0x00, 0x00})
	f.Fuzz(func(t *testing.T, in []byte) {
		certs, err := DecodePKCS7Certs(in)
		if err != nil {
			return
		}
		if len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		// Whatever decoded must encode again and decode to the same DER.
		again, err := EncodePKCS7Certs(certs)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		back, err := DecodePKCS7Certs(again)
		if err != nil || len(back) != len(certs) {
			t.Fatalf("re-decode: %d certificates, %v", len(back), err)
		}
		for i := range certs {
			if !bytes.Equal(back[i].Raw, certs[i].Raw) {
				t.Fatalf("certificate %d changed", i)
			}
		}
	})
}
