package rest

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/garrison-ctrl/garrison/internal/metrics"
)

// With a scrape certificate configured, /metrics answers only a client
// presenting it.
func TestMetricsNeedTheScrapeCertificate(t *testing.T) {
	e := env(t)
	scraper := newCertUser(t, e.apiNode, e.pki.inter, "scraper", e.adminToken(t))
	other := newCertUser(t, e.apiNode, e.pki.inter, "not-scraper", e.adminToken(t))
	s := &Server{cfg: Config{Metrics: metrics.New(), ScrapeCerts: []*x509.Certificate{scraper.leaf}}}
	scrape := func(cert *x509.Certificate) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		if cert != nil {
			r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{cert}}
		}
		w := httptest.NewRecorder()
		s.serveMetrics(w, r)
		return w
	}
	if w := scrape(scraper.leaf); w.Code != http.StatusOK || !strings.Contains(w.Body.String(), "go_goroutines") {
		t.Fatalf("the scrape certificate: %d", w.Code)
	}
	for what, cert := range map[string]*x509.Certificate{"another certificate": other.leaf, "no certificate": nil} {
		if w := scrape(cert); w.Code != http.StatusUnauthorized {
			t.Fatalf("%s: %d", what, w.Code)
		}
	}
}

func TestOidcRouteLabels(t *testing.T) {
	for path, want := range map[string]string{
		"/authorize": "/oidc/authorize", "/login/password": "/oidc/login/{method}", "/login/totp/enroll": "/oidc/login/totp/enroll",
		"/login/a/b": "unmatched", "/anything-else": "unmatched", "/oauth/token": "/oidc/oauth/token",
	} {
		if got := oidcRoute(path); got != want {
			t.Errorf("%s: %q, want %q", path, got, want)
		}
	}
}
