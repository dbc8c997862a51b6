package rest

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// withClientCert returns a view of n whose HTTPS client presents cert in
// the TLS handshake.
func withClientCert(t *testing.T, n *apiNode, roots *x509.CertPool, cert tls.Certificate) *apiNode {
	t.Helper()
	m := *n
	m.client = &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert},
		}},
	}
	t.Cleanup(m.client.CloseIdleConnections)
	return &m
}

// certUser is an identity with a password and a certificate the cluster's
// intermediate signed, registered as its cert authenticator.
type certUser struct {
	identityID, authID string
	token              string // a password login's session
	key                *ecdsa.PrivateKey
	leaf               *x509.Certificate
	inter              *x509.Certificate
}

func (u *certUser) tlsCert() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{u.leaf.Raw, u.inter.Raw}, PrivateKey: u.key, Leaf: u.leaf}
}

func (u *certUser) certPEM() string { return string(pki.EncodeCertificatesPEM(u.leaf)) }

// newCertUser creates name with a updb and a cert authenticator. Its
// session comes from a password login; certLogin logs in with the
// certificate where the node serves certificate authentication.
func newCertUser(t *testing.T, n *apiNode, issuer *pki.CA, name, adminToken string) *certUser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := createUser(ctx, n.node, name, name+"-user", name+"-pw-1", false); err != nil {
		t.Fatal(err)
	}
	u := &certUser{key: newKey(t), inter: issuer.Cert}
	if err := n.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Lookup(fsm.IdentityName, name)
		if err == nil {
			u.identityID = rec.ID
		}
		return err
	}); err != nil {
		t.Fatal(err)
	}
	csr, err := x509.ParseCertificateRequest(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: name}}, u.key))
	if err != nil {
		t.Fatal(err)
	}
	if u.leaf, err = issuer.SignClientCSR(pki.ClientCertRequest{CSR: csr, IdentityID: u.identityID}); err != nil {
		t.Fatal(err)
	}
	r := n.do(t, http.MethodPost, mgmt+"/authenticators", adminToken, map[string]any{"method": "cert", "identityId": u.identityID, "certPem": u.certPEM()})
	if r.status != http.StatusCreated {
		t.Fatalf("create cert authenticator: %d %s", r.status, r.raw)
	}
	u.authID = stringOf(r.data()["id"])
	u.token = n.login(t, ClientBase, name+"-user", name+"-pw-1")
	return u
}

// storedAuthenticator reads an authenticator from n's store.
func storedAuthenticator(t *testing.T, n *apiNode, id string) *pb.Authenticator {
	t.Helper()
	rec, err := n.store.Get(fsm.KindAuthenticator, id)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := fsm.As[*pb.Authenticator](rec)
	return a
}

// certLogin authenticates with the certificate n's client presents. ok is
// false while the node does not serve certificate authentication yet.
func certLogin(t *testing.T, n *apiNode) (status int, ok bool) {
	t.Helper()
	r := n.do(t, http.MethodPost, ClientBase+"/authenticate?method=cert", "", map[string]any{})
	if code, _ := dig(r.body, "error", "code").(string); r.status == http.StatusBadRequest && code == api.CodeInvalidAuthMethod {
		return r.status, false
	}
	return r.status, true
}

func authenticatorPath(api, id string) string { return api + "/current-identity/authenticators/" + id }

