package e2e

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
)

// networkKeys fetches the trust bundle and JWKS through base and returns the
// verified keys.
func networkKeys(t *testing.T, c *Cluster, base string) trust.KeySet {
	t.Helper()
	get := func(path string) []byte {
		resp, err := c.http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, err, data)
		}
		return data
	}
	bundle, err := trust.ParseBundle(get("/edge/client/v1/.well-known/est/cacerts"))
	if err != nil {
		t.Fatal(err)
	}
	keys, bad, err := trust.ParseJWKS(get("/edge/client/v1/enroll/jwks"), bundle)
	if err != nil || len(bad) > 0 {
		t.Fatalf("JWKS: %v %v", err, bad)
	}
	return keys
}

// challengeThrough asks base to have kid's holder sign a fresh nonce and
// returns which node served the request and the verification error.
func challengeThrough(c *Cluster, base, kid string, keys trust.KeySet) (string, int, error) {
	nonce := uuid.NewString()
	body, _ := json.Marshal(trust.NonceChallenge{Nonce: nonce, KeyID: kid})
	resp, err := c.http.Post(base+"/edge/client/v1/enroll/challenge", "application/json", bytes.NewReader(body))
	if err != nil {
		return "", 0, err
	}
	defer resp.Body.Close()
	// Every node presents the cluster's API certificate; the header names
	// the node that answered.
	served := resp.Header.Get("Garrison-Node")
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return served, resp.StatusCode, err
	}
	if resp.StatusCode == http.StatusNotFound {
		// The spec documents no 404 for the challenge; the body must still be
		// the error envelope, checked against an operation that has one.
		checkSpec(c.t, "GET", "/edge/management/v1/identities/x", resp.StatusCode, raw)
	} else {
		checkSpec(c.t, "POST", "/edge/client/v1/enroll/challenge", resp.StatusCode, raw)
	}
	if resp.StatusCode != http.StatusOK {
		return served, resp.StatusCode, fmt.Errorf("%d %s", resp.StatusCode, raw)
	}
	var ans trust.NonceSignature
	if err := json.Unmarshal(raw, &ans); err != nil {
		return served, resp.StatusCode, err
	}
	_, err = trust.VerifyChallenge(ans, nonce, kid, keys)
	return served, resp.StatusCode, err
}

