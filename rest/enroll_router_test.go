package rest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

const enrollERoTT = ClientBase + "/enroll/erott"

// csrPEM makes a PEM CSR for key with common name cn and the given SANs.
func csrPEM(t *testing.T, key crypto.Signer, cn string, dns []string, ips []net.IP) string {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: cn, Organization: []string{"garrison test"}}, DNSNames: dns, IPAddresses: ips,
	}, key)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// routerCSRs are the two CSRs a router sends, both for key as OpenZiti
// routers do; the server CSR names router.example and 127.0.0.1.
func routerCSRs(t *testing.T, key crypto.Signer, id string) (client, server string) {
	t.Helper()
	return csrPEM(t, key, id, nil, nil), csrPEM(t, key, id, []string{"router.example"}, []net.IP{net.ParseIP("127.0.0.1")})
}

// enrolledRouter is a router created and enrolled through the API.
type enrolledRouter struct {
	id     string
	key    *ecdsa.PrivateKey
	certs  map[string]any // the enrollmentCerts answer
	client *x509.Certificate
}

// newRouterToken creates a router named name and returns its id and
// enrollment token.
func newRouterToken(t *testing.T, e *testEnv, name string) (id, token string) {
	t.Helper()
	id = newEdgeRouter(t, e, map[string]any{"name": name})
	return id, getEdgeRouter(t, e, id)["enrollmentToken"].(string)
}

// createAndEnrollRouter creates a router and enrolls it with erott.
func createAndEnrollRouter(t *testing.T, e *testEnv, name string) *enrolledRouter {
	t.Helper()
	id, token := newRouterToken(t, e, name)
	key := newKey(t)
	client, server := routerCSRs(t, key, id)
	r := e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": token, "clientCsr": client, "serverCsr": server})
	if r.status != http.StatusOK {
		t.Fatalf("enroll %s: %d %s", name, r.status, r.raw)
	}
	return &enrolledRouter{id: id, key: key, certs: r.data(), client: firstCert(t, r.data()["cert"])}
}

// firstCert parses the first certificate of a PEM string answer.
func firstCert(t *testing.T, v any) *x509.Certificate {
	t.Helper()
	s, _ := v.(string)
	certs, err := pki.ParseCertificatesPEM([]byte(s))
	if err != nil || len(certs) == 0 {
		t.Fatalf("not PEM certificates: %v (%q)", err, s)
	}
	return certs[0]
}

// verifyChain checks that the leaf of chainPEM, with the rest of it as
// intermediates, chains to the test root for usage (and dnsName if set).
func verifyChain(t *testing.T, e *testEnv, what string, chainPEM any, usage x509.ExtKeyUsage, dnsName string) *x509.Certificate {
	t.Helper()
	s, _ := chainPEM.(string)
	certs, err := pki.ParseCertificatesPEM([]byte(s))
	if err != nil || len(certs) < 2 {
		t.Fatalf("%s: want leaf and chain, got %d certificates (%v)", what, len(certs), err)
	}
	opts := x509.VerifyOptions{Roots: e.pki.roots, Intermediates: pki.NewCertPool(certs[1:]...),
		KeyUsages: []x509.ExtKeyUsage{usage}, DNSName: dnsName}
	if _, err := certs[0].Verify(opts); err != nil {
		t.Errorf("%s does not verify against the cluster root: %v", what, err)
	}
	return certs[0]
}

