package edge

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"path/filepath"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/garrison-ctrl/garrison/fsm"
)

// oidcTokens is a Tokens with a signing key of its own and an empty store
// (no other members).
func oidcTokens(t testing.TB) *Tokens {
	t.Helper()
	store, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return &Tokens{Signer: &TokenSigner{Key: key, KeyID: "k1", Issuer: "https://n1"}, Store: store}
}

func accessClaims() OidcClaims {
	return OidcClaims{RegisteredClaims: jwt.RegisteredClaims{Subject: "i1", Audience: jwt.ClaimStrings{OidcAudience}},
		ApiSessionID: "s1", ClientID: "native"}
}

// Each kind of /oidc token verifies only as itself, and an access token
// of /oidc is an API bearer token naming its session and binding.
func TestOidcTokenKindsDoNotMix(t *testing.T) {
	tk := oidcTokens(t)
	now := time.Now()
	c := accessClaims()
	c.Confirmation = &Confirmation{X5tS256: "thumb"}
	access, _, err := tk.SignOidc("https://lb/oidc", OidcAccess, c, now, OidcAccessLifetime)
	if err != nil {
		t.Fatal(err)
	}
	refresh, _, _ := tk.SignOidc("https://lb/oidc", OidcRefresh, accessClaims(), now, OidcRefreshLifetime)
	if _, err := tk.VerifyOidc(access, OidcAccess); err != nil {
		t.Fatalf("access as access: %v", err)
	}
	for _, typ := range []string{OidcRefresh, OidcCode, OidcAuthRequest, OidcID} {
		if _, err := tk.VerifyOidc(access, typ); err == nil {
			t.Fatalf("an access token verified as %q", typ)
		}
	}
	if _, err := tk.VerifyOidc(refresh, OidcAccess); err == nil {
		t.Fatal("a refresh token verified as an access token")
	}
	got, err := tk.Verify(access)
	if err != nil || got.SessionID != "s1" || got.CertThumbprint != "thumb" {
		t.Fatalf("API bearer view of an access token: %+v %v", got, err)
	}
	if _, err := tk.Verify(refresh); err == nil {
		t.Fatal("a refresh token opened the APIs")
	}
	expired, _, _ := tk.SignOidc("https://lb/oidc", OidcAccess, accessClaims(), now.Add(-time.Hour), time.Minute)
	if _, err := tk.VerifyOidc(expired, OidcAccess); err == nil {
		t.Fatal("an expired access token verified")
	}
}

func TestPKCEMatches(t *testing.T) {
	verifier := "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk" // RFC 7636 appendix B
	sum := sha256.Sum256([]byte(verifier))
	challenge := base64.RawURLEncoding.EncodeToString(sum[:])
	if challenge != "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM" || !PKCEMatches(challenge, verifier) {
		t.Fatalf("RFC 7636's example: %s", challenge)
	}
	for _, v := range []string{"", "short", verifier + "x"} {
		if PKCEMatches(challenge, v) {
			t.Fatalf("verifier %q matched", v)
		}
	}
}

// Tokens from outside never panic, and only this node's signed tokens of
// the asked type verify.
func FuzzOidcToken(f *testing.F) {
	tk := oidcTokens(f)
	good, _, _ := tk.SignOidc("https://n1/oidc", OidcAccess, accessClaims(), time.Now(), time.Hour)
	f.Add(good, OidcAccess)
	f.Add(good, OidcRefresh)
	f.Add("eyJhbGciOiJub25lIn0.eyJ6X3QiOiJhIn0.", OidcAccess)
	f.Add("a.b.c", OidcCode)
	f.Fuzz(func(t *testing.T, token, typ string) {
		claims, err := tk.VerifyOidc(token, typ)
		if err == nil && (claims.Type != typ || token != good) {
			t.Fatalf("verified a token nobody signed as %q: %+v", typ, claims)
		}
		if c, err := tk.Verify(token); err == nil && (c.SessionID == "" || token != good) {
			t.Fatalf("an API bearer token nobody signed: %+v", c)
		}
	})
}