// Through HAProxy, every member's key is challenged until every node has
// served a challenge for every key (answering itself or forwarding to the
// holder); then an identity is enrolled by the CLI through HAProxy, which
// checks the JWT and the challenge before it sends its CSR.
func TestNetworkTrustThroughLoadBalancer(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	keys := networkKeys(t, c, c.LBURL)
	// Each node's signing key, and the API key all nodes share.
	if len(keys) != 4 {
		t.Fatalf("JWKS through HAProxy has %d keys, want 4", len(keys))
	}
	// served[kid][node]
	served := map[string]map[string]bool{}
	for kid := range keys {
		served[kid] = map[string]bool{}
		for i := 0; len(served[kid]) < len(c.Nodes); i++ {
			if i > 60 {
				t.Fatalf("key %s: only %v served challenges after %d tries", kid, served[kid], i)
			}
			node, st, err := challengeThrough(c, c.LBURL, kid, keys)
			if err != nil {
				t.Fatalf("challenge %s via HAProxy (served by %s, %d): %v", kid, node, st, err)
			}
			served[kid][node] = true
		}
	}
	// Unknown key → 404 on every node.
	for _, n := range c.Nodes {
		if _, st, _ := challengeThrough(c, n.URL(), "no-such-kid", keys); st != http.StatusNotFound {
			t.Fatalf("unknown kid at %s: %d", n.Name, st)
		}
	}

	// The CLI enrolls through HAProxy, pinning the root.
	c.mustCLI("edge", "login", c.Nodes[0].URL(), "-u", adminUser, "-p", adminPassword, "--ca", c.caFile)
	dir := t.TempDir()
	jwtPath, idPath := filepath.Join(dir, "phone.jwt"), filepath.Join(dir, "phone.json")
	c.mustCLI("edge", "create", "identity", "phone", "--type", "Device", "-o", jwtPath)
	// Forged JWTs are refused before anything is sent: the token stays
	// unused, so the genuine JWT still enrolls afterwards.
	for name, forged := range forgedJWTs(t, c, jwtPath) {
		path := filepath.Join(dir, "forged.jwt")
		if err := os.WriteFile(path, []byte(forged), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := c.cli("edge", "enroll", path, "-o", filepath.Join(dir, "forged.json"), "--controller", c.LBURL, "--ca", c.caFile); err == nil || !strings.Contains(out, "not trusted") {
			t.Fatalf("%s JWT: %v\n%s", name, err, out)
		}
	}
	out := c.mustCLI("edge", "enroll", jwtPath, "-o", idPath, "--controller", c.LBURL, "--ca", c.caFile)
	if !strings.Contains(out, "network verified") || !strings.Contains(out, "enrolled identity") {
		t.Fatalf("enroll output:\n%s", out)
	}
	cert := loadIdentityFile(t, idPath)
	if len(cert.Certificate) == 0 {
		t.Fatal("identity file has no certificate")
	}
	r := c.doWith(c.certClient(cert), "POST", c.LBURL+"/edge/client/v1/authenticate?method=cert", "", map[string]any{}, true)
	if r.Status != http.StatusOK {
		t.Fatalf("login with the enrolled identity file's certificate: %d %v", r.Status, r.Body)
	}
	if out, err := c.cli("edge", "enroll", jwtPath, "-o", filepath.Join(dir, "again.json"), "--controller", c.LBURL, "--ca", c.caFile); err == nil || !strings.Contains(out, "INVALID_ENROLLMENT_TOKEN") {
		t.Fatalf("second enroll with the same JWT: %v\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "again.json")); err == nil {
		t.Fatal("a failed enrollment left an identity file behind")
	}
	// verify-network through HAProxy.
	if out := c.mustCLI("edge", "verify-network", c.LBURL, "--ca", c.caFile); !strings.Contains(out, "network verified") {
		t.Fatalf("verify-network:\n%s", out)
	}
}

// loadIdentityFile reads an OpenZiti identity file into a TLS certificate.
func loadIdentityFile(t *testing.T, path string) tls.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("identity file mode: %v %v", st.Mode(), err)
	}
	var id struct {
		ZtAPI string `json:"ztAPI"`
		ID    struct{ Key, Cert, CA string }
	}
	if err := json.Unmarshal(data, &id); err != nil {
		t.Fatal(err)
	}
	if id.ZtAPI == "" || !strings.HasPrefix(id.ID.CA, "pem:") {
		t.Fatalf("identity file: %s", data)
	}
	cert, err := tls.X509KeyPair([]byte(strings.TrimPrefix(id.ID.Cert, "pem:")), []byte(strings.TrimPrefix(id.ID.Key, "pem:")))
	if err != nil {
		t.Fatalf("identity file key pair: %v", err)
	}
	return cert
}

// forgedJWTs derives forgeries of the enrollment JWT in path: a tampered
// claim, alg none, a foreign key under the genuine kid, and an expired copy
// re-signed with the issuing node's real key (read from its PKI directory),
// so only the expiry is wrong.
func forgedJWTs(t *testing.T, c *Cluster, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	genuine := strings.TrimSpace(string(raw))
	parts := strings.Split(genuine, ".")
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(genuine, claims)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(map[string]any{"em": "ott", "sub": "someone-else", "jti": claims["jti"], "iss": claims["iss"], "exp": claims["exp"]})
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + parts[2]
	none := jwt.NewWithClaims(jwt.SigningMethodNone, claims)
	none.Header["kid"] = tok.Header["kid"]
	noneStr, err := none.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(c jwt.MapClaims) string {
		f := jwt.NewWithClaims(jwt.SigningMethodES256, c)
		f.Header["kid"] = tok.Header["kid"]
		s, err := f.SignedString(key)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	expired := jwt.MapClaims{}
	for k, v := range claims {
		expired[k] = v
	}
	expired["exp"] = time.Now().Add(-time.Hour).Unix()
	keyPEM, err := os.ReadFile(filepath.Join(c.home, "node1", "pki", "signing.key"))
	if err != nil {
		t.Fatal(err)
	}
	realKey, err := pki.ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	exp := jwt.NewWithClaims(jwt.SigningMethodES256, expired)
	exp.Header["kid"] = tok.Header["kid"]
	expiredStr, err := exp.SignedString(realKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]string{"tampered": tampered, "alg none": noneStr, "foreign key": sign(claims), "expired": expiredStr}
}
