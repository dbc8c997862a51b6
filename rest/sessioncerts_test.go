package rest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

const sessionCerts = ClientBase + "/current-api-session/certificates"

// newKey returns a fresh P-256 key.
func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// csrDER signs a certificate request for tmpl with key.
func csrDER(t testing.TB, tmpl *x509.CertificateRequest, key crypto.Signer) []byte {
	t.Helper()
	der, err := x509.CreateCertificateRequest(rand.Reader, tmpl, key)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func pemOfCSR(der []byte) string {
	return string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}))
}

// newCSR returns a PEM CSR with the given common name and its new key.
func newCSR(t testing.TB, cn string) (string, *ecdsa.PrivateKey) {
	t.Helper()
	key := newKey(t)
	return pemOfCSR(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: cn}}, key)), key
}

// wantSpecError checks an error answer whose status the spec does not
// document for the operation: the body must still be the spec's error
// envelope, checked against an operation that documents it.
func wantSpecError(t *testing.T, what string, r *response, status int, code string) map[string]any {
	t.Helper()
	ae := wantError(t, what, r, status, code)
	if err := apispec.ValidateHTTP(http.MethodGet, sessionCerts+"/x", http.StatusNotFound, r.raw); err != nil {
		t.Errorf("%s: body is not the spec's error envelope: %v", what, err)
	}
	return ae
}

// sessionCertIDs lists, from n's store, the certificates of a session.
func sessionCertIDs(t *testing.T, n *apiNode, sessionID string) []string {
	t.Helper()
	var ids []string
	err := n.store.View(func(rd *fsm.Reader) error {
		var err error
		ids, err = rd.IDsByIndex(fsm.ApiSessionCertificateSession, sessionID)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return ids
}

func sessionCertCount(t *testing.T, n *apiNode) int {
	t.Helper()
	var count int
	if err := n.store.View(func(rd *fsm.Reader) (err error) { count, err = rd.Count(fsm.KindApiSessionCertificate); return }); err != nil {
		t.Fatal(err)
	}
	return count
}

func sessionID(t *testing.T, n *apiNode, token string) string {
	t.Helper()
	r := n.do(t, http.MethodGet, ClientBase+"/current-api-session", token, nil)
	id, _ := r.data()["id"].(string)
	if r.status != http.StatusOK || id == "" {
		t.Fatalf("current-api-session: %d %s", r.status, r.raw)
	}
	return id
}

// createSessionCert asks for a session certificate and returns the answer's
// data, failing unless it is a 201.
func createSessionCert(t *testing.T, n *apiNode, token, csr string) map[string]any {
	t.Helper()
	r := n.do(t, http.MethodPost, sessionCerts, token, map[string]any{"csr": csr})
	if r.status != http.StatusCreated {
		t.Fatalf("create session certificate: %d %s", r.status, r.raw)
	}
	return r.data()
}

// checkIssued checks a certificate this cluster signed from a CSR: the
// chain verifies to the root for client auth with the CA certificates
// given, and the leaf keeps only the CSR's subject and key.
func checkIssued(t *testing.T, chainPEM, casPEM string, roots *x509.CertPool, csr *x509.CertificateRequest, identityID string) *x509.Certificate {
	t.Helper()
	chain, err := pki.ParseCertificatesPEM([]byte(chainPEM))
	if err != nil {
		t.Fatalf("issued certificate: %v", err)
	}
	cas, err := pki.ParseCertificatesPEM([]byte(casPEM))
	if err != nil {
		t.Fatalf("CA certificates: %v", err)
	}
	leaf := chain[0]
	inter := x509.NewCertPool()
	for _, c := range cas {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("issued certificate does not verify to the root with the returned CAs: %v", err)
	}
	if !bytes.Equal(leaf.RawSubject, csr.RawSubject) {
		t.Errorf("subject %q, want the CSR's %q", leaf.Subject, csr.Subject)
	}
	if !leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }).Equal(csr.PublicKey) {
		t.Error("issued certificate is not for the CSR's key")
	}
	if leaf.IsCA || len(leaf.DNSNames) != 0 || len(leaf.EmailAddresses) != 0 || len(leaf.IPAddresses) != 0 {
		t.Errorf("issued certificate took requested extensions: CA %v, DNS %v, email %v, IP %v", leaf.IsCA, leaf.DNSNames, leaf.EmailAddresses, leaf.IPAddresses)
	}
	if len(leaf.ExtKeyUsage) != 1 || leaf.ExtKeyUsage[0] != x509.ExtKeyUsageClientAuth {
		t.Errorf("extended key usage %v, want client auth only", leaf.ExtKeyUsage)
	}
	want := "spiffe://" + pki.DefaultTrustDomain + "/identity/" + identityID
	if len(leaf.URIs) != 1 || leaf.URIs[0].String() != want {
		t.Errorf("URI SANs %v, want [%s]", leaf.URIs, want)
	}
	return leaf
}

