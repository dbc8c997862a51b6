package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// selfSigned makes a certificate for key, enough to render a JWK from.
func selfSigned(t *testing.T, key crypto.Signer) *x509.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "jwk test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestSigningJWK(t *testing.T) {
	root := mustRoot(t, "JWK Root")
	inter := mustIntermediate(t, root, "JWK Inter")
	chainPEM, _, err := inter.IssueSigningCert("node1", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	chain := mustParseCerts(t, chainPEM)
	jwk, err := SigningJWK(chain)
	if err != nil {
		t.Fatalf("SigningJWK: %v", err)
	}
	data, err := json.Marshal(jwk)
	if err != nil {
		t.Fatalf("marshal JWK: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	kid, _ := KeyID(chain[0].PublicKey)
	sum := sha256.Sum256(chain[0].Raw)
	for field, want := range map[string]string{
		"kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
		"x5t#S256": base64.RawURLEncoding.EncodeToString(sum[:]),
	} {
		if m[field] != want {
			t.Errorf("%s = %v, want %s", field, m[field], want)
		}
	}
	for _, field := range []string{"x", "y"} {
		if s, _ := m[field].(string); s == "" {
			t.Errorf("no %s in %s", field, data)
		}
	}
	if _, ok := m["d"]; ok {
		t.Fatalf("private key material in %s", data)
	}
	x5c, _ := m["x5c"].([]any)
	if len(x5c) != 2 || x5c[0] != base64.StdEncoding.EncodeToString(chain[0].Raw) || x5c[1] != base64.StdEncoding.EncodeToString(chain[1].Raw) {
		t.Errorf("x5c = %v, want the leaf and the intermediate", x5c)
	}
	// A JOSE library reads it back, and its own RFC 7638 thumbprint is the kid.
	var back jose.JSONWebKey
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatalf("go-jose cannot read the JWK back: %v", err)
	}
	tp, err := back.Thumbprint(crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	if got := base64.RawURLEncoding.EncodeToString(tp); got != kid {
		t.Errorf("go-jose thumbprint %s, kid %s", got, kid)
	}

	if _, err := SigningJWK(nil); err == nil {
		t.Error("a JWK was rendered from no certificate")
	}
}

func TestSigningJWKKeyTypes(t *testing.T) {
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	p521, _ := ecdsa.GenerateKey(elliptic.P521(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	for _, tc := range []struct {
		name, kty, alg string
		key            crypto.Signer
		members        []string
	}{
		{"P-384", "EC", "ES384", p384, []string{"crv", "x", "y"}},
		{"P-521", "EC", "ES512", p521, []string{"crv", "x", "y"}},
		{"RSA", "RSA", "RS256", testRSAKey(t), []string{"n", "e"}},
		{"Ed25519", "OKP", "EdDSA", ed, []string{"crv", "x"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			jwk, err := SigningJWK([]*x509.Certificate{selfSigned(t, tc.key)})
			if err != nil {
				t.Fatal(err)
			}
			data, _ := json.Marshal(jwk)
			var m map[string]any
			_ = json.Unmarshal(data, &m)
			if m["kty"] != tc.kty || m["alg"] != tc.alg {
				t.Errorf("kty %v alg %v, want %s %s", m["kty"], m["alg"], tc.kty, tc.alg)
			}
			for _, f := range tc.members {
				if s, _ := m[f].(string); s == "" {
					t.Errorf("no %s in %s", f, data)
				}
			}
		})
	}
	if _, err := JWSAlgorithm("not a key"); err == nil {
		t.Error("a string has a JWS algorithm")
	}
}

func TestNonceSignature(t *testing.T) {
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	const nonce = "0f8fad5b-d9cb-469f-a165-70867728950e"
	for _, tc := range []struct {
		name, alg string
		key       crypto.Signer
		sigLen    int
	}{
		{"P-256", "ES256", p256, 64}, // raw r||s, not ASN.1
		{"P-384", "ES384", p384, 96},
		{"RSA", "RS256", testRSAKey(t), 256},
		{"Ed25519", "EdDSA", ed, 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			alg, sig, err := SignNonce(tc.key, nonce)
			if err != nil {
				t.Fatalf("SignNonce: %v", err)
			}
			if alg != tc.alg || len(sig) != tc.sigLen {
				t.Fatalf("alg %s, %d signature bytes; want %s, %d", alg, len(sig), tc.alg, tc.sigLen)
			}
			if err := VerifyNonce(tc.key.Public(), alg, nonce, sig); err != nil {
				t.Fatalf("VerifyNonce: %v", err)
			}
			other := strings.Replace(nonce, "0f8f", "0f8e", 1)
			if err := VerifyNonce(tc.key.Public(), alg, other, sig); err == nil {
				t.Error("the signature verified for another nonce")
			}
			bad := append([]byte(nil), sig...)
			bad[len(bad)-1] ^= 1
			if err := VerifyNonce(tc.key.Public(), alg, nonce, bad); err == nil {
				t.Error("a tampered signature verified")
			}
			if err := VerifyNonce(tc.key.Public(), "HS256", nonce, sig); err == nil {
				t.Error("a signature verified under an algorithm the key does not use")
			}
		})
	}
	// Another key's public half does not verify.
	_, sig, _ := SignNonce(p256, nonce)
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err := VerifyNonce(other.Public(), "ES256", nonce, sig); err == nil {
		t.Error("another key verified the signature")
	}
	for _, bad := range []string{"", "not-a-uuid", "0f8fad5bd9cb469fa16570867728950e", "urn:uuid:0f8fad5b-d9cb-469f-a165-70867728950e",
		"{0f8fad5b-d9cb-469f-a165-70867728950e}", "0f8fad5b-d9cb-469f-a165-70867728950.", "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0"} {
		if _, _, err := SignNonce(p256, bad); err == nil {
			t.Errorf("nonce %q was signed", bad)
		}
	}
	if err := CheckNonce("0F8FAD5B-D9CB-469F-A165-70867728950E"); err != nil {
		t.Errorf("an upper-case UUID was refused: %v", err)
	}
}