func TestEdgeRouterEnrollERoTT(t *testing.T) {
	e := env(t)
	id, token := newRouterToken(t, e, "er-enroll")
	key := newKey(t)
	clientCSR, serverCSR := routerCSRs(t, key, id)
	// OpenZiti routers send the token in the query and the CSRs as
	// certCsr/serverCertCsr; both spellings are accepted.
	r := e.do(t, http.MethodPost, enrollERoTT+"?token="+token, "", map[string]any{"certCsr": clientCSR, "serverCertCsr": serverCSR})
	if r.status != http.StatusOK {
		t.Fatalf("enroll: %d %s", r.status, r.raw)
	}
	d := r.data()
	client := verifyChain(t, e, "client cert", d["cert"], x509.ExtKeyUsageClientAuth, "")
	server := verifyChain(t, e, "server cert", d["serverCert"], x509.ExtKeyUsageServerAuth, "router.example")
	if err := server.VerifyHostname("127.0.0.1"); err != nil {
		t.Errorf("server cert lacks the CSR's IP SAN: %v", err)
	}
	if client.Subject.CommonName != id || !client.PublicKey.(*ecdsa.PublicKey).Equal(&key.PublicKey) {
		t.Errorf("client cert subject %q / key differ from the CSR", client.Subject.CommonName)
	}
	for _, u := range client.URIs {
		if u.Scheme == "spiffe" {
			t.Errorf("router client cert carries SPIFFE id %s", u)
		}
	}
	if len(client.ExtKeyUsage) != 1 || client.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("client cert EKU %v, want clientAuth only", client.ExtKeyUsage)
	}
	// ca holds CA certificates only, among them the issuer of both.
	cas, err := pki.ParseCertificatesPEM([]byte(d["ca"].(string)))
	if err != nil || len(cas) == 0 {
		t.Fatalf("ca: %v", err)
	}
	pool := pki.NewCertPool(cas...)
	for _, c := range cas {
		if !c.IsCA {
			t.Errorf("ca holds a non-CA certificate %q", c.Subject.CommonName)
		}
	}
	if _, err := client.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("client cert does not chain to the ca bundle: %v", err)
	}

	detail := getEdgeRouter(t, e, id)
	if detail["isVerified"] != true || detail["fingerprint"] != pki.Fingerprint(client) || detail["certPem"] != string(pki.EncodeCertificatesPEM(client)) {
		t.Errorf("after enrollment: isVerified %v fingerprint %v certPem set %v", detail["isVerified"], detail["fingerprint"], detail["certPem"] != nil)
	}
	for _, f := range []string{"enrollmentToken", "enrollmentJwt", "enrollmentCreatedAt", "enrollmentExpiresAt"} {
		if detail[f] != nil {
			t.Errorf("%s = %v after enrollment, want null", f, detail[f])
		}
	}
	rec, err := e.store.Get(fsm.KindEdgeRouter, id)
	if err != nil {
		t.Fatal(err)
	}
	if er, _ := fsm.As[*pb.EdgeRouter](rec); er.GetServerCertPem() != string(pki.EncodeCertificatesPEM(server)) {
		t.Errorf("server certificate not stored")
	}

	// A replayed token is refused and changes nothing.
	other := newKey(t)
	c2, s2 := routerCSRs(t, other, id)
	r = e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": token, "clientCsr": c2, "serverCsr": s2})
	wantError(t, "replay", r, http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	if again := getEdgeRouter(t, e, id); again["fingerprint"] != detail["fingerprint"] || again["updatedAt"] != detail["updatedAt"] {
		t.Errorf("replay changed the router: %v", again)
	}
	for _, tok := range []string{"", "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		wantError(t, "token "+tok, e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": tok, "clientCsr": c2, "serverCsr": s2}),
			http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	}
}

func TestEdgeRouterEnrollRace(t *testing.T) {
	e := env(t)
	id, token := newRouterToken(t, e, "er-race")
	const n = 4
	statuses := make([]int, n)
	certs := make([]any, n)
	bodies := make([]map[string]any, n)
	for i := range bodies {
		c, s := routerCSRs(t, newKey(t), id)
		bodies[i] = map[string]any{"token": token, "clientCsr": c, "serverCsr": s}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			r := e.do(t, http.MethodPost, enrollERoTT, "", bodies[i])
			statuses[i] = r.status
			if r.status == http.StatusOK {
				certs[i] = r.data()["cert"]
			}
		}(i)
	}
	wg.Wait()
	won := -1
	for i, st := range statuses {
		switch st {
		case http.StatusOK:
			if won >= 0 {
				t.Errorf("two enrollments of one token succeeded: %v", statuses)
			}
			won = i
		case http.StatusBadRequest:
		default:
			t.Errorf("enrollment %d: status %d", i, st)
		}
	}
	if won < 0 {
		t.Fatalf("no enrollment succeeded: %v", statuses)
	}
	if got, want := getEdgeRouter(t, e, id)["fingerprint"], pki.Fingerprint(firstCert(t, certs[won])); got != want {
		t.Errorf("stored fingerprint %v is not the winner's %s", got, want)
	}
}

// expireEnrollment moves a router's enrollment expiry into the past through
// the cluster, as time passing would.
func expireEnrollment(t *testing.T, e *testEnv, routerID string) {
	t.Helper()
	ids := routerEnrollmentsOf(t, e, routerID)
	if len(ids) != 1 {
		t.Fatalf("router has %d enrollments", len(ids))
	}
	op, err := fsm.PatchOp(fsm.KindEnrollment, ids[0], &pb.Enrollment{ExpiresAt: time.Now().Add(-time.Minute).UnixNano()}, nil, "expires_at")
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := e.node.Apply(context.Background(), &pb.Command{RequestId: "test-expire", Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}})
	if err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("expire enrollment: %v %v", res, err)
	}
}