// hostileCSRTemplate asks for everything a client must not get: a CA
// certificate, other names, another key usage.
func hostileCSRTemplate(cn string) *x509.CertificateRequest {
	bc, _ := asn1.Marshal(struct {
		IsCA bool `asn1:"optional"`
	}{true})
	return &x509.CertificateRequest{
		Subject:         pkix.Name{CommonName: cn, Organization: []string{"Garrison Tests"}},
		DNSNames:        []string{"controller.example"},
		EmailAddresses:  []string{"root@example.com"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 19}, Critical: true, Value: bc}},
	}
}

func TestSessionCertificates(t *testing.T) {
	e := env(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := createUser(ctx, e.node, "sc-user", "sc-user-name", "sc-user-pw-1", false); err != nil {
		t.Fatal(err)
	}
	identityID, err := e.findIdentity("sc-user")
	if err != nil {
		t.Fatal(err)
	}
	tokA := e.login(t, ClientBase, "sc-user-name", "sc-user-pw-1")
	tokB := e.login(t, ClientBase, "sc-user-name", "sc-user-pw-1")
	sidA, sidB := sessionID(t, e.apiNode, tokA), sessionID(t, e.apiNode, tokB)

	key := newKey(t)
	der := csrDER(t, hostileCSRTemplate("sc-device"), key)
	csr, err := x509.ParseCertificateRequest(der)
	if err != nil {
		t.Fatal(err)
	}
	before := time.Now()
	d := createSessionCert(t, e.apiNode, tokA, pemOfCSR(der))
	after := time.Now()
	id, _ := d["id"].(string)
	certPEM, _ := d["certificate"].(string)
	if id == "" || certPEM == "" || dig(d, "_links", "self", "href") != "./current-api-session/certificates/"+id {
		t.Fatalf("create answer %v", d)
	}
	leaf := checkIssued(t, certPEM, stringOf(d["cas"]), e.pki.roots, csr, identityID)

	// Short-lived: 12 hours, or less where the issuing CA ends sooner.
	wantEnd := before.Add(pki.DefaultSessionCertValidity)
	if e.pki.inter.Cert.NotAfter.Before(wantEnd) {
		wantEnd = e.pki.inter.Cert.NotAfter
	}
	if leaf.NotAfter.Before(wantEnd.Truncate(time.Second)) || leaf.NotAfter.After(after.Add(pki.DefaultSessionCertValidity)) || leaf.NotAfter.After(e.pki.inter.Cert.NotAfter) {
		t.Errorf("session certificate ends %s, want about %s", leaf.NotAfter, wantEnd)
	}

	// Only the session that made it sees it.
	r := e.do(t, http.MethodGet, sessionCerts, tokA, nil)
	if r.status != http.StatusOK || len(r.list()) != 1 {
		t.Fatalf("list on session A: %d %s", r.status, r.raw)
	}
	got := obj(r.list()[0])
	if got["id"] != id || got["fingerprint"] != pki.Fingerprint(leaf) || got["subject"] != leaf.Subject.String() ||
		got["certificate"] != certPEM || got["validTo"] != api.Time(leaf.NotAfter) || got["validFrom"] != api.Time(leaf.NotBefore) {
		t.Errorf("listed %v", got)
	}
	if g := e.do(t, http.MethodGet, sessionCerts+"/"+id, tokA, nil); g.status != http.StatusOK || g.data()["fingerprint"] != pki.Fingerprint(leaf) {
		t.Errorf("get on session A: %d %s", g.status, g.raw)
	}
	for _, f := range []struct {
		filter string
		want   int
	}{{`fingerprint = "` + pki.Fingerprint(leaf) + `"`, 1}, {`fingerprint = "00"`, 0}, {`subject contains "sc-device"`, 1}} {
		r := e.do(t, http.MethodGet, sessionCerts+"?filter="+url.QueryEscape(f.filter), tokA, nil)
		if r.status != http.StatusOK || len(r.list()) != f.want {
			t.Errorf("filter %s: %d %s", f.filter, r.status, r.raw)
		}
	}
	for _, q := range []string{"", "?filter=" + url.QueryEscape(`fingerprint = "`+pki.Fingerprint(leaf)+`"`)} {
		if r := e.do(t, http.MethodGet, sessionCerts+q, tokB, nil); r.status != http.StatusOK || len(r.list()) != 0 {
			t.Errorf("session B lists session A's certificate (%s): %s", q, r.raw)
		}
	}
	wantError(t, "get from session B", e.do(t, http.MethodGet, sessionCerts+"/"+id, tokB, nil), http.StatusNotFound, api.CodeNotFound)
	wantSpecError(t, "delete from session B", e.doUnchecked(t, http.MethodDelete, sessionCerts+"/"+id, tokB, nil), http.StatusNotFound, api.CodeNotFound)
	wantError(t, "no session", e.do(t, http.MethodGet, sessionCerts, "", nil), http.StatusUnauthorized, api.CodeUnauthorized)
	wantError(t, "create without session", e.do(t, http.MethodPost, sessionCerts, "", map[string]any{"csr": pemOfCSR(der)}), http.StatusUnauthorized, api.CodeUnauthorized)

	// Deleting its own.
	if r := e.do(t, http.MethodDelete, sessionCerts+"/"+id, tokA, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	wantError(t, "get deleted", e.do(t, http.MethodGet, sessionCerts+"/"+id, tokA, nil), http.StatusNotFound, api.CodeNotFound)

	// Ending a session, in each way it can end, deletes its certificates.
	csrA, _ := newCSR(t, "sc-a")
	csrB, _ := newCSR(t, "sc-b")
	idA := stringOf(createSessionCert(t, e.apiNode, tokA, csrA)["id"])
	idB := stringOf(createSessionCert(t, e.apiNode, tokB, csrB)["id"])
	if r := e.do(t, http.MethodDelete, ClientBase+"/current-api-session", tokA, nil); r.status != http.StatusOK {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if _, err := e.store.Get(fsm.KindApiSessionCertificate, idA); !errors.Is(err, fsm.ErrNotFound) {
		t.Errorf("certificate of a logged-out session: %v", err)
	}
	if ids := sessionCertIDs(t, e.apiNode, sidA); len(ids) != 0 {
		t.Errorf("logged-out session still has certificates %v", ids)
	}
	if r := e.do(t, http.MethodDelete, mgmt+"/api-sessions/"+sidB, e.adminToken(t), nil); r.status != http.StatusOK {
		t.Fatalf("admin delete session: %d %s", r.status, r.raw)
	}
	if _, err := e.store.Get(fsm.KindApiSessionCertificate, idB); !errors.Is(err, fsm.ErrNotFound) {
		t.Errorf("certificate of an admin-deleted session: %v", err)
	}

	tokC := e.login(t, ClientBase, "sc-user-name", "sc-user-pw-1")
	sidC := sessionID(t, e.apiNode, tokC)
	csrC, _ := newCSR(t, "sc-c")
	idC := stringOf(createSessionCert(t, e.apiNode, tokC, csrC)["id"])
	// Age the session past its timeout, then sweep as the leader does.
	old, err := fsm.PatchOp(fsm.KindApiSession, sidC, &pb.ApiSession{LastActivityAt: 1}, nil, "last_activity_at")
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := e.node.Apply(ctx, &pb.Command{RequestId: "test-age-session", Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{old}}); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("age session: %v %v", res, err)
	}
	e.srv.sessions.Sweep(ctx)
	if _, err := e.store.Get(fsm.KindApiSession, sidC); !errors.Is(err, fsm.ErrNotFound) {
		t.Fatalf("expired session not swept: %v", err)
	}
	if _, err := e.store.Get(fsm.KindApiSessionCertificate, idC); !errors.Is(err, fsm.ErrNotFound) {
		t.Errorf("certificate of an expired session: %v", err)
	}
}

func TestSessionCertificateLimit(t *testing.T) {
	e := env(t)
	tok := e.login(t, ClientBase, userUsername, userPassword)
	t.Cleanup(func() { e.doUnchecked(t, http.MethodDelete, ClientBase+"/current-api-session", tok, nil) })
	csr, _ := newCSR(t, "limit")
	for range maxSessionCerts {
		createSessionCert(t, e.apiNode, tok, csr)
	}
	ae := wantError(t, "one certificate too many", e.do(t, http.MethodPost, sessionCerts, tok, map[string]any{"csr": csr}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if causeField(ae) != "csr" {
		t.Errorf("cause field %q", causeField(ae))
	}
	if n := len(sessionCertIDs(t, e.apiNode, sessionID(t, e.apiNode, tok))); n != maxSessionCerts {
		t.Errorf("%d certificates stored, want %d", n, maxSessionCerts)
	}
}

// badCSRs are certificate requests a node must refuse, by name.
func badCSRs(t testing.TB) map[string]string {
	t.Helper()
	good := csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "tamper-me"}}, newKey(t))
	// A changed subject: the signature no longer covers what is asked for.
	tampered := bytes.Replace(bytes.Clone(good), []byte("tamper-me"), []byte("tamper-me"[:8]+"X"), 1)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 0x55
	var dns []string
	for i := range 2000 {
		dns = append(dns, fmt.Sprintf("host-%04d.example.com", i))
	}
	var ous []string
	for i := range 20 {
		ous = append(ous, fmt.Sprintf("unit %02d %s", i, strings.Repeat("u", 50)))
	}
	weak, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	one, _ := newCSR(t, "one")
	two, _ := newCSR(t, "two")
	p, err := newTestPKI()
	if err != nil {
		t.Fatal(err)
	}
	cert := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.inter.Cert.Raw})
	return map[string]string{
		"garbage":           "hello",
		"PEM of garbage":    "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
		"a certificate":     string(cert),
		"tampered subject":  pemOfCSR(tampered),
		"flipped signature": pemOfCSR(flipped),
		"oversized":         pemOfCSR(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "big"}, DNSNames: dns}, newKey(t))),
		"long common name":  pemOfCSR(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: strings.Repeat("c", 129)}}, newKey(t))),
		"oversized subject": pemOfCSR(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ous", OrganizationalUnit: ous}}, newKey(t))),
		"control character": pemOfCSR(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "bell\a"}}, newKey(t))),
		"1024-bit RSA key":  pemOfCSR(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "weak"}}, weak)),
		"two requests":      one + two,
		"trailing text":     one + "trailing",
		"wrong PEM type":    strings.Replace(one, "CERTIFICATE REQUEST", "CERTIFICATE REQUES", 2),
	}
}

