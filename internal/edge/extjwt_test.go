package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"
)

// The key set is fetched once, again for an unknown kid (a rotation), but
// not more than once per interval; an oversized set is refused.
func TestJWKSCacheRefreshesOnUnknownKid(t *testing.T) {
	k1, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	k2, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var hits atomic.Int32
	var keys atomic.Value
	keys.Store([]jose.JSONWebKey{{Key: &k1.PublicKey, KeyID: "k1", Use: "sig"}})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		_ = json.NewEncoder(w).Encode(jose.JSONWebKeySet{Keys: keys.Load().([]jose.JSONWebKey)})
	}))
	defer srv.Close()
	c := NewJWKSCache(httpFetch)
	ctx := context.Background()
	for range 3 {
		if _, err := c.Key(ctx, srv.URL, "k1"); err != nil {
			t.Fatal(err)
		}
	}
	if hits.Load() != 1 {
		t.Fatalf("%d fetches for one cached key", hits.Load())
	}
	keys.Store([]jose.JSONWebKey{{Key: &k2.PublicKey, KeyID: "k2", Use: "sig"}})
	// Within the minimum interval an unknown kid does not fetch again.
	if _, err := c.Key(ctx, srv.URL, "k2"); err == nil || hits.Load() != 1 {
		t.Fatalf("unknown kid within the interval: %v, %d fetches", err, hits.Load())
	}
	c.sets[srv.URL].fetchedAt = c.sets[srv.URL].fetchedAt.Add(-jwksMinInterval)
	if _, err := c.Key(ctx, srv.URL, "k2"); err != nil || hits.Load() != 2 {
		t.Fatalf("the rotated key: %v, %d fetches", err, hits.Load())
	}

	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"keys":[` + strings.Repeat(" ", jwksMaxBytes) + `]}`))
	}))
	defer big.Close()
	if _, err := NewJWKSCache(httpFetch).Key(ctx, big.URL, "k"); err == nil || !strings.Contains(err.Error(), "larger") {
		t.Fatalf("an oversized key set: %v", err)
	}
}

func TestCheckJwksURL(t *testing.T) {
	for u, ok := range map[string]bool{
		"https://idp.example.com/keys": true, "http://127.0.0.1:8080/keys": true, "http://[::1]/k": true, "http://localhost/k": true,
		"http://idp.example.com/keys": false, "ftp://idp/keys": false, "keys": false, "": false,
	} {
		if err := CheckJwksURL(u); (err == nil) != ok {
			t.Errorf("%q: %v", u, err)
		}
	}
}

// Tokens from outside never panic and verify only with the right key,
// issuer and audience.
func FuzzExtJwtToken(f *testing.F) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	good, _ := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims{"iss": "i", "aud": "a", "sub": "s", "exp": 4102444800}).SignedString(key)
	f.Add(good)
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJpIn0.")
	f.Add("a.b.c")
	f.Add("")
	f.Fuzz(func(t *testing.T, token string) {
		_, _, _ = UnverifiedIssuerAndKid(token)
		claims, err := VerifyExtJwt(token, &key.PublicKey, "i", "a")
		if err == nil && (claims["iss"] != "i") {
			t.Fatalf("verified a token of another issuer: %v", claims)
		}
	})
}

// Codes from outside never panic and only six digits can match.
func FuzzTotpStep(f *testing.F) {
	secret, _ := NewTotpSecret()
	now := time.Unix(1_800_000_000, 0)
	code, _ := TotpCode(secret, now)
	f.Add(code)
	f.Add("12345a")
	f.Add("")
	f.Fuzz(func(t *testing.T, code string) {
		if _, ok := TotpStep(secret, code, now); ok && len(code) != 6 {
			t.Fatalf("accepted %q", code)
		}
		_ = HashRecoveryCode(code)
		_ = CheckJwksURL(code)
	})
}

// httpFetch is a plain Fetcher for the tests' loopback servers; it reads
// one byte past the limit, as a real fetcher should, so the cache sees an
// oversized set.
func httpFetch(ctx context.Context, url string, limit int64) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(io.LimitReader(resp.Body, limit+1))
}
