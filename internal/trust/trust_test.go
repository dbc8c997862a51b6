package trust

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/pki"
)

// testNetwork is a root, a member intermediate and two members' signing keys.
type testNetwork struct {
	root, inter *pki.CA
	bundle      []*x509.Certificate
	signers     []signer
}

type signer struct {
	key   crypto.Signer
	kid   string
	chain []*x509.Certificate
}

func newNetwork(t testing.TB, name string) *testNetwork {
	t.Helper()
	root, err := pki.NewRootCA(name+" root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA(name+" inter", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	n := &testNetwork{root: root, inter: inter, bundle: []*x509.Certificate{root.Cert, inter.Cert}}
	for _, member := range []string{"n1", "n2"} {
		n.signers = append(n.signers, newSigner(t, inter, member))
	}
	return n
}

func newSigner(t testing.TB, ca *pki.CA, name string) signer {
	t.Helper()
	chainPEM, keyPEM, err := ca.IssueSigningCert(name, "", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := pki.ParseCertificatesPEM(chainPEM)
	if err != nil {
		t.Fatal(err)
	}
	key, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	kid, err := pki.KeyID(chain[0].PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return signer{key: key, kid: kid, chain: chain}
}

// jwks renders the signers' keys as the server does; edit may change a
// key's JWK before it is marshalled.
func jwks(t testing.TB, signers []signer, edit func(i int, k *jose.JSONWebKey)) []byte {
	t.Helper()
	set := jose.JSONWebKeySet{}
	for i, s := range signers {
		k, err := pki.SigningJWK(s.chain)
		if err != nil {
			t.Fatal(err)
		}
		if edit != nil {
			edit(i, &k)
		}
		set.Keys = append(set.Keys, k)
	}
	data, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func (n *testNetwork) keys(t testing.TB) KeySet {
	t.Helper()
	keys, bad, err := ParseJWKS(jwks(t, n.signers, nil), n.bundle)
	if err != nil || len(bad) != 0 {
		t.Fatalf("ParseJWKS: %v %v", err, bad)
	}
	return keys
}

func networkToken(t testing.TB, s signer, method jwt.SigningMethod, claims NetworkClaims) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	tok.Header["kid"] = s.kid
	signed, err := tok.SignedString(s.key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func goodClaims() NetworkClaims {
	return NetworkClaims{EnrollmentMethod: EnrollmentMethodNetwork, Controllers: []string{"https://ctrl1:1280" + ClientBase},
		RegisteredClaims: jwt.RegisteredClaims{Issuer: "https://ctrl1:1280", IssuedAt: jwt.NewNumericDate(time.Now())}}
}

func TestBundleRoundTrip(t *testing.T) {
	n := newNetwork(t, "bundle")
	body, err := EncodeBundle(n.bundle)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(body)), "\n") {
		if len(line) > 64 {
			t.Fatalf("line of %d characters", len(line))
		}
	}
	// Line breaks of any kind (CRLF, none at all) are ignored.
	for _, b := range [][]byte{body, bytes.ReplaceAll(body, []byte("\n"), []byte("\r\n")), bytes.ReplaceAll(body, []byte("\n"), nil)} {
		certs, err := ParseBundle(b)
		if err != nil || len(certs) != 2 || !bytes.Equal(certs[0].Raw, n.root.Cert.Raw) || !bytes.Equal(certs[1].Raw, n.inter.Cert.Raw) {
			t.Fatalf("ParseBundle: %d certificates, %v", len(certs), err)
		}
	}
	roots, inters := SplitBundle(append(n.bundle, nil))
	if len(roots) != 1 || roots[0] != n.root.Cert || len(inters) != 1 || inters[0] != n.inter.Cert {
		t.Errorf("SplitBundle: %d roots, %d intermediates", len(roots), len(inters))
	}
	for _, bad := range []string{"", "  \n", "not base64!", base64.StdEncoding.EncodeToString([]byte("not PKCS#7"))} {
		if _, err := ParseBundle([]byte(bad)); err == nil {
			t.Errorf("bundle %q parsed", bad)
		}
	}
}

func TestParseJWKS(t *testing.T) {
	n := newNetwork(t, "jwks")
	keys := n.keys(t)
	if len(keys) != 2 || keys[n.signers[0].kid] == nil || keys[n.signers[1].kid].Algorithm != "ES256" {
		t.Fatalf("keys %v", keys)
	}
	foreign := newNetwork(t, "foreign")
	other := newSigner(t, n.inter, "n3")
	for _, c := range []struct {
		what string
		edit func(i int, k *jose.JSONWebKey)
		use  []signer
	}{
		{"a key of another root", nil, []signer{n.signers[0], foreign.signers[0]}},
		{"kid not the thumbprint", func(i int, k *jose.JSONWebKey) {
			if i == 1 {
				k.KeyID = n.signers[0].kid + "x"
			}
		}, n.signers},
		{"alg not the key's", func(i int, k *jose.JSONWebKey) {
			if i == 1 {
				k.Algorithm = "HS256"
			}
		}, n.signers},
		{"no x5c", func(i int, k *jose.JSONWebKey) {
			if i == 1 {
				k.Certificates = nil
			}
		}, n.signers},
		{"x5c of another key", func(i int, k *jose.JSONWebKey) {
			if i == 1 {
				k.Certificates, k.CertificateThumbprintSHA256 = other.chain, nil
			}
		}, n.signers},
		{"encryption key", func(i int, k *jose.JSONWebKey) {
			if i == 1 {
				k.Use = "enc"
			}
		}, n.signers},
	} {
		keys, bad, err := ParseJWKS(jwks(t, c.use, c.edit), n.bundle)
		if err != nil {
			t.Fatalf("%s: %v", c.what, err)
		}
		if len(keys) != 1 || keys[n.signers[0].kid] == nil || len(bad) != 1 {
			t.Errorf("%s: kept %d keys, refused %d; want the good one kept and the other refused", c.what, len(keys), len(bad))
		}
	}
	if _, _, err := ParseJWKS([]byte("{"), n.bundle); err == nil {
		t.Error("a broken document parsed")
	}
	if _, _, err := ParseJWKS(jwks(t, n.signers, nil), []*x509.Certificate{n.inter.Cert}); err == nil {
		t.Error("keys checked against a bundle without a root")
	}
	dup := jwks(t, []signer{n.signers[0], n.signers[0]}, nil)
	if keys, bad, _ := ParseJWKS(dup, n.bundle); len(keys) != 1 || len(bad) != 1 {
		t.Errorf("a key listed twice: %d kept, %d refused", len(keys), len(bad))
	}
}

func TestVerifyNetworkJWT(t *testing.T) {
	n := newNetwork(t, "jwt")
	keys := n.keys(t)
	s := n.signers[1]
	claims, k, err := VerifyNetworkJWT(networkToken(t, s, jwt.SigningMethodES256, goodClaims()), keys)
	if err != nil || k.KeyID != s.kid || claims.Controllers[0] != "https://ctrl1:1280"+ClientBase {
		t.Fatalf("good token: %v %v %v", claims, k, err)
	}

	stranger := newSigner(t, newNetwork(t, "stranger").inter, "x")
	impostor := signer{key: stranger.key, kid: s.kid, chain: stranger.chain} // claims s's kid
	expired := goodClaims()
	expired.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	notNetwork := goodClaims()
	notNetwork.EnrollmentMethod = "ott"
	noCtrls := goodClaims()
	noCtrls.Controllers = nil
	unsigned, _ := jwt.NewWithClaims(jwt.SigningMethodNone, goodClaims()).SignedString(jwt.UnsafeAllowNoneSignatureType)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for what, token := range map[string]string{
		"signed by an unknown key":                networkToken(t, stranger, jwt.SigningMethodES256, goodClaims()),
		"signed by another key under a known kid": networkToken(t, impostor, jwt.SigningMethodES256, goodClaims()),
		"expired":                 networkToken(t, s, jwt.SigningMethodES256, expired),
		"not a network JWT":       networkToken(t, s, jwt.SigningMethodES256, notNetwork),
		"without controllers":     networkToken(t, s, jwt.SigningMethodES256, noCtrls),
		"alg none":                unsigned,
		"HMAC keyed with the kid": hmacToken(t, s.kid),
		"another algorithm":       networkToken(t, signer{key: p384, kid: s.kid}, jwt.SigningMethodES384, goodClaims()),
		"garbage":                 "a.b.c",
	} {
		if _, _, err := VerifyNetworkJWT(token, keys); err == nil {
			t.Errorf("%s: verified", what)
		}
	}
}

func hmacToken(t *testing.T, kid string) string {
	tok := jwt.NewWithClaims(jwt.SigningMethodHS256, goodClaims())
	tok.Header["kid"] = kid
	signed, err := tok.SignedString([]byte(kid))
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

func TestVerifyChallenge(t *testing.T) {
	n := newNetwork(t, "challenge")
	keys := n.keys(t)
	s := n.signers[0]
	nonce := uuid.NewString()
	alg, sig, err := pki.SignNonce(s.key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	ans := NewNonceSignature(s.kid, alg, sig, n.bundle)
	pool, err := VerifyChallenge(ans, nonce, s.kid, keys)
	if err != nil || len(pool) != 2 {
		t.Fatalf("VerifyChallenge: %d certificates, %v", len(pool), err)
	}
	foreign := newNetwork(t, "foreign")
	bad := map[string]func(a *NonceSignature) (string, string){
		"another nonce":          func(a *NonceSignature) (string, string) { return uuid.NewString(), s.kid },
		"answered for other kid": func(a *NonceSignature) (string, string) { a.Kid = n.signers[1].kid; return nonce, s.kid },
		"asked for other kid":    func(a *NonceSignature) (string, string) { return nonce, n.signers[1].kid },
		"unknown kid":            func(a *NonceSignature) (string, string) { a.Kid = "nope"; return nonce, "nope" },
		"not base64url":          func(a *NonceSignature) (string, string) { a.Signature = "!!"; return nonce, s.kid },
		"std base64 padding":     func(a *NonceSignature) (string, string) { a.Signature += "=="; return nonce, s.kid },
		"other algorithm":        func(a *NonceSignature) (string, string) { a.Algorithm = "ES384"; return nonce, s.kid },
		"empty caPool":           func(a *NonceSignature) (string, string) { a.CAPool = ""; return nonce, s.kid },
		"caPool of another root": func(a *NonceSignature) (string, string) {
			a.CAPool = string(pki.EncodeCertificatesPEM(foreign.bundle...))
			return nonce, s.kid
		},
	}
	for what, edit := range bad {
		a := ans
		nonce, kid := edit(&a)
		if _, err := VerifyChallenge(a, nonce, kid, keys); err == nil {
			t.Errorf("%s: verified", what)
		}
	}
}

func TestClientAPIURL(t *testing.T) {
	for in, want := range map[string]string{
		"ctrl:1280":                          "https://ctrl:1280" + ClientBase,
		"https://ctrl:1280":                  "https://ctrl:1280" + ClientBase,
		"https://ctrl:1280/":                 "https://ctrl:1280" + ClientBase,
		"https://ctrl:1280/edge/client/v1":   "https://ctrl:1280" + ClientBase,
		"https://ctrl:1280/edge/management/": "https://ctrl:1280" + ClientBase,
	} {
		if got, err := ClientAPIURL(in); err != nil || got != want {
			t.Errorf("%q: %q %v, want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"http://ctrl:1280", "https://", "://x"} {
		if _, err := ClientAPIURL(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func FuzzParseBundle(f *testing.F) {
	n := newNetwork(f, "fuzz bundle")
	body, err := EncodeBundle(n.bundle)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(body)
	f.Add(body[:len(body)/2])
	f.Add([]byte("MIIB\n===="))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		certs, err := ParseBundle(in)
		if err == nil && len(certs) == 0 {
			t.Fatal("no certificates and no error")
		}
		_, _ = SplitBundle(certs)
	})
}

// FuzzParseJWKS: whatever the document, every key kept is one the bundle's
// root vouches for, under its own thumbprint.
func FuzzParseJWKS(f *testing.F) {
	n := newNetwork(f, "fuzz jwks")
	f.Add(jwks(f, n.signers, nil))
	f.Add([]byte(`{"keys":[{"kty":"EC"}]}`))
	f.Add([]byte(`{"keys":[null, 1, "x"]}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		keys, _, err := ParseJWKS(in, n.bundle)
		if err != nil {
			return
		}
		for kid, k := range keys {
			want, err := pki.KeyID(k.Public)
			if err != nil || want != kid || k.KeyID != kid || len(k.Chain) == 0 {
				t.Fatalf("kept key %q: thumbprint %q, %v", kid, want, err)
			}
		}
	})
}

// FuzzVerifyJWT: no input panics, and nothing verifies that the network's
// keys did not sign (the fuzzer cannot forge ECDSA, so a success must be
// the seed itself or a re-encoding of its parts that still carries a
// valid signature).
func FuzzVerifyJWT(f *testing.F) {
	n := newNetwork(f, "fuzz jwt")
	keys := n.keys(f)
	good := networkToken(f, n.signers[0], jwt.SigningMethodES256, goodClaims())
	f.Add(good)
	f.Add(good[:len(good)-2])
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	f.Fuzz(func(t *testing.T, token string) {
		claims, k, err := VerifyNetworkJWT(token, keys)
		if err != nil {
			return
		}
		if k == nil || keys[k.KeyID] != k || claims == nil {
			t.Fatal("verified without a key of the set")
		}
		parts := strings.Split(token, ".")
		if len(parts) != 3 || parts[2] == "" {
			t.Fatalf("verified a token without a signature: %q", token)
		}
	})
}