func TestSessionCertificateRefusesBadCSRs(t *testing.T) {
	e := env(t)
	tok := e.login(t, ClientBase, userUsername, userPassword)
	t.Cleanup(func() { e.doUnchecked(t, http.MethodDelete, ClientBase+"/current-api-session", tok, nil) })
	sid := sessionID(t, e.apiNode, tok)
	total := sessionCertCount(t, e.apiNode)
	for name, csr := range badCSRs(t) {
		ae := wantError(t, name, e.do(t, http.MethodPost, sessionCerts, tok, map[string]any{"csr": csr}), http.StatusBadRequest, api.CodeCouldNotProcessCSR)
		if causeField(ae) != "csr" {
			t.Errorf("%s: cause field %q, want csr", name, causeField(ae))
		}
	}
	for name, body := range map[string]any{"missing csr": map[string]any{}, "empty csr": map[string]any{"csr": ""}, "csr not a string": map[string]any{"csr": 5}} {
		ae := wantError(t, name, e.do(t, http.MethodPost, sessionCerts, tok, body), http.StatusBadRequest, api.CodeCouldNotValidate)
		if causeField(ae) != "csr" {
			t.Errorf("%s: cause field %q, want csr", name, causeField(ae))
		}
	}
	wantError(t, "not JSON", e.do(t, http.MethodPost, sessionCerts, tok, "{csr"), http.StatusBadRequest, api.CodeCouldNotParseBody)
	if ids := sessionCertIDs(t, e.apiNode, sid); len(ids) != 0 {
		t.Errorf("refused requests stored certificates %v", ids)
	}
	if n := sessionCertCount(t, e.apiNode); n != total {
		t.Errorf("%d session certificates stored, %d before the refused requests", n, total)
	}
	if r := e.do(t, http.MethodGet, sessionCerts, tok, nil); len(r.list()) != 0 {
		t.Errorf("list after refused requests: %s", r.raw)
	}
}

