package trust

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/pki"
)

// fakeController serves the trust endpoints of a network: its bundle, a
// JWKS of jwk, and challenges signed by s's key (as a relay to the real
// network's open challenge endpoint would). Its TLS certificate comes from
// tlsCA.
func fakeController(t *testing.T, tlsCA *pki.CA, bundle []*x509.Certificate, jwk jose.JSONWebKey, s signer) *httptest.Server {
	t.Helper()
	chainPEM, keyPEM, err := tlsCA.IssueNodeCert(pki.NodeCertRequest{Name: "ctrl", IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(chainPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+ClientBase+"/.well-known/est/cacerts", func(w http.ResponseWriter, r *http.Request) {
		b, _ := EncodeBundle(bundle)
		_, _ = w.Write(b)
	})
	mux.HandleFunc("GET "+ClientBase+"/enroll/jwks", func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{jwk}})
	})
	mux.HandleFunc("POST "+ClientBase+"/enroll/challenge", func(w http.ResponseWriter, r *http.Request) {
		var c NonceChallenge
		_ = json.NewDecoder(r.Body).Decode(&c)
		alg, sig, _ := pki.SignNonce(s.key, c.Nonce)
		_ = json.NewEncoder(w).Encode(NewNonceSignature(c.KeyID, alg, sig, bundle))
	})
	ts := httptest.NewUnstartedServer(mux)
	ts.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func enrollmentJWT(t *testing.T, s signer, roots []string) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, EnrollmentClaims{EnrollmentMethod: "ott", Roots: roots,
		RegisteredClaims: jwt.RegisteredClaims{ID: uuid.NewString(), Subject: "id1", ExpiresAt: jwt.NewNumericDate(time.Now().Add(time.Hour))}})
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// The enrollment JWT pins the network's root, so an impostor in the middle
// (no --ca) that publishes the network's real signing key under its own
// root, and relays challenges to the real network, is refused; the genuine
// network passes.
func TestCheckEnrollmentPinsTheRoot(t *testing.T) {
	real := newNetwork(t, "real")
	s := real.signers[0]
	pinned := []string{pki.FingerprintSHA256(real.root.Cert)}
	jwk, err := pki.SigningJWK(s.chain)
	if err != nil {
		t.Fatal(err)
	}
	genuine := fakeController(t, real.inter, real.bundle, jwk, s)
	en, err := CheckEnrollment(context.Background(), enrollmentJWT(t, s, pinned), genuine.URL, Options{})
	if err != nil {
		t.Fatalf("genuine network refused: %v", err)
	}
	if len(en.Roots) != 1 || !en.Roots[0].Equal(real.root.Cert) || en.KeyID != s.kid {
		t.Fatalf("checked enrollment: roots %v kid %s", en.Roots, en.KeyID)
	}

	evil := newNetwork(t, "evil")
	// A certificate over the REAL public key, signed by the impostor's CA:
	// issuing one needs no proof of possession.
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{SerialNumber: big.NewInt(7),
		Subject: pkix.Name{CommonName: "n1"}, NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature}, evil.inter.Cert, s.chain[0].PublicKey, evil.inter.Key)
	if err != nil {
		t.Fatal(err)
	}
	fake, _ := x509.ParseCertificate(der)
	evilJWK, err := pki.SigningJWK([]*x509.Certificate{fake, evil.inter.Cert})
	if err != nil {
		t.Fatal(err)
	}
	for name, bundle := range map[string][]*x509.Certificate{
		"own root only":         evil.bundle,
		"own and the real root": append([]*x509.Certificate{real.root.Cert}, evil.bundle...),
	} {
		impostor := fakeController(t, evil.inter, bundle, evilJWK, s)
		_, err := CheckEnrollment(context.Background(), enrollmentJWT(t, s, pinned), impostor.URL, Options{})
		if err == nil {
			t.Fatalf("impostor with %s accepted", name)
		}
		t.Logf("impostor with %s: %v", name, err)
	}
	if _, err := CheckEnrollment(context.Background(), enrollmentJWT(t, s, nil), genuine.URL, Options{}); err == nil || !strings.Contains(err.Error(), "roots claim") {
		t.Fatalf("JWT without a root pin and no --ca: %v", err)
	}
	if _, err := CheckEnrollment(context.Background(), enrollmentJWT(t, s, nil), genuine.URL, Options{Roots: []*x509.Certificate{real.root.Cert}}); err != nil {
		t.Fatalf("JWT without a root pin but with the root given: %v", err)
	}
}
