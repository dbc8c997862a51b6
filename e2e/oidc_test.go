package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/oauth2"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
)

const oidcCallback = "http://localhost:8080/auth/callback"

// oauthConfig is golang.org/x/oauth2's view of the public client native
// at a node (or the load balancer).
func oauthConfig(base string) *oauth2.Config {
	return &oauth2.Config{ClientID: "native", RedirectURL: oidcCallback, Scopes: []string{"openid", "offline_access"},
		Endpoint: oauth2.Endpoint{AuthURL: base + "/oidc/authorize", TokenURL: base + "/oidc/oauth/token", AuthStyle: oauth2.AuthStyleInParams}}
}

// noRedirects is the cluster's HTTPS client that reads redirects instead
// of following them: the code flow's answers are redirects.
func (c *Cluster) noRedirects() *http.Client {
	cl := *c.http
	cl.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &cl
}

// oidcStep sends one request of the flow and returns its status,
// Location and the auth-request-id header.
func (c *Cluster) oidcStep(t testing.TB, method, u string, form url.Values) (int, string, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	resp, err := c.noRedirects().Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, resp.Header.Get("Location"), resp.Header.Get("auth-request-id")
}

// bearerStatus is the status of GET path on base with an access token.
func (c *Cluster) bearerStatus(t *testing.T, base, path, token string) int {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, base+path, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", base+path, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkSpec(t, http.MethodGet, req.URL.Path, resp.StatusCode, raw)
	return resp.StatusCode
}

// oauthContext makes golang.org/x/oauth2 use the cluster's HTTPS client.
func (c *Cluster) oauthContext() context.Context {
	return context.WithValue(context.Background(), oauth2.HTTPClient, c.noRedirects())
}

// oidcGrant runs the code flow with a password: the authorization request
// at authorizeBase, its login step at loginBase, the code exchanged at
// exchangeBase (PKCE, golang.org/x/oauth2).
func (c *Cluster) oidcGrant(t testing.TB, authorizeBase, loginBase, exchangeBase, username, password string) *oauth2.Token {
	t.Helper()
	verifier := oauth2.GenerateVerifier()
	st, loc, _ := c.oidcStep(t, http.MethodGet, oauthConfig(authorizeBase).AuthCodeURL("st-e2e", oauth2.S256ChallengeOption(verifier)), nil)
	if st != http.StatusFound || !strings.HasPrefix(loc, "/oidc/login/") {
		t.Fatalf("authorize at %s: %d %q", authorizeBase, st, loc)
	}
	st, _, id := c.oidcStep(t, http.MethodGet, loginBase+loc, nil)
	if st != http.StatusOK || id == "" {
		t.Fatalf("login page at %s: %d", loginBase, st)
	}
	st, loc, _ = c.oidcStep(t, http.MethodPost, loginBase+"/oidc/login/password",
		url.Values{"id": {id}, "username": {username}, "password": {password}})
	back, err := url.Parse(loc)
	if st != http.StatusFound || err != nil || back.Query().Get("state") != "st-e2e" {
		t.Fatalf("password step at %s: %d %q", loginBase, st, loc)
	}
	tok, err := oauthConfig(exchangeBase).Exchange(c.oauthContext(), back.Query().Get("code"), oauth2.VerifierOption(verifier))
	if err != nil || tok.RefreshToken == "" {
		t.Fatalf("exchange at %s: %v %+v", exchangeBase, err, tok)
	}
	return tok
}