// longLivedPKI is a test PKI whose intermediate outlives a session
// certificate, so the certificate's own lifetime shows.
func longLivedPKI(t *testing.T) *testPKI {
	t.Helper()
	root, err := pki.NewRootCA("rest long root", 72*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediateCA("rest long intermediate", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{root: root, inter: inter, roots: pki.NewCertPool(root.Cert)}
}

// twoNodes starts a cluster of its own: a leader and a non-voting follower
// (configured further by followerCfg, if set) with an admin, for checks
// that one node's writes hold on the other.
func twoNodes(t *testing.T, p *testPKI, followerCfg func(*Config)) (leader, follower *apiNode) {
	t.Helper()
	a, err := startAPINode(p, "sc1", t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	b, err := startAPINode(p, "sc2", t.TempDir(), 0, followerCfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := a.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	if err := a.node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if aerr := a.srv.CreateDefaultAdmin(httptest.NewRequest(http.MethodPost, AgentInitPath, nil),
		InitRequest{AdminUsername: adminUsername, AdminPassword: adminPassword, AdminName: adminName}); aerr != nil {
		t.Fatal(aerr)
	}
	if err := a.node.AddMember(ctx, b.node.Address(), false); err != nil {
		t.Fatal(err)
	}
	return a, b
}

// caughtUp waits until n has applied everything from applies so far.
func caughtUp(t *testing.T, from, n *apiNode) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.store.WaitApplied(ctx, from.store.AppliedIndex()); err != nil {
		t.Fatalf("%s catching up with %s: %v", n.name, from.name, err)
	}
}

// TestSessionCertificatesAcrossNodes: a certificate asked for on one node
// is the session's on the other, lives 12 hours, and dies with the session
// on both.
func TestSessionCertificatesAcrossNodes(t *testing.T) {
	p := longLivedPKI(t)
	a, b := twoNodes(t, p, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := createUser(ctx, a.node, "sc-multi", "sc-multi-user", "sc-multi-pw", false); err != nil {
		t.Fatal(err)
	}
	tok := a.login(t, ClientBase, "sc-multi-user", "sc-multi-pw")
	caughtUp(t, a, b)

	der := csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "sc-multi-device"}}, newKey(t))
	csr, _ := x509.ParseCertificateRequest(der)
	before := time.Now()
	d := createSessionCert(t, b, tok, pemOfCSR(der))
	after := time.Now()
	var identityID string
	_ = a.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Lookup(fsm.IdentityName, "sc-multi")
		if err == nil {
			identityID = rec.ID
		}
		return err
	})
	leaf := checkIssued(t, stringOf(d["certificate"]), stringOf(d["cas"]), p.roots, csr, identityID)
	if leaf.NotAfter.Before(before.Add(pki.DefaultSessionCertValidity).Truncate(time.Second)) || leaf.NotAfter.After(after.Add(pki.DefaultSessionCertValidity)) {
		t.Errorf("session certificate ends %s, want 12h after %s", leaf.NotAfter, before)
	}
	id := stringOf(d["id"])
	if r := a.do(t, http.MethodGet, sessionCerts+"/"+id, tok, nil); r.status != http.StatusOK || r.data()["fingerprint"] != pki.Fingerprint(leaf) {
		t.Fatalf("the other node does not show it: %d %s", r.status, r.raw)
	}

	if r := a.do(t, http.MethodDelete, ClientBase+"/current-api-session", tok, nil); r.status != http.StatusOK {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	caughtUp(t, a, b)
	for _, n := range []*apiNode{a, b} {
		if _, err := n.store.Get(fsm.KindApiSessionCertificate, id); !errors.Is(err, fsm.ErrNotFound) {
			t.Errorf("%s still holds the certificate after logout: %v", n.name, err)
		}
	}
	wantError(t, "list after logout", b.do(t, http.MethodGet, sessionCerts, tok, nil), http.StatusUnauthorized, api.CodeUnauthorized)
}

// A client certificate may not name a cluster member: the CA would vouch
// for CN=<node> to anyone reading names from certificates.
func TestSessionCertificateNamingAMemberIsRefused(t *testing.T) {
	e := env(t)
	tok := e.login(t, ClientBase, userUsername, userPassword)
	t.Cleanup(func() { e.doUnchecked(t, http.MethodDelete, ClientBase+"/current-api-session", tok, nil) })
	before := len(sessionCertIDs(t, e.apiNode, sessionID(t, e.apiNode, tok)))
	for _, cn := range []string{e.name, strings.ToUpper(e.name)} {
		csr, _ := newCSR(t, cn)
		ae := wantError(t, "CN="+cn, e.do(t, http.MethodPost, sessionCerts, tok, map[string]any{"csr": csr}), http.StatusBadRequest, "COULD_NOT_PROCESS_CSR")
		if causeField(ae) != "csr" {
			t.Errorf("cause field %q", causeField(ae))
		}
	}
	if n := len(sessionCertIDs(t, e.apiNode, sessionID(t, e.apiNode, tok))); n != before {
		t.Errorf("%d certificates stored, want %d", n, before)
	}
}