// wantUnenrolled checks that a router still waits for enrollment with the
// given token.
func wantUnenrolled(t *testing.T, e *testEnv, what, id, token string) {
	t.Helper()
	d := getEdgeRouter(t, e, id)
	if d["isVerified"] != false || d["certPem"] != nil || d["fingerprint"] != "" || d["enrollmentToken"] != token {
		t.Errorf("%s: router changed: isVerified %v fingerprint %v token %v", what, d["isVerified"], d["fingerprint"], d["enrollmentToken"])
	}
}

func TestEdgeRouterEnrollExpired(t *testing.T) {
	e := env(t)
	id, token := newRouterToken(t, e, "er-expired")
	expireEnrollment(t, e, id)
	c, s := routerCSRs(t, newKey(t), id)
	r := e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": token, "clientCsr": c, "serverCsr": s})
	wantError(t, "expired", r, http.StatusBadRequest, api.CodeEnrollmentExpired)
	wantUnenrolled(t, e, "expired token", id, token)
}

func TestEdgeRouterEnrollBadCSRs(t *testing.T) {
	e := env(t)
	id, token := newRouterToken(t, e, "er-badcsr")
	key := newKey(t)
	good, goodServer := routerCSRs(t, key, id)
	// A CSR whose signature does not verify: one bit of the signature flipped.
	block, _ := pem.Decode([]byte(good))
	tampered := append([]byte(nil), block.Bytes...)
	tampered[len(tampered)-3] ^= 0x01
	badSig := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: tampered}))
	cases := []struct {
		name           string
		client, server any
		field, code    string
	}{
		{"garbage client", "not a csr", goodServer, "clientCsr", api.CodeCouldNotProcessCSR},
		{"garbage server", good, "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n", "serverCsr", api.CodeCouldNotProcessCSR},
		{"bad signature", badSig, goodServer, "clientCsr", api.CodeCouldNotProcessCSR},
		{"server without SANs", good, csrPEM(t, key, id, nil, nil), "serverCsr", api.CodeCouldNotProcessCSR},
		{"server names a controller", good, csrPEM(t, key, id, []string{"N1.cluster.invalid"}, nil), "serverCsr", api.CodeCouldNotProcessCSR},
		{"server wildcard", good, csrPEM(t, key, id, []string{"*.example.com"}, nil), "serverCsr", api.CodeCouldNotProcessCSR},
		{"client names another router", csrPEM(t, key, "someone-else", nil, nil), goodServer, "clientCsr", api.CodeCouldNotProcessCSR},
		{"missing client", nil, goodServer, "clientCsr", api.CodeMissingOrInvalidCSR},
		{"missing server", good, nil, "serverCsr", api.CodeMissingOrInvalidCSR},
		{"client not a string", 7, goodServer, "clientCsr", api.CodeCouldNotValidate},
	}
	for _, c := range cases {
		body := map[string]any{"token": token}
		if c.client != nil {
			body["clientCsr"] = c.client
		}
		if c.server != nil {
			body["serverCsr"] = c.server
		}
		ae := wantError(t, c.name, e.do(t, http.MethodPost, enrollERoTT, "", body), http.StatusBadRequest, c.code)
		if causeField(ae) != c.field {
			t.Errorf("%s: cause.field %q, want %q", c.name, causeField(ae), c.field)
		}
		wantUnenrolled(t, e, c.name, id, token)
	}
	wantError(t, "not JSON", e.do(t, http.MethodPost, enrollERoTT, "", "{token"), http.StatusBadRequest, api.CodeCouldNotParseBody)
	// The token still works after all that.
	r := e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": token, "clientCsr": good, "serverCsr": goodServer})
	if r.status != http.StatusOK {
		t.Fatalf("enroll after refusals: %d %s", r.status, r.raw)
	}
}