func TestExtendCertificate(t *testing.T) {
	e := env(t)
	u := newCertUser(t, e.apiNode, e.pki.inter, "ext-user", e.adminToken(t))
	path := authenticatorPath(ClientBase, u.authID)
	oldFP := pki.Fingerprint(u.leaf)
	withOld := withClientCert(t, e.apiNode, e.pki.roots, u.tlsCert())

	g := e.do(t, http.MethodGet, path, u.token, nil).data()
	if g["isIssuedByNetwork"] != true || g["isExtendRequested"] != false || g["isKeyRollRequested"] != false || g["extendRequestedAt"] != nil {
		t.Fatalf("authenticator before extending: %v", g)
	}

	newCSRPEM, newKey := newCSR(t, "ext-user-renewed")
	body := map[string]any{"clientCertCsr": newCSRPEM}
	// The current certificate must be presented, not just the session.
	wantError(t, "extend without a client certificate", e.do(t, http.MethodPost, path+"/extend", u.token, body), http.StatusUnauthorized, api.CodeUnauthorized)
	stranger := &certUser{key: newKey, inter: e.pki.inter.Cert}
	strangerCSR, _ := x509.ParseCertificateRequest(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: "ext-user"}}, newKey))
	var err error
	if stranger.leaf, err = e.pki.inter.SignClientCSR(pki.ClientCertRequest{CSR: strangerCSR, IdentityID: u.identityID}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "extend presenting another certificate", withClientCert(t, e.apiNode, e.pki.roots, stranger.tlsCert()).do(t, http.MethodPost, path+"/extend", u.token, body),
		http.StatusUnauthorized, api.CodeUnauthorized)
	for name, csr := range badCSRs(t) {
		ae := wantSpecError(t, "extend with "+name, withOld.doUnchecked(t, http.MethodPost, path+"/extend", u.token, map[string]any{"clientCertCsr": csr}), http.StatusBadRequest, api.CodeCouldNotProcessCSR)
		if causeField(ae) != "clientCertCsr" {
			t.Errorf("extend with %s: cause field %q", name, causeField(ae))
		}
	}
	wantSpecError(t, "extend without a CSR", withOld.doUnchecked(t, http.MethodPost, path+"/extend", u.token, map[string]any{}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if a := storedAuthenticator(t, e.apiNode, u.authID); a.GetUnverifiedCertPem() != "" || a.GetUnverifiedFingerprint() != "" || a.GetFingerprint() != oldFP {
		t.Fatalf("refused extensions changed the authenticator: %v", a)
	}

	// Extend with a new key: the new certificate is only pending.
	r := withOld.do(t, http.MethodPost, path+"/extend", u.token, body)
	if r.status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.status, r.raw)
	}
	clientCert := stringOf(r.data()["clientCert"])
	csr, _ := pki.ParseCSR([]byte(newCSRPEM))
	newLeaf := checkIssued(t, clientCert, stringOf(r.data()["ca"]), e.pki.roots, csr, u.identityID)
	newFP := pki.Fingerprint(newLeaf)
	a := storedAuthenticator(t, e.apiNode, u.authID)
	if a.GetFingerprint() != oldFP || a.GetCertPem() != u.certPEM() || a.GetUnverifiedFingerprint() != newFP ||
		a.GetUnverifiedCertPem() != string(pki.EncodeCertificatesPEM(newLeaf)) {
		t.Fatalf("after extend: fingerprint %s (old %s), pending %s (new %s)", a.GetFingerprint(), oldFP, a.GetUnverifiedFingerprint(), newFP)
	}
	renewed := &certUser{key: newKey, leaf: newLeaf, inter: e.pki.inter.Cert}
	withNew := withClientCert(t, e.apiNode, e.pki.roots, renewed.tlsCert())
	wantError(t, "extend presenting the unverified certificate", withNew.do(t, http.MethodPost, path+"/extend", u.token, body), http.StatusUnauthorized, api.CodeUnauthorized)

	// An extension an admin asked for is shown, and verifying it ends it.
	requestedAt := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	flag, err := fsm.PatchOp(fsm.KindAuthenticator, u.authID, &pb.Authenticator{IsExtendRequested: true, IsKeyRollRequested: true, ExtendRequestedAt: requestedAt.UnixNano()},
		nil, "is_extend_requested", "is_key_roll_requested", "extend_requested_at")
	if err != nil {
		t.Fatal(err)
	}
	if res, _, err := e.node.Apply(context.Background(), &pb.Command{RequestId: "test-request-extend", Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{flag}}); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("flag extension: %v %v", res, err)
	}
	g = e.do(t, http.MethodGet, path, u.token, nil).data()
	if g["isExtendRequested"] != true || g["isKeyRollRequested"] != true || g["extendRequestedAt"] != api.Time(requestedAt) {
		t.Errorf("requested extension not shown: %v", g)
	}

	// extend-verify wants exactly the pending certificate back.
	for name, v := range map[string]string{
		"the current certificate": u.certPEM(),
		"garbage":                 "hello",
		"a huge body":             strings.Repeat("A", maxClientCertPEM+1),
	} {
		ae := wantSpecError(t, "verify with "+name, e.doUnchecked(t, http.MethodPost, path+"/extend-verify", u.token, map[string]any{"clientCert": v}), http.StatusBadRequest, api.CodeInvalidClientCert)
		if causeField(ae) != "clientCert" {
			t.Errorf("verify with %s: cause field %q", name, causeField(ae))
		}
	}
	wantSpecError(t, "verify without a certificate", e.doUnchecked(t, http.MethodPost, path+"/extend-verify", u.token, map[string]any{}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if a := storedAuthenticator(t, e.apiNode, u.authID); a.GetFingerprint() != oldFP || a.GetUnverifiedFingerprint() != newFP {
		t.Fatalf("refused verifications changed the authenticator: %v", a)
	}
	// Through the management API this time: the spec has both.
	if r := e.do(t, http.MethodPost, authenticatorPath(mgmt, u.authID)+"/extend-verify", u.token, map[string]any{"clientCert": clientCert}); r.status != http.StatusOK {
		t.Fatalf("extend-verify: %d %s", r.status, r.raw)
	}
	a = storedAuthenticator(t, e.apiNode, u.authID)
	if a.GetFingerprint() != newFP || a.GetCertPem() != string(pki.EncodeCertificatesPEM(newLeaf)) || a.GetUnverifiedCertPem() != "" || a.GetUnverifiedFingerprint() != "" ||
		a.GetIsExtendRequested() || a.GetIsKeyRollRequested() || a.GetExtendRequestedAt() != 0 {
		t.Fatalf("after extend-verify: %v", a)
	}
	g = e.do(t, http.MethodGet, path, u.token, nil).data()
	if g["fingerprint"] != newFP || g["isExtendRequested"] != false || g["extendRequestedAt"] != nil || g["isIssuedByNetwork"] != true {
		t.Errorf("authenticator after extend-verify: %v", g)
	}
	wantSpecError(t, "verify twice", e.doUnchecked(t, http.MethodPost, path+"/extend-verify", u.token, map[string]any{"clientCert": clientCert}), http.StatusConflict, api.CodeCanNotUpdateAuthenticator)

	// Now only the new certificate can extend.
	wantError(t, "extend presenting the replaced certificate", withOld.do(t, http.MethodPost, path+"/extend", u.token, body), http.StatusUnauthorized, api.CodeUnauthorized)
	if r := withNew.do(t, http.MethodPost, authenticatorPath(mgmt, u.authID)+"/extend", u.token, body); r.status != http.StatusOK {
		t.Errorf("extend with the new certificate: %d %s", r.status, r.raw)
	}
}

func TestExtendOnlyOwnNetworkCertificates(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	u := newCertUser(t, e.apiNode, e.pki.inter, "ext-own", admin)
	csr, _ := newCSR(t, "ext-own")
	body := map[string]any{"clientCertCsr": csr}
	withCert := withClientCert(t, e.apiNode, e.pki.roots, u.tlsCert())

	// Someone else's authenticator does not exist for the caller.
	wantSpecError(t, "extend another identity's certificate", withCert.doUnchecked(t, http.MethodPost, authenticatorPath(ClientBase, u.authID)+"/extend", e.userToken(t), body),
		http.StatusNotFound, api.CodeNotFound)
	wantSpecError(t, "verify another identity's certificate", e.doUnchecked(t, http.MethodPost, authenticatorPath(ClientBase, u.authID)+"/extend-verify", e.userToken(t),
		map[string]any{"clientCert": u.certPEM()}), http.StatusNotFound, api.CodeNotFound)
	wantSpecError(t, "unknown authenticator", withCert.doUnchecked(t, http.MethodPost, authenticatorPath(ClientBase, "nope")+"/extend", u.token, body), http.StatusNotFound, api.CodeNotFound)

	// A password has nothing to extend.
	r := e.do(t, http.MethodGet, ClientBase+"/current-identity/authenticators", u.token, nil)
	var updbID string
	for _, item := range r.list() {
		if obj(item)["method"] == "updb" {
			updbID = stringOf(obj(item)["id"])
		}
	}
	if updbID == "" {
		t.Fatalf("no updb authenticator in %s", r.raw)
	}
	wantSpecError(t, "extend a password", withCert.doUnchecked(t, http.MethodPost, authenticatorPath(ClientBase, updbID)+"/extend", u.token, body), http.StatusConflict, api.CodeCanNotUpdateAuthenticator)
	wantSpecError(t, "verify a password", e.doUnchecked(t, http.MethodPost, authenticatorPath(ClientBase, updbID)+"/extend-verify", u.token, map[string]any{"clientCert": u.certPEM()}),
		http.StatusConflict, api.CodeCanNotUpdateAuthenticator)

	// Certificates from outside the network are not the network's to renew.
	foreign, err := newTestPKI()
	if err != nil {
		t.Fatal(err)
	}
	selfSigned, err := pki.NewRootCA("ext self-signed", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	for name, issuer := range map[string]*pki.CA{"foreign CA": foreign.inter, "self-signed": selfSigned} {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		uname := "ext-" + strings.ReplaceAll(name, " ", "-")
		err := createUser(ctx, e.node, uname, uname+"-user", uname+"-pw-1", false)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		id, _ := e.findIdentity(uname)
		var cert tls.Certificate
		var certPEM string
		if issuer == selfSigned {
			cert = tls.Certificate{Certificate: [][]byte{selfSigned.Cert.Raw}, PrivateKey: selfSigned.Key, Leaf: selfSigned.Cert}
			certPEM = string(pki.EncodeCertificatesPEM(selfSigned.Cert))
		} else {
			key := newKey(t)
			csr, _ := x509.ParseCertificateRequest(csrDER(t, &x509.CertificateRequest{Subject: pkix.Name{CommonName: uname}}, key))
			leaf, err := issuer.SignClientCSR(pki.ClientCertRequest{CSR: csr, IdentityID: id})
			if err != nil {
				t.Fatal(err)
			}
			cert = tls.Certificate{Certificate: [][]byte{leaf.Raw, issuer.Cert.Raw}, PrivateKey: key, Leaf: leaf}
			certPEM = string(pki.EncodeCertificatesPEM(leaf))
		}
		r := e.do(t, http.MethodPost, mgmt+"/authenticators", admin, map[string]any{"method": "cert", "identityId": id, "certPem": certPEM})
		if r.status != http.StatusCreated {
			t.Fatalf("%s: create authenticator: %d %s", name, r.status, r.raw)
		}
		authID := stringOf(r.data()["id"])
		tok := e.login(t, ClientBase, uname+"-user", uname+"-pw-1")
		if g := e.do(t, http.MethodGet, authenticatorPath(ClientBase, authID), tok, nil).data(); g["isIssuedByNetwork"] != false {
			t.Errorf("%s: isIssuedByNetwork %v", name, g["isIssuedByNetwork"])
		}
		wantSpecError(t, "extend a "+name+" certificate", withClientCert(t, e.apiNode, e.pki.roots, cert).doUnchecked(t, http.MethodPost, authenticatorPath(ClientBase, authID)+"/extend", tok, body),
			http.StatusConflict, api.CodeCanNotUpdateAuthenticator)
		if a := storedAuthenticator(t, e.apiNode, authID); a.GetUnverifiedCertPem() != "" {
			t.Errorf("%s: a pending certificate was stored", name)
		}
	}
}

// TestExtendedCertificateLogin checks which certificate logs in at each
// step of an extension. It runs once the node serves certificate
// authentication (POST /authenticate?method=cert) and skips until then.
func TestExtendedCertificateLogin(t *testing.T) {
	e := env(t)
	u := newCertUser(t, e.apiNode, e.pki.inter, "ext-login", e.adminToken(t))
	withOld := withClientCert(t, e.apiNode, e.pki.roots, u.tlsCert())
	status, ok := certLogin(t, withOld)
	if !ok {
		t.Skip("certificate authentication is not served yet")
	}
	if status != http.StatusOK {
		t.Fatalf("login with the registered certificate: %d", status)
	}
	csr, key := newCSR(t, "ext-login")
	path := authenticatorPath(ClientBase, u.authID)
	r := withOld.do(t, http.MethodPost, path+"/extend", u.token, map[string]any{"clientCertCsr": csr})
	if r.status != http.StatusOK {
		t.Fatalf("extend: %d %s", r.status, r.raw)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(stringOf(r.data()["clientCert"])))
	if err != nil {
		t.Fatal(err)
	}
	withNew := withClientCert(t, e.apiNode, e.pki.roots, (&certUser{key: key, leaf: certs[0], inter: e.pki.inter.Cert}).tlsCert())
	if status, _ := certLogin(t, withNew); status != http.StatusUnauthorized {
		t.Errorf("the pending certificate logged in before extend-verify: %d", status)
	}
	if status, _ := certLogin(t, withOld); status != http.StatusOK {
		t.Errorf("the current certificate stopped working before extend-verify: %d", status)
	}
	if r := e.do(t, http.MethodPost, path+"/extend-verify", u.token, map[string]any{"clientCert": stringOf(r.data()["clientCert"])}); r.status != http.StatusOK {
		t.Fatalf("extend-verify: %d %s", r.status, r.raw)
	}
	if status, _ := certLogin(t, withOld); status != http.StatusUnauthorized {
		t.Errorf("the replaced certificate still logs in: %d", status)
	}
	if status, _ := certLogin(t, withNew); status != http.StatusOK {
		t.Errorf("the new certificate does not log in: %d", status)
	}
}

// TestExtendAcrossNodes extends on one node and verifies on the other. The
// follower signs with an intermediate of its own, so a certificate the
// leader's intermediate signed is recognised as the network's through the
// members' registered chains, not through the follower's own issuer.
func TestExtendAcrossNodes(t *testing.T) {
	p := longLivedPKI(t)
	inter2, err := p.root.NewIntermediateCA("rest long intermediate 2", 48*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	a, b := twoNodes(t, p, func(c *Config) { c.Issuer = inter2 })
	waitFor(t, "the leader's controller record", func() (bool, string) {
		_, err := a.store.Get(fsm.KindController, a.name)
		return err == nil, fmt.Sprint(err)
	})
	caughtUp(t, a, b)
	u := newCertUser(t, b, p.inter, "ext-multi", b.login(t, mgmt, adminUsername, adminPassword))
	if !storedAuthenticator(t, b, u.authID).GetIsIssuedByNetwork() {
		t.Fatalf("a certificate of the leader's intermediate is not the network's on %s", b.name)
	}
	caughtUp(t, b, a)
	csr, _ := newCSR(t, "ext-multi")
	r := withClientCert(t, b, p.roots, u.tlsCert()).do(t, http.MethodPost, authenticatorPath(ClientBase, u.authID)+"/extend", u.token, map[string]any{"clientCertCsr": csr})
	if r.status != http.StatusOK {
		t.Fatalf("extend on %s: %d %s", b.name, r.status, r.raw)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(stringOf(r.data()["clientCert"])))
	if err != nil {
		t.Fatal(err)
	}
	if got := storedAuthenticator(t, a, u.authID); got.GetUnverifiedFingerprint() != pki.Fingerprint(certs[0]) || got.GetFingerprint() != pki.Fingerprint(u.leaf) {
		t.Fatalf("%s after extend on %s: %v", a.name, b.name, got)
	}
	if r := a.do(t, http.MethodPost, authenticatorPath(ClientBase, u.authID)+"/extend-verify", u.token, map[string]any{"clientCert": stringOf(r.data()["clientCert"])}); r.status != http.StatusOK {
		t.Fatalf("extend-verify on %s: %d %s", a.name, r.status, r.raw)
	}
	caughtUp(t, a, b)
	if got := storedAuthenticator(t, b, u.authID); got.GetFingerprint() != pki.Fingerprint(certs[0]) || got.GetUnverifiedFingerprint() != "" {
		t.Errorf("%s after extend-verify on %s: %v", b.name, a.name, got)
	}
}
