package edge

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/go-jose/go-jose/v4"
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
	c := NewJWKSCache(nil)
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
	if _, err := NewJWKSCache(nil).Key(ctx, big.URL, "k"); err == nil || !strings.Contains(err.Error(), "larger") {
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
