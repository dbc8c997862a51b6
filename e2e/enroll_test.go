package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// newCSR returns a PEM CSR and its key.
func newCSR(t testing.TB, cn string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der})), key
}

// tlsCert pairs an issued PEM chain with its key.
func tlsCert(t testing.TB, chainPEM string, key *ecdsa.PrivateKey) tls.Certificate {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(chainPEM), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// A token minted on node1 is accepted by whichever node the client reaches,
// once: two nodes racing with one token give exactly one certificate, and
// a replay is refused everywhere.
func TestEnrollmentAnyNodeOnce(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	c.mustCLI("edge", "login", n1.URL(), "-u", adminUser, "-p", adminPassword, "--ca", c.caFile)
	jwtPath := filepath.Join(t.TempDir(), "laptop.jwt")
	c.mustCLI("edge", "create", "identity", "laptop", "--type", "Device", "-o", jwtPath)
	raw, err := os.ReadFile(jwtPath)
	if err != nil {
		t.Fatal(err)
	}
	claims := jwt.MapClaims{}
	if _, _, err := jwt.NewParser().ParseUnverified(strings.TrimSpace(string(raw)), claims); err != nil {
		t.Fatalf("enrollment JWT: %v", err)
	}
	token, _ := claims["jti"].(string)
	if claims["em"] != "ott" || token == "" {
		t.Fatalf("claims: %v", claims)
	}
	if ctrls, _ := claims["ctrls"].([]any); len(ctrls) != 3 {
		t.Fatalf("ctrls should name all three nodes: %v", claims["ctrls"])
	}

	// Race the token on node2 and node3.
	var wg sync.WaitGroup
	results := make([]Response, 2)
	keys := make([]*ecdsa.PrivateKey, 2)
	for i, n := range []*Node{n2, n3} {
		csr, key := newCSR(t, "laptop")
		keys[i] = key
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = c.do("POST", n.URL()+"/edge/client/v1/enroll/ott", "", map[string]any{"token": token, "clientCsr": csr}, false)
		}()
	}
	wg.Wait()
	winner := -1
	for i, r := range results {
		checkSpec(t, "POST", "/edge/client/v1/enroll/ott", r.Status, mustJSON(r.Body))
		switch {
		case r.Status == http.StatusOK && winner == -1:
			winner = i
		case r.Status == http.StatusBadRequest && dig(r.Body, "error", "code") == "INVALID_ENROLLMENT_TOKEN":
		default:
			t.Fatalf("racing enrollment %d: %d %v", i, r.Status, r.Body)
		}
	}
	if winner == -1 {
		t.Fatalf("no racing enrollment succeeded: %v", results)
	}
	certPEM := dig(results[winner].Body, "data", "cert").(string)
	cert := tlsCert(t, certPEM, keys[winner])
	// The certificate logs in on node2 and through HAProxy (TCP
	// pass-through: the node sees the client certificate).
	withCert := c.certClient(cert)
	// Asked at once, with no retry: a node that has not applied the
	// enrollment yet catches up with the leader before refusing.
	for _, base := range []string{n2.URL(), c.LBURL} {
		r := c.doWith(withCert, "POST", base+"/edge/client/v1/authenticate?method=cert", "", map[string]any{}, true)
		if r.Status != http.StatusOK {
			t.Fatalf("certificate login at %s: %d %v", base, r.Status, r.Body)
		}
		tok, _ := dig(r.Body, "data", "token").(string)
		me := c.do("GET", base+"/edge/client/v1/current-identity", tok, nil, true)
		if me.Status != http.StatusOK || dig(me.Body, "data", "name") != "laptop" {
			t.Fatalf("current-identity at %s: %d %v", base, me.Status, me.Body)
		}
	}
	// And deterministically: minted through node1, enrolled through node3,
	// logged in at once through node2.
	admin := c.Login(n1.URL())
	r := c.do("POST", n1.URL()+"/edge/management/v1/identities", admin,
		map[string]any{"name": "tablet", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}}, true)
	if r.Status != http.StatusCreated {
		t.Fatalf("create tablet: %d %v", r.Status, r.Body)
	}
	g := c.do("GET", n1.URL()+"/edge/management/v1/identities/"+dig(r.Body, "data", "id").(string), admin, nil, true)
	csr, key := newCSR(t, "tablet")
	en := c.do("POST", n3.URL()+"/edge/client/v1/enroll/ott", "", map[string]any{"token": dig(g.Body, "data", "enrollment", "ott", "token"), "clientCsr": csr}, true)
	if en.Status != http.StatusOK {
		t.Fatalf("enroll tablet through node3: %d %v", en.Status, en.Body)
	}
	tablet := c.certClient(tlsCert(t, dig(en.Body, "data", "cert").(string), key))
	if r := c.doWith(tablet, "POST", n2.URL()+"/edge/client/v1/authenticate?method=cert", "", map[string]any{}, true); r.Status != http.StatusOK {
		t.Fatalf("tablet's certificate login at node2: %d %v", r.Status, r.Body)
	}

	// The same request without the certificate is refused.
	if r := c.do("POST", c.LBURL+"/edge/client/v1/authenticate?method=cert", "", map[string]any{}, true); r.Status != http.StatusUnauthorized {
		t.Fatalf("cert login without a certificate: %d %v", r.Status, r.Body)
	}

	// A replay is refused on every node, and through the load balancer.
	for _, base := range []string{n1.URL(), n2.URL(), n3.URL(), c.LBURL} {
		csr, _ := newCSR(t, "replay")
		r := c.do("POST", base+"/edge/client/v1/enroll/ott", "", map[string]any{"token": token, "clientCsr": csr}, true)
		if r.Status != http.StatusBadRequest || dig(r.Body, "error", "code") != "INVALID_ENROLLMENT_TOKEN" {
			t.Fatalf("replay at %s: %d %v", base, r.Status, r.Body)
		}
	}
	// Exactly one certificate authenticator of "laptop" exists, seen from
	// every node (and the tablet's).
	for _, n := range c.Nodes {
		admin := c.Login(n.URL())
		c.atOnce("one cert authenticator on "+n.Name, func() error {
			st, body, _ := c.Do("GET", n.URL()+"/edge/management/v1/authenticators?filter="+urlQuery(`method = "cert"`), admin, nil)
			if st != http.StatusOK || listLen(body) != 2 {
				return fmt.Errorf("%d %v", st, body)
			}
			return nil
		})
	}
}