// tlsClientNode is e's node reached by an HTTPS client presenting cert.
func tlsClientNode(e *testEnv, cert *tls.Certificate) *apiNode {
	n := *e.apiNode
	cfg := &tls.Config{RootCAs: e.pki.roots, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	n.client = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
	return &n
}

// routerTLSCert is the router's client certificate chain from an
// enrollmentCerts answer with its key, as a router presents it.
func routerTLSCert(t *testing.T, certs map[string]any, key crypto.Signer) *tls.Certificate {
	t.Helper()
	chain, err := pki.ParseCertificatesPEM([]byte(certs["cert"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	c := &tls.Certificate{PrivateKey: key, Leaf: chain[0]}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	return c
}

const extendRouter = ClientBase + "/enroll/extend/router"

func TestEdgeRouterExtendEnrollment(t *testing.T) {
	e := env(t)
	er := createAndEnrollRouter(t, e, "er-extend")
	old := tlsClientNode(e, routerTLSCert(t, er.certs, er.key))

	// New key, new certificates, presented with the current certificate.
	fresh := newKey(t)
	c, s := routerCSRs(t, fresh, er.id)
	r := old.do(t, http.MethodPost, extendRouter, "", map[string]any{"certCsr": c, "serverCertCsr": s})
	if r.status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.status, r.raw)
	}
	client := verifyChain(t, e, "extended client cert", r.data()["cert"], x509.ExtKeyUsageClientAuth, "")
	verifyChain(t, e, "extended server cert", r.data()["serverCert"], x509.ExtKeyUsageServerAuth, "router.example")
	if !client.PublicKey.(*ecdsa.PublicKey).Equal(&fresh.PublicKey) {
		t.Error("extended client cert is not for the new key")
	}
	if d := getEdgeRouter(t, e, er.id); d["fingerprint"] != pki.Fingerprint(client) || d["isVerified"] != true {
		t.Errorf("after extend: fingerprint %v, want %s", d["fingerprint"], pki.Fingerprint(client))
	}
	// The old certificate no longer counts; the new one does.
	c2, s2 := routerCSRs(t, er.key, er.id)
	body := map[string]any{"certCsr": c2, "serverCertCsr": s2}
	wantError(t, "old cert", old.do(t, http.MethodPost, extendRouter, "", body), http.StatusUnauthorized, api.CodeUnauthorized)
	current := tlsClientNode(e, routerTLSCert(t, r.data(), fresh))
	r = current.do(t, http.MethodPost, extendRouter, "", body)
	if r.status != http.StatusOK {
		t.Fatalf("extend with the new cert: %d %s", r.status, r.raw)
	}
	// That extension went back to the first key.
	current = tlsClientNode(e, routerTLSCert(t, r.data(), er.key))

	// Refusals.
	wantError(t, "no cert", tlsClientNode(e, nil).do(t, http.MethodPost, extendRouter, "", body), http.StatusUnauthorized, api.CodeUnauthorized)
	// A certificate from the cluster CA that is no router's.
	nodeCert := e.cert
	wantError(t, "node cert", tlsClientNode(e, &nodeCert).do(t, http.MethodPost, extendRouter, "", body), http.StatusUnauthorized, api.CodeUnauthorized)
	// A self-made certificate carrying a router's subject and key.
	wantError(t, "self-signed", tlsClientNode(e, selfSigned(t, er.key, er.id)).do(t, http.MethodPost, extendRouter, "", body), http.StatusUnauthorized, api.CodeUnauthorized)

	other := createAndEnrollRouter(t, e, "er-extend-other")
	wrongCN, _ := routerCSRs(t, er.key, other.id)
	fp := getEdgeRouter(t, e, er.id)["fingerprint"]
	for _, c := range []struct {
		name        string
		body        map[string]any
		field, code string
	}{
		{"missing server", map[string]any{"certCsr": c2}, "serverCertCsr", api.CodeMissingOrInvalidCSR},
		{"missing client", map[string]any{"serverCertCsr": s2}, "certCsr", api.CodeMissingOrInvalidCSR},
		{"other router's CN", map[string]any{"certCsr": wrongCN, "serverCertCsr": s2}, "certCsr", api.CodeCouldNotProcessCSR},
		{"garbage", map[string]any{"certCsr": "x", "serverCertCsr": s2}, "certCsr", api.CodeCouldNotProcessCSR},
	} {
		ae := wantError(t, c.name, current.do(t, http.MethodPost, extendRouter, "", c.body), http.StatusBadRequest, c.code)
		if causeField(ae) != c.field {
			t.Errorf("%s: cause.field %q, want %q", c.name, causeField(ae), c.field)
		}
	}
	if got := getEdgeRouter(t, e, er.id)["fingerprint"]; got != fp {
		t.Errorf("refused extensions changed the fingerprint: %v -> %v", fp, got)
	}

	// The write itself is refused while the router has an enrollment, as
	// when a re-enroll lands between the certificate check and the write.
	// (A re-enroll also clears the fingerprint; here the enrollment alone
	// is written so that the check passes and the write's guard is what
	// refuses.)
	pending := &pb.Enrollment{Method: edge.MethodEROTT, EdgeRouterId: er.id, Token: "00000000-0000-4000-8000-000000000001", ExpiresAt: time.Now().Add(time.Hour).UnixNano()}
	op, err := fsm.CreateOp(fsm.KindEnrollment, "guard-test-enrollment", pending, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := e.node.Apply(context.Background(), &pb.Command{RequestId: "test-pending", Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}}); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("write enrollment: %v %v", res, err)
	}
	wantError(t, "extend while enrolling", current.do(t, http.MethodPost, extendRouter, "", body), http.StatusUnauthorized, api.CodeUnauthorized)
	if got := getEdgeRouter(t, e, er.id)["fingerprint"]; got != fp {
		t.Errorf("extension during an enrollment changed the fingerprint: %v -> %v", fp, got)
	}
}

// selfSigned makes a self-signed client certificate for key named cn.
func selfSigned(t *testing.T, key *ecdsa.PrivateKey, cn string) *tls.Certificate {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestEdgeRouterReEnroll(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	er := createAndEnrollRouter(t, e, "er-reenroll")
	r := e.do(t, http.MethodPost, mgmt+"/edge-routers/"+er.id+"/re-enroll", admin, nil)
	if r.status != http.StatusOK {
		t.Fatalf("re-enroll: %d %s", r.status, r.raw)
	}
	d := getEdgeRouter(t, e, er.id)
	token, _ := d["enrollmentToken"].(string)
	if token == "" || d["isVerified"] != false || d["certPem"] != nil || d["fingerprint"] != "" || d["enrollmentJwt"] == nil {
		t.Fatalf("after re-enroll: %v", d)
	}
	rec, err := e.store.Get(fsm.KindEdgeRouter, er.id)
	if err != nil {
		t.Fatal(err)
	}
	if x, _ := fsm.As[*pb.EdgeRouter](rec); x.GetServerCertPem() != "" {
		t.Error("server certificate kept after re-enroll")
	}
	// The old certificate is dead.
	c, s := routerCSRs(t, er.key, er.id)
	wantError(t, "extend after re-enroll", tlsClientNode(e, routerTLSCert(t, er.certs, er.key)).do(t, http.MethodPost, extendRouter, "",
		map[string]any{"certCsr": c, "serverCertCsr": s}), http.StatusUnauthorized, api.CodeUnauthorized)

	// Re-enrolling again replaces the outstanding token.
	r = e.do(t, http.MethodPost, mgmt+"/edge-routers/"+er.id+"/re-enroll", admin, nil)
	if r.status != http.StatusOK {
		t.Fatalf("second re-enroll: %d %s", r.status, r.raw)
	}
	newToken, _ := getEdgeRouter(t, e, er.id)["enrollmentToken"].(string)
	if newToken == "" || newToken == token {
		t.Fatalf("second re-enroll kept token %q", token)
	}
	if n := len(routerEnrollmentsOf(t, e, er.id)); n != 1 {
		t.Errorf("router has %d enrollments, want 1", n)
	}
	wantError(t, "replaced token", e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": token, "clientCsr": c, "serverCsr": s}),
		http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	r = e.do(t, http.MethodPost, enrollERoTT, "", map[string]any{"token": newToken, "clientCsr": c, "serverCsr": s})
	if r.status != http.StatusOK {
		t.Fatalf("enroll with the new token: %d %s", r.status, r.raw)
	}
	if d := getEdgeRouter(t, e, er.id); d["isVerified"] != true || d["fingerprint"] != pki.Fingerprint(firstCert(t, r.data()["cert"])) {
		t.Errorf("after enrolling again: %v", d)
	}
}

// A controller advertised without a port is still a name routers may not
// claim.
func TestRouterCertCannotNameAPortlessController(t *testing.T) {
	e := env(t)
	s := &Server{cfg: Config{AdvertiseURL: "https://ctrl.example"}, store: e.store}
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{DNSNames: []string{"CTRL.example"}}, newKey(t))
	if err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	if name, err := s.controllerName(csr); err != nil || name != "CTRL.example" {
		t.Fatalf("controllerName: %q %v", name, err)
	}
}
