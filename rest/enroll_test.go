package rest

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/internal/trust"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

// enrollmentOf returns the identity's outstanding enrollment of method as
// rendered in identityDetail.enrollment.
func enrollmentOf(t *testing.T, e *testEnv, admin, identityID, method string) map[string]any {
	t.Helper()
	r := e.do(t, http.MethodGet, mgmt+"/identities/"+identityID, admin, nil)
	en, _ := dig(r.data(), "enrollment", method).(map[string]any)
	if en == nil {
		t.Fatalf("identity %s has no %s enrollment: %s", identityID, method, r.raw)
	}
	return en
}

// verifyEnrollmentJWT checks the JWT against this node's signing key and
// returns its claims.
func verifyEnrollmentJWT(t *testing.T, e *testEnv, raw string) *trust.EnrollmentClaims {
	t.Helper()
	claims := &trust.EnrollmentClaims{}
	_, err := jwt.ParseWithClaims(raw, claims, func(tok *jwt.Token) (any, error) {
		if tok.Header["kid"] != e.srv.cfg.Signer.KeyID {
			t.Errorf("kid %v, want %s", tok.Header["kid"], e.srv.cfg.Signer.KeyID)
		}
		return e.srv.cfg.Signer.Key.Public(), nil
	}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired())
	if err != nil {
		t.Fatalf("enrollment JWT does not verify: %v", err)
	}
	return claims
}