// oidcAcrossNodes: the authorization request starts on node 1, logs in on
// node 2 and its code is exchanged on node 3 (golang.org/x/oauth2, PKCE);
// the access token works on every node and through HAProxy; the refresh
// token is refreshed on node 2, and revoking the new one on node 3 ends
// the grant everywhere at once.
func oidcAcrossNodes(t *testing.T, c *Cluster) {
	n1, n2, n3 := c.Nodes[0].URL(), c.Nodes[1].URL(), c.Nodes[2].URL()
	ctx := c.oauthContext()
	tok := c.oidcGrant(t, n1, n2, n3, adminUser, adminPassword)
	if tok.Extra("id_token") == nil {
		t.Fatalf("no ID token: %+v", tok)
	}
	for _, base := range []string{n1, n2, n3, c.LBURL} {
		if st := c.bearerStatus(t, base, "/edge/management/v1/current-identity", tok.AccessToken); st != http.StatusOK {
			t.Fatalf("access token at %s: %d", base, st)
		}
	}
	// Refresh on node 2: the oauth2 token source refreshes an expired token.
	stale := *tok
	stale.Expiry = time.Now().Add(-time.Minute)
	fresh, err := oauthConfig(n2).TokenSource(ctx, &stale).Token()
	if err != nil || fresh.RefreshToken == tok.RefreshToken || fresh.AccessToken == tok.AccessToken {
		t.Fatalf("refresh on node 2: %v", err)
	}
	// Revoke the new refresh token on node 3: every token of the grant is
	// refused on every node at once, the spent and the new refresh tokens.
	req, _ := http.NewRequest(http.MethodPost, n3+"/oidc/revoke",
		strings.NewReader(url.Values{"client_id": {"native"}, "token": {fresh.RefreshToken}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := c.http.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("revoke on node 3: %v %v", err, resp)
	}
	resp.Body.Close()
	for _, base := range []string{n1, n2, n3, c.LBURL} {
		for _, access := range []string{tok.AccessToken, fresh.AccessToken} {
			if st := c.bearerStatus(t, base, "/edge/client/v1/current-identity", access); st != http.StatusUnauthorized {
				t.Fatalf("a revoked grant's access token at %s: %d", base, st)
			}
		}
		for _, refresh := range []string{tok.RefreshToken, fresh.RefreshToken} {
			old := oauth2.Token{RefreshToken: refresh, Expiry: time.Now().Add(-time.Minute)}
			if _, err := oauthConfig(base).TokenSource(ctx, &old).Token(); err == nil || !strings.Contains(err.Error(), "invalid_grant") {
				t.Fatalf("a revoked grant's refresh token at %s: %v", base, err)
			}
		}
	}
	oidcClientCredentials(t, c)
	// Discovery names the URL it was fetched at, node or load balancer.
	for _, base := range []string{n1, c.LBURL} {
		resp, err := c.http.Get(base + "/oidc/.well-known/openid-configuration")
		if err != nil {
			t.Fatal(err)
		}
		raw, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !strings.Contains(string(raw), `"issuer":"`+base+`/oidc"`) {
			t.Fatalf("discovery at %s: %s", base, raw)
		}
	}
}

// oidcClientCredentials: an enrolled identity's certificate gets tokens
// through HAProxy (which passes TLS through, so the node sees the
// certificate) by the client credentials grant; they are bound to it and
// open the APIs on a node only with it.
func oidcClientCredentials(t *testing.T, c *Cluster) {
	admin := c.Login(c.LBURL)
	seq := 0
	tokens, csrs, keys := mintEnrollments(t, c, admin, 1, &seq)
	r := c.do("POST", c.LBURL+"/edge/client/v1/enroll/ott", "", map[string]any{"token": tokens[0], "clientCsr": csrs[0]}, false)
	if r.Status != http.StatusOK {
		t.Fatalf("enroll: %d %v", r.Status, r.Body)
	}
	withCert := c.certClient(tlsCert(t, dig(r.Body, "data", "cert").(string), keys[0]))
	resp, err := withCert.PostForm(c.LBURL+"/oidc/oauth/token", url.Values{"grant_type": {"client_credentials"}, "client_id": {"openziti"}})
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		Access   string         `json:"access_token"`
		Identity map[string]any `json:"identity"`
	}
	err = json.NewDecoder(resp.Body).Decode(&tok)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || err != nil || tok.Access == "" || tok.Identity["id"] == nil {
		t.Fatalf("client credentials through HAProxy: %d %v %+v", resp.StatusCode, err, tok)
	}
	req, _ := http.NewRequest(http.MethodGet, c.Nodes[0].URL()+"/edge/client/v1/current-identity", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Access)
	resp, err = withCert.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("a bound token with its certificate: %v %v", err, resp)
	}
	resp.Body.Close()
	if st := c.bearerStatus(t, c.Nodes[1].URL(), "/edge/client/v1/current-identity", tok.Access); st != http.StatusUnauthorized {
		t.Fatalf("a bound token without its certificate: %d", st)
	}
}

// BenchmarkTokenRefresh: eight clients, each refreshing its own grant
// through HAProxy (grant_type=refresh_token; each refresh rotates the
// refresh token through Raft and signs new access and ID tokens).
func BenchmarkTokenRefresh(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		const clients = 8
		grants := make(chan string, clients)
		for range clients {
			grants <- c.oidcGrant(t, c.LBURL, c.LBURL, c.LBURL, adminUser, adminPassword).RefreshToken
		}
		tokenURL := c.LBURL + "/oidc/oauth/token"
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			res := benchkit.Run(b, clients, func(int64) (time.Duration, error) {
				refresh := <-grants
				form := url.Values{"grant_type": {"refresh_token"}, "client_id": {"native"}, "refresh_token": {refresh}}
				start := time.Now()
				resp, err := c.http.PostForm(tokenURL, form)
				d := time.Since(start)
				if err != nil {
					grants <- refresh
					return 0, err
				}
				var body struct {
					Refresh string `json:"refresh_token"`
				}
				err = json.NewDecoder(resp.Body).Decode(&body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK || err != nil || body.Refresh == "" {
					grants <- refresh
					return 0, fmt.Errorf("refresh through HAProxy: status %d %v", resp.StatusCode, err)
				}
				grants <- body.Refresh
				return d, nil
			})
			if res.Err != nil {
				b.Fatalf("%d of %d refreshes failed; first: %v", res.Failed, b.N, res.Err)
			}
			res.Report(b, "refreshes/s")
		})
	})
}