func TestOTTEnrollmentIssuesWorkingCertificateOnce(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "ott-device", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}})
	en := enrollmentOf(t, e, admin, id, "ott")
	claims := verifyEnrollmentJWT(t, e, en["jwt"].(string))
	if claims.EnrollmentMethod != "ott" || claims.ID != en["token"] || claims.Subject != id || claims.Issuer != e.url {
		t.Fatalf("claims: %+v", claims)
	}
	if len(claims.Controllers) != 1 || claims.Controllers[0] != e.url+ClientBase {
		t.Fatalf("ctrls: %v", claims.Controllers)
	}
	if exp := claims.ExpiresAt.Time; exp.Before(time.Now().Add(2*time.Hour)) || exp.After(time.Now().Add(4*time.Hour)) {
		t.Fatalf("default expiry %s, want about 3h from now", exp)
	}

	csr, _ := newCSR(t, "ott-device")
	r := e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": en["token"], "clientCsr": csr})
	if r.status != http.StatusOK {
		t.Fatalf("enroll: %d %s", r.status, r.raw)
	}
	certs, err := pki.ParseCertificatesPEM([]byte(r.data()["cert"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	bundle, err := pki.ParseCertificatesPEM([]byte(r.data()["ca"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	inters := x509.NewCertPool()
	for _, c := range bundle {
		if c.CheckSignatureFrom(c) == nil {
			roots.AddCert(c)
		} else {
			inters.AddCert(c)
		}
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("issued cert does not verify against the returned CA bundle: %v", err)
	}
	if got, ok := pki.IdentityIDFromCert(certs[0], ""); !ok || got != id {
		t.Fatalf("cert names identity %q", got)
	}
	ident := e.do(t, http.MethodGet, mgmt+"/identities/"+id, admin, nil).data()
	if dig(ident, "authenticators", "cert", "fingerprint") != pki.Fingerprint(certs[0]) {
		t.Fatalf("cert authenticator: %v", ident["authenticators"])
	}
	if len(ident["enrollment"].(map[string]any)) != 0 {
		t.Fatalf("enrollment not consumed: %v", ident["enrollment"])
	}
	auth := e.do(t, http.MethodGet, mgmt+"/authenticators/"+dig(ident, "authenticators", "cert", "id").(string), admin, nil).data()
	if auth["isIssuedByNetwork"] != true {
		t.Errorf("enrolled cert not marked as issued by the network: %v", auth)
	}

	csr2, _ := newCSR(t, "replay")
	wantError(t, "replayed token", e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": en["token"], "clientCsr": csr2}),
		http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
}

func TestUPDBEnrollment(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "updb-person", "type": "User", "isAdmin": false, "enrollment": map[string]any{"updb": "updb-person-login"}})
	en := enrollmentOf(t, e, admin, id, "updb")
	if c := verifyEnrollmentJWT(t, e, en["jwt"].(string)); c.EnrollmentMethod != "updb" {
		t.Fatalf("em %q", c.EnrollmentMethod)
	}
	path := ClientBase + "/enroll/updb?token=" + url.QueryEscape(en["token"].(string))
	wantError(t, "other username", e.do(t, http.MethodPost, path, "", map[string]any{"username": "someone-else", "password": "pw-12345"}), http.StatusBadRequest, api.CodeCouldNotValidate)
	wantError(t, "short password", e.do(t, http.MethodPost, path, "", map[string]any{"password": "1"}), http.StatusBadRequest, api.CodeCouldNotValidate)
	if r := e.do(t, http.MethodPost, path, "", map[string]any{"username": "updb-person-login", "password": "pw-12345"}); r.status != http.StatusOK {
		t.Fatalf("enroll updb: %d %s", r.status, r.raw)
	}
	if tok := e.login(t, ClientBase, "updb-person-login", "pw-12345"); tok == "" {
		t.Fatal("cannot log in with the enrolled password")
	}
	wantError(t, "replay", e.do(t, http.MethodPost, path, "", map[string]any{"password": "pw-67890"}), http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
}

func TestGenericEnrollWithPEMBody(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "generic-enroll", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}})
	tok := enrollmentOf(t, e, admin, id, "ott")["token"].(string)
	csr, _ := newCSR(t, "generic")
	pemBody := http.Header{"Content-Type": {"application/x-pem-file"}}
	// The method named in the query must be the enrollment's own.
	wrong := e.send(t, http.MethodPost, ClientBase+"/enroll?method=updb&token="+tok, "", csr, pemBody)
	if _, err := apispec.Check(wrong); err != nil {
		t.Errorf("spec: %v", err)
	}
	wantError(t, "wrong method", readResponse(t, wrong), http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	resp := e.send(t, http.MethodPost, ClientBase+"/enroll?method=ott&token="+tok, "", csr, pemBody)
	if _, err := apispec.Check(resp); err != nil {
		t.Errorf("spec: %v", err)
	}
	r := readResponse(t, resp)
	if r.status != http.StatusOK || !strings.Contains(r.data()["cert"].(string), "BEGIN CERTIFICATE") {
		t.Fatalf("generic enroll: %d %s", r.status, r.raw)
	}
	// A router token through /enroll?method=erott reaches router enrollment.
	routerID, routerTok := newRouterToken(t, e, "generic-router")
	client, server := routerCSRs(t, newKey(t), routerID)
	rr := e.do(t, http.MethodPost, ClientBase+"/enroll?method=erott&token="+routerTok, "", map[string]any{"certCsr": client, "serverCertCsr": server})
	if rr.status != http.StatusOK || rr.data()["serverCert"] == nil {
		t.Fatalf("generic erott enroll: %d %s", rr.status, rr.raw)
	}
	// method=ca without a client certificate is CA auto-enrollment refused.
	if ca := e.do(t, http.MethodPost, ClientBase+"/enroll?method=ca", "", map[string]any{}); ca.status < 400 || ca.status >= 500 {
		t.Fatalf("generic ca enroll without a certificate: %d %s", ca.status, ca.raw)
	}
}

func TestEnrollmentRefusalsStoreNothing(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "refused-device", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}})
	en := enrollmentOf(t, e, admin, id, "ott")
	tok := en["token"].(string)
	good, _ := newCSR(t, "ok")
	block, _ := pem.Decode([]byte(good))
	block.Bytes[len(block.Bytes)-2] ^= 0xff
	badSig := string(pem.EncodeToMemory(block))
	longCN, _ := newCSR(t, strings.Repeat("x", 129))
	cases := map[string]map[string]any{
		"bad signature":     {"token": tok, "clientCsr": badSig},
		"oversized subject": {"token": tok, "clientCsr": longCN},
		"garbage":           {"token": tok, "clientCsr": "hello"},
		"missing csr":       {"token": tok},
	}
	for name, body := range cases {
		want := api.CodeCouldNotProcessCSR
		if name == "missing csr" {
			want = api.CodeCouldNotValidate
		}
		wantError(t, name, e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", body), http.StatusBadRequest, want)
	}
	for name, tk := range map[string]string{"not a uuid": "abc", "unknown": uuid.NewString(), "empty": ""} {
		wantError(t, name, e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": tk, "clientCsr": good}),
			http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	}
	// A token of another method is refused by the method-specific endpoint.
	wantError(t, "ott token on updb", e.do(t, http.MethodPost, ClientBase+"/enroll/updb?token="+tok, "", map[string]any{"password": "pw-12345"}),
		http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	ident := e.do(t, http.MethodGet, mgmt+"/identities/"+id, admin, nil).data()
	if len(ident["authenticators"].(map[string]any)) != 0 {
		t.Fatalf("a refused enrollment stored an authenticator: %v", ident["authenticators"])
	}
	if dig(ident, "enrollment", "ott", "token") != tok {
		t.Fatalf("a refused enrollment consumed the token: %v", ident["enrollment"])
	}

	// Expired: written straight through Raft, since the API refuses past expiry.
	expired := newIdentity(t, e, map[string]any{"name": "expired-device", "type": "Device", "isAdmin": false})
	exTok := uuid.NewString()
	op, err := fsm.CreateOp(fsm.KindEnrollment, uuid.NewString(), &pb.Enrollment{Method: "ott", IdentityId: expired, Token: exTok,
		ExpiresAt: time.Now().Add(-time.Minute).UnixNano()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, _, err := e.node.Apply(ctx, &pb.Command{RequestId: "expired-enrollment", Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{op}}); err != nil {
		t.Fatal(err)
	}
	wantError(t, "expired", e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": exTok, "clientCsr": good}),
		http.StatusBadRequest, api.CodeEnrollmentExpired)
}

// Many concurrent enrollments with one token: exactly one wins.
func TestConcurrentEnrollmentsOfOneToken(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "raced-device", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ott": true}})
	tok := enrollmentOf(t, e, admin, id, "ott")["token"].(string)
	const n = 8
	csrs := make([]string, n)
	for i := range csrs {
		csrs[i], _ = newCSR(t, "racer")
	}
	var wg sync.WaitGroup
	statuses := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp := e.send(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": tok, "clientCsr": csrs[i]}, nil)
			statuses[i] = resp.StatusCode
			resp.Body.Close()
		}()
	}
	wg.Wait()
	ok := 0
	for _, s := range statuses {
		switch s {
		case http.StatusOK:
			ok++
		case http.StatusBadRequest:
		default:
			t.Errorf("unexpected status %d", s)
		}
	}
	if ok != 1 {
		t.Fatalf("%d of %d racing enrollments succeeded (%v), want exactly 1", ok, n, statuses)
	}
}

func TestEnrollmentsManagement(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "mgmt-enrollee", "type": "Device", "isAdmin": false})
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	r := e.do(t, http.MethodPost, mgmt+"/enrollments", admin, map[string]any{"method": "ott", "identityId": id, "expiresAt": exp})
	if r.status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	enID := r.data()["id"].(string)
	wantError(t, "second ott", e.do(t, http.MethodPost, mgmt+"/enrollments", admin, map[string]any{"method": "ott", "identityId": id, "expiresAt": exp}),
		http.StatusBadRequest, api.CodeCouldNotValidate)
	for name, body := range map[string]map[string]any{
		"past expiry":      {"method": "ott", "identityId": id, "expiresAt": "2001-01-01T00:00:00Z"},
		"far future":       {"method": "ott", "identityId": id, "expiresAt": "3000-01-01T00:00:00Z"},
		"bad method":       {"method": "erott", "identityId": id, "expiresAt": exp},
		"unknown identity": {"method": "ott", "identityId": "nope", "expiresAt": exp},
		"ottca without ca": {"method": "ottca", "identityId": id, "expiresAt": exp},
		"updb short name":  {"method": "updb", "identityId": id, "expiresAt": exp, "username": "ab"},
		"bad time":         {"method": "ott", "identityId": id, "expiresAt": "tomorrow"},
	} {
		wantError(t, name, e.do(t, http.MethodPost, mgmt+"/enrollments", admin, body), http.StatusBadRequest, api.CodeCouldNotValidate)
	}
	g := e.do(t, http.MethodGet, mgmt+"/enrollments/"+enID, admin, nil).data()
	oldTok := g["token"].(string)
	if g["method"] != "ott" || g["identityId"] != id || dig(g, "identity", "name") != "mgmt-enrollee" {
		t.Fatalf("get: %v", g)
	}
	l := e.do(t, http.MethodGet, mgmt+"/enrollments?filter="+url.QueryEscape(`identityId = "`+id+`"`), admin, nil)
	if len(l.list()) != 1 {
		t.Fatalf("filtered list: %s", l.raw)
	}
	if l := e.do(t, http.MethodGet, mgmt+"/identities/"+id+"/enrollments", admin, nil); len(l.list()) != 1 {
		t.Fatalf("identity enrollments: %s", l.raw)
	}
	// Refresh: new token and expiry, the old token stops working.
	later := time.Now().Add(5 * time.Hour).UTC().Format(time.RFC3339)
	if r := e.do(t, http.MethodPost, mgmt+"/enrollments/"+enID+"/refresh", admin, map[string]any{"expiresAt": later}); r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	g = e.do(t, http.MethodGet, mgmt+"/enrollments/"+enID, admin, nil).data()
	if g["token"] == oldTok || !strings.HasPrefix(g["expiresAt"].(string), later[:16]) {
		t.Fatalf("refresh did not renew: %v", g)
	}
	csr, _ := newCSR(t, "mgmt")
	wantError(t, "old token after refresh", e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": oldTok, "clientCsr": csr}),
		http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	if r := e.do(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": g["token"], "clientCsr": csr}); r.status != http.StatusOK {
		t.Fatalf("enroll with refreshed token: %d %s", r.status, r.raw)
	}
	// Re-enroll the certificate: the authenticator is deleted, an ott
	// enrollment takes its place.
	authID := dig(e.do(t, http.MethodGet, mgmt+"/identities/"+id, admin, nil).data(), "authenticators", "cert", "id").(string)
	r = e.do(t, http.MethodPost, mgmt+"/authenticators/"+authID+"/re-enroll", admin, map[string]any{"expiresAt": exp})
	if r.status != http.StatusCreated {
		t.Fatalf("re-enroll: %d %s", r.status, r.raw)
	}
	newEn := e.do(t, http.MethodGet, mgmt+"/enrollments/"+r.data()["id"].(string), admin, nil).data()
	if newEn["method"] != "ott" || newEn["identityId"] != id {
		t.Fatalf("re-enrollment: %v", newEn)
	}
	wantError(t, "re-enrolled authenticator", e.do(t, http.MethodGet, mgmt+"/authenticators/"+authID, admin, nil), http.StatusNotFound, api.CodeNotFound)
	if r := e.do(t, http.MethodDelete, mgmt+"/enrollments/"+newEn["id"].(string), admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	wantError(t, "deleted", e.do(t, http.MethodGet, mgmt+"/enrollments/"+newEn["id"].(string), admin, nil), http.StatusNotFound, api.CodeNotFound)
	// Non-admins see nothing.
	wantError(t, "non-admin", e.do(t, http.MethodGet, mgmt+"/enrollments", e.userToken(t), nil), http.StatusUnauthorized, api.CodeUnauthorized)
}

// ottca: the identity exists first; its enrollment names a verified CA, and
// the client presents a certificate that CA issued, which then logs in.
func TestOTTCAEnrollment(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	ca := newThirdPartyCA(t)
	caID := createCA(t, e, ca, nil)
	id := newIdentity(t, e, map[string]any{"name": "ottca-device", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ottca": caID}})
	en := enrollmentOf(t, e, admin, id, "ottca")
	if en["caId"] != caID || dig(en, "ca", "id") != caID {
		t.Fatalf("ottca enrollment: %v", en)
	}
	if c := verifyEnrollmentJWT(t, e, en["jwt"].(string)); c.EnrollmentMethod != "ottca" || c.CA != caID {
		t.Fatalf("claims: %+v", c)
	}
	good := issueClientCert(t, ca, "ottca-device")
	body := map[string]any{"token": en["token"]}
	wantError(t, "CA not verified yet", e.withClientCert(&good).do(t, http.MethodPost, ClientBase+"/enroll/ottca", "", body),
		http.StatusBadRequest, api.CodeCouldNotValidate)
	verifyCA(t, e, caID, ca)
	other := issueClientCert(t, newThirdPartyCA(t), "ottca-device")
	wantError(t, "certificate of another CA", e.withClientCert(&other).do(t, http.MethodPost, ClientBase+"/enroll/ottca", "", body),
		http.StatusBadRequest, api.CodeCouldNotValidate)
	wantError(t, "no certificate", e.do(t, http.MethodPost, ClientBase+"/enroll/ottca", "", body), http.StatusBadRequest, api.CodeCouldNotValidate)
	if n := len(e.authenticatorsOfCA(t, caID)); n != 0 {
		t.Fatalf("refused ottca enrollments stored %d authenticators", n)
	}
	if r := e.withClientCert(&good).do(t, http.MethodPost, ClientBase+"/enroll/ottca", "", body); r.status != http.StatusOK {
		t.Fatalf("ottca enroll: %d %s", r.status, r.raw)
	}
	if n := len(e.authenticatorsOfCA(t, caID)); n != 1 {
		t.Fatalf("ottca enrollment stored %d authenticators of the CA, want 1", n)
	}
	tok, _ := e.wantCertLogin(t, &good)
	e.wantIdentityName(t, tok, "ottca-device")
	wantError(t, "replay", e.withClientCert(&good).do(t, http.MethodPost, ClientBase+"/enroll/ottca", "", body),
		http.StatusBadRequest, api.CodeInvalidEnrollmentToken)
	// Re-enrolling it makes an ottca enrollment, which the CA must allow.
	if r := e.do(t, http.MethodPatch, mgmt+"/cas/"+caID, admin, map[string]any{"isOttCaEnrollmentEnabled": false}); r.status != http.StatusOK {
		t.Fatalf("patch CA: %d %s", r.status, r.raw)
	}
	authID := e.authenticatorsOfCA(t, caID)[0]
	exp := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
	wantError(t, "re-enroll under a CA refusing ottca", e.doUnchecked(t, http.MethodPost, mgmt+"/authenticators/"+authID+"/re-enroll", admin, map[string]any{"expiresAt": exp}),
		http.StatusConflict, api.CodeConflict)
	if n := len(e.authenticatorsOfCA(t, caID)); n != 1 {
		t.Fatalf("the refused re-enroll deleted the authenticator: %d left", n)
	}
}

// A request that looked its token up before an admin refreshed the
// enrollment must not consume it afterwards.
func TestRefreshRevokesTokenAlreadyLookedUp(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": "refresh-race", "type": "User", "isAdmin": false, "enrollment": map[string]any{"updb": "refresh-race-login"}})
	en := enrollmentOf(t, e, admin, id, "updb")
	req := httptest.NewRequest(http.MethodPost, ClientBase+"/enroll/updb", nil)
	rec, _, aerr := e.srv.enrollmentByToken(req, en["token"].(string))
	if aerr != nil {
		t.Fatal(aerr)
	}
	later := time.Now().Add(5 * time.Hour).UTC().Format(time.RFC3339)
	if r := e.do(t, http.MethodPost, mgmt+"/enrollments/"+en["id"].(string)+"/refresh", admin, map[string]any{"expiresAt": later}); r.status != http.StatusOK {
		t.Fatalf("refresh: %d %s", r.status, r.raw)
	}
	hash, err := edge.HashPassword("attacker-pw-1")
	if err != nil {
		t.Fatal(err)
	}
	op, err := fsm.CreateOp(fsm.KindAuthenticator, uuid.NewString(), &pb.Authenticator{IdentityId: id, Method: "updb", Username: "refresh-race-login", PasswordHash: hash}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if aerr := e.srv.consume(req, rec, op); aerr == nil || aerr.Code != api.CodeInvalidEnrollmentToken {
		t.Fatalf("consume with the token replaced by refresh: %v", aerr)
	}
	if got := e.do(t, http.MethodGet, mgmt+"/identities/"+id, admin, nil).data(); len(got["authenticators"].(map[string]any)) != 0 {
		t.Fatalf("the revoked token created a credential: %v", got["authenticators"])
	}
}

// Over-long indexed values answer 400 and the node keeps serving: before
// the store bounded index keys, such a value stopped every node.
func TestOverlongNamesAreRefused(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	long := strings.Repeat("n", 40000)
	for path, body := range map[string]map[string]any{
		"/identities":   {"name": long, "type": "User", "isAdmin": false},
		"/edge-routers": {"name": "router-with-long-role", "roleAttributes": []string{long}},
	} {
		wantError(t, path, e.do(t, http.MethodPost, mgmt+path, admin, body), http.StatusBadRequest, api.CodeCouldNotValidate)
	}
	if r := e.do(t, http.MethodGet, mgmt+"/identities?limit=1", admin, nil); r.status != http.StatusOK {
		t.Fatalf("node after over-long writes: %d", r.status)
	}
}
