package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	httptransport "github.com/go-openapi/runtime/client"
	"github.com/golang-jwt/jwt/v5"
	"github.com/openziti/edge-api/rest_management_api_client"
	"github.com/openziti/edge-api/rest_management_api_client/authentication"
	"github.com/openziti/edge-api/rest_management_api_client/identity"
	"github.com/openziti/edge-api/rest_model"
	edge_apis "github.com/openziti/sdk-golang/edge-apis"
	"github.com/openziti/sdk-golang/ziti"
	"github.com/openziti/sdk-golang/ziti/enroll"
	"github.com/sirupsen/logrus"

	"github.com/garrison-ctrl/garrison/internal/benchkit"
	"github.com/garrison-ctrl/garrison/pki"
)

// The official OpenZiti Go SDK (github.com/openziti/sdk-golang) and its
// generated API clients (github.com/openziti/edge-api) against real
// clusters, through HAProxy and through each node. Only these tests import
// them.

// The SDK logs every key it generates at info level.
func init() { logrus.SetLevel(logrus.WarnLevel) }

// newEnrollment creates an identity through base with an ott or updb
// enrollment and returns its id and enrollment JWT.
func newEnrollment(t *testing.T, c *Cluster, base, admin, name, method string) (string, string) {
	t.Helper()
	enr := map[string]any{"ott": true}
	if method == "updb" {
		enr = map[string]any{"updb": name}
	}
	r := c.do("POST", base+"/edge/management/v1/identities", admin, map[string]any{"name": name, "type": "User", "isAdmin": false, "enrollment": enr}, true)
	if r.Status != http.StatusCreated {
		t.Fatalf("create %s through %s: %d %v", name, base, r.Status, r.Body)
	}
	id, _ := dig(r.Body, "data", "id").(string)
	// Read at once, through the same base: linearizable reads make a retry
	// loop unnecessary.
	g := c.do("GET", base+"/edge/management/v1/identities/"+id, admin, nil, true)
	jwtText, _ := dig(g.Body, "data", "enrollment", method, "jwt").(string)
	if jwtText == "" {
		t.Fatalf("no %s JWT in the identity read back through %s: %d %v", method, base, g.Status, g.Body)
	}
	return id, jwtText
}

// sdkEnroll checks the JWT the SDK's way (enroll.ParseToken: the signature
// against the key of the certificate the server at iss presents) and
// enrolls with enroll.Enroll.
func sdkEnroll(jwtText, password string) (*ziti.Config, *ziti.EnrollmentClaims, error) {
	claims, tok, err := enroll.ParseToken(jwtText)
	if err != nil {
		return nil, nil, fmt.Errorf("SDK refuses the JWT: %w", err)
	}
	flags := enroll.EnrollmentFlags{Token: claims, JwtToken: tok, JwtString: jwtText, Password: password}
	if err := flags.KeyAlg.Set("EC"); err != nil {
		return nil, nil, err
	}
	cfg, err := enroll.Enroll(flags)
	if err != nil {
		return nil, nil, fmt.Errorf("SDK enrollment: %w", err)
	}
	return cfg, claims, nil
}

// sdkLogin logs in with cfg at ztAPI (an Edge Client API URL) and checks
// that the SDK sees identity name and, as its policies say, the services
// in want (name → permissions; none if nil).
func sdkLogin(t *testing.T, cfg *ziti.Config, ztAPI, name string, want ...map[string]string) {
	t.Helper()
	c := *cfg
	c.ZtAPI, c.ZtAPIs = ztAPI, nil
	ctx, err := ziti.NewContext(&c)
	if err != nil {
		t.Fatalf("NewContext(%s): %v", ztAPI, err)
	}
	defer ctx.Close()
	if err := ctx.Authenticate(); err != nil {
		t.Fatalf("%s logs in at %s: %v", name, ztAPI, err)
	}
	ident, err := ctx.GetCurrentIdentity()
	if err != nil || ident.Name == nil || *ident.Name != name {
		t.Fatalf("current identity at %s: %v %+v", ztAPI, err, ident)
	}
	oidcRefresh(t, ctx, ztAPI)
	services, err := ctx.GetServices()
	if err != nil {
		t.Fatalf("services at %s: %v", ztAPI, err)
	}
	got := map[string]string{}
	for _, svc := range services {
		var perms []string
		for _, p := range svc.Permissions {
			perms = append(perms, string(p))
		}
		slices.Sort(perms)
		got[*svc.Name] = strings.Join(perms, ",")
	}
	expect := map[string]string{}
	if len(want) > 0 {
		expect = want[0]
	}
	if !maps.Equal(got, expect) {
		t.Fatalf("%s's services at %s: %v, want %v", name, ztAPI, got, expect)
	}
}

// oidcRefresh checks that the SDK logged in through /oidc (Garrison
// advertises OIDC_AUTH, so it prefers it) and refreshes its tokens the
// SDK's way (a token exchange of its refresh token), through whichever
// node the API URL reaches.
func oidcRefresh(t *testing.T, ctx ziti.Context, ztAPI string) {
	t.Helper()
	impl := ctx.(*ziti.ContextImpl)
	sess := impl.CtrlClt.GetCurrentApiSession()
	if sess == nil || sess.GetType() != edge_apis.ApiSessionTypeOidc {
		t.Fatalf("the SDK did not log in through OIDC at %s: %v", ztAPI, sess)
	}
	before := string(sess.GetToken())
	if err, fatal := impl.RefreshApiSession(); err != nil || fatal != nil {
		t.Fatalf("SDK token refresh at %s: %v %v", ztAPI, err, fatal)
	}
	if after := string(impl.CtrlClt.GetCurrentApiSession().GetToken()); after == "" || after == before {
		t.Fatalf("the refresh at %s gave no new access token", ztAPI)
	}
}

// verifyWithEveryNode checks the JWT with the key of the certificate each
// node presents, the SDK's own check (enroll.FetchServerCert), so that it
// verifies whichever node a load balancer sends the client to.
func verifyWithEveryNode(t *testing.T, c *Cluster, jwtText string) {
	t.Helper()
	for _, n := range c.Nodes {
		cert, err := enroll.FetchServerCert(n.URL())
		if err != nil {
			t.Fatalf("certificate of %s: %v", n.Name, err)
		}
		if _, err := jwt.Parse(jwtText, func(*jwt.Token) (any, error) { return cert.PublicKey, nil }); err != nil {
			t.Fatalf("JWT does not verify with the certificate %s presents: %v", n.Name, err)
		}
	}
}

func clientAPI(base string) string { return base + "/edge/client/v1" }

// verifiedThirdPartyCA registers a new root CA with the cluster (ottca
// enrollment and certificate login allowed) and proves control of its key.
func verifiedThirdPartyCA(t *testing.T, c *Cluster, admin string) (*pki.CA, string) {
	t.Helper()
	ca, err := pki.NewRootCA("sdk third party", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := c.do("POST", c.LBURL+"/edge/management/v1/cas", admin, map[string]any{
		"name": "sdk-third-party", "certPem": string(pki.EncodeCertificatesPEM(ca.Cert)), "identityRoles": []string{},
		"isAutoCaEnrollmentEnabled": true, "isOttCaEnrollmentEnabled": true, "isAuthEnabled": true,
	}, true)
	if r.Status != http.StatusCreated {
		t.Fatalf("create CA: %d %v", r.Status, r.Body)
	}
	id, _ := dig(r.Body, "data", "id").(string)
	g := c.do("GET", c.LBURL+"/edge/management/v1/cas/"+id, admin, nil, true)
	token, _ := dig(g.Body, "data", "verificationToken").(string)
	certPEM, _ := issueThirdPartyCert(t, ca, token)
	req, _ := http.NewRequest("POST", c.LBURL+"/edge/management/v1/cas/"+id+"/verify", strings.NewReader(string(certPEM)))
	req.Header.Set("Content-Type", "text/plain")
	req.Header.Set("zt-session", admin)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("verify CA: %d %s", resp.StatusCode, raw)
	}
	return ca, id
}

// issueThirdPartyCert has ca sign a client certificate named cn for a new
// key; it returns both in PEM.
func issueThirdPartyCert(t *testing.T, ca *pki.CA, cn string) ([]byte, []byte) {
	t.Helper()
	csrPEM, key := newCSR(t, cn)
	csr, err := pki.ParseCSR([]byte(csrPEM))
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.SignClientCSR(pki.ClientCertRequest{CSR: csr, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := pki.EncodePrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	return pki.EncodeCertificatesPEM(leaf), keyPEM
}

// writeClientCert writes a client certificate from ca and its key to files,
// as an SDK user holds them.
func writeClientCert(t *testing.T, ca *pki.CA, cn string) (string, string) {
	t.Helper()
	certPEM, keyPEM := issueThirdPartyCert(t, ca, cn)
	dir := t.TempDir()
	certFile, keyFile := dir+"/"+cn+".pem", dir+"/"+cn+".key"
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// Identities minted through HAProxy and through each node enroll with the
// SDK through HAProxy (the JWT's issuer, node.yml publicUrl) and then log
// in with the SDK through HAProxy and through every node, by certificate
// and by password. Then the minting node is killed: its JWTs still verify
// and enroll through HAProxy.
func TestSDKEnrollsAndLogsInThroughLoadBalancer(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	admin := c.Login(c.LBURL)
	bases := []string{c.LBURL}
	for _, n := range c.Nodes {
		bases = append(bases, n.URL())
	}
	enrolled := map[string]*ziti.Config{}
	ids := map[string]string{}
	for i, base := range bases {
		for _, method := range []string{"ott", "updb"} {
			name := fmt.Sprintf("sdk-%s-%d", method, i)
			id, jwtText := newEnrollment(t, c, base, admin, name, method)
			ids[name] = id
			verifyWithEveryNode(t, c, jwtText)
			cfg, claims, err := sdkEnroll(jwtText, name+"-password")
			if err != nil {
				t.Fatalf("%s minted through %s: %v", name, base, err)
			}
			if claims.Issuer != c.LBURL {
				t.Fatalf("JWT issuer %q, want the load balancer %q", claims.Issuer, c.LBURL)
			}
			for _, login := range bases {
				sdkLogin(t, cfg, clientAPI(login), name)
			}
			enrolled[name] = cfg
		}
	}

	// A policy lets one of them dial a service and another bind it; the
	// SDK lists exactly that, on every node, at once.
	st, svc, _ := c.Do("POST", c.Nodes[2].URL()+"/edge/management/v1/services", admin, map[string]any{"name": "sdk-web", "encryptionRequired": true, "roleAttributes": []string{"sdk"}})
	if st != http.StatusCreated {
		t.Fatalf("create service: %d %v", st, svc)
	}
	for name, typ := range map[string]string{"sdk-ott-0": "Dial", "sdk-updb-1": "Bind"} {
		st, body, _ := c.Do("POST", c.Nodes[1].URL()+"/edge/management/v1/service-policies", admin, map[string]any{
			"name": "sdk-" + typ, "type": typ, "semantic": "AnyOf", "identityRoles": []string{"@" + ids[name]}, "serviceRoles": []string{"#sdk"}})
		if st != http.StatusCreated {
			t.Fatalf("create policy: %d %v", st, body)
		}
	}
	// With a router both the identity's and the service's router policies
	// allow, the SDK gets a Dial session (the Bind-only identity cannot).
	for path, body := range map[string]map[string]any{
		"/edge-routers":                 {"name": "sdk-er", "roleAttributes": []string{"sdk"}},
		"/edge-router-policies":         {"name": "sdk-erp", "semantic": "AnyOf", "identityRoles": []string{"#all"}, "edgeRouterRoles": []string{"#sdk"}},
		"/service-edge-router-policies": {"name": "sdk-serp", "semantic": "AnyOf", "serviceRoles": []string{"#sdk"}, "edgeRouterRoles": []string{"#sdk"}},
	} {
		if st, b, _ := c.Do("POST", c.LBURL+"/edge/management/v1"+path, admin, body); st != http.StatusCreated {
			t.Fatalf("create %s: %d %v", path, st, b)
		}
	}
	serviceID, _ := dig(svc, "data", "id").(string)
	for name, wantOK := range map[string]bool{"sdk-ott-0": true, "sdk-updb-1": false} {
		cfg := *enrolled[name]
		cfg.ZtAPI, cfg.ZtAPIs = clientAPI(c.LBURL), nil
		ctx, err := ziti.NewContext(&cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := ctx.Authenticate(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		sess, err := ctx.GetSession(serviceID)
		if wantOK && (err != nil || sess.Token == nil || len(sess.EdgeRouters) != 1) {
			t.Fatalf("%s's Dial session: %v %+v", name, err, sess)
		}
		if !wantOK && err == nil {
			t.Fatalf("%s, which may only bind, got a Dial session", name)
		}
		ctx.Close()
	}
	for _, login := range bases {
		sdkLogin(t, enrolled["sdk-ott-0"], clientAPI(login), "sdk-ott-0", map[string]string{"sdk-web": "Dial"})
		sdkLogin(t, enrolled["sdk-updb-1"], clientAPI(login), "sdk-updb-1", map[string]string{"sdk-web": "Bind"})
		sdkLogin(t, enrolled["sdk-ott-1"], clientAPI(login), "sdk-ott-1")
	}

	// ottca: a certificate from a verified third-party CA, enrolled by the
	// SDK with the JWT minted through a node; and the CA's own JWT.
	thirdParty, caID := verifiedThirdPartyCA(t, c, admin)
	r := c.do("POST", c.Nodes[1].URL()+"/edge/management/v1/identities", admin,
		map[string]any{"name": "sdk-ottca", "type": "Device", "isAdmin": false, "enrollment": map[string]any{"ottca": caID}}, true)
	if r.Status != http.StatusCreated {
		t.Fatalf("identity with ottca: %d %v", r.Status, r.Body)
	}
	g := c.do("GET", c.Nodes[1].URL()+"/edge/management/v1/identities/"+dig(r.Body, "data", "id").(string), admin, nil, true)
	ottcaJWT, _ := dig(g.Body, "data", "enrollment", "ottca", "jwt").(string)
	verifyWithEveryNode(t, c, ottcaJWT)
	certFile, keyFile := writeClientCert(t, thirdParty, "sdk-ottca-device")
	claims, tok, err := enroll.ParseToken(ottcaJWT)
	if err != nil {
		t.Fatalf("SDK refuses the ottca JWT: %v", err)
	}
	flags := enroll.EnrollmentFlags{Token: claims, JwtToken: tok, JwtString: ottcaJWT, CertFile: certFile, KeyFile: keyFile}
	cfg, err := enroll.Enroll(flags)
	if err != nil {
		t.Fatalf("SDK ottca enrollment: %v", err)
	}
	sdkLogin(t, cfg, clientAPI(c.LBURL), "sdk-ottca")
	st, caJWT, err := rawDo(c.http, "GET", c.LBURL+"/edge/management/v1/cas/"+caID+"/jwt", admin, nil)
	if err != nil || st != http.StatusOK {
		t.Fatalf("CA JWT: %d %v %s", st, err, caJWT)
	}
	verifyWithEveryNode(t, c, string(caJWT))

	sdkTotp(t, c, admin, enrolled["sdk-ott-1"], ids["sdk-ott-1"])

	// The minting node goes down; its JWTs still verify and enroll
	// through HAProxy, and the identities log in there.
	minter := c.Nodes[0]
	type pending struct{ name, method, jwt string }
	var todo []pending
	for _, method := range []string{"ott", "updb"} {
		name := "sdk-orphan-" + method
		_, jwtText := newEnrollment(t, c, minter.URL(), admin, name, method)
		todo = append(todo, pending{name, method, jwtText})
	}
	minter.Kill9()
	for _, p := range todo {
		cfg, _, err := sdkEnroll(p.jwt, p.name+"-password")
		if err != nil {
			t.Fatalf("%s after its minting node died: %v", p.name, err)
		}
		sdkLogin(t, cfg, clientAPI(c.LBURL), p.name)
	}
}

// Without a load balancer the JWT's issuer is the minting node's URL; the
// SDK verifies it there (every node presents the same API certificate)
// and the identity logs in through every node.
func TestSDKEnrollsThroughNodeURLs(t *testing.T) {
	c := newCluster(t, clusterOptions{noHAProxy: true})
	admin := c.Login(c.Nodes[0].URL())
	for i, n := range c.Nodes {
		name := fmt.Sprintf("sdk-node-%d", i)
		_, jwtText := newEnrollment(t, c, n.URL(), admin, name, "ott")
		verifyWithEveryNode(t, c, jwtText)
		cfg, claims, err := sdkEnroll(jwtText, "")
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if claims.Issuer != n.URL() {
			t.Fatalf("JWT issuer %q, want %q", claims.Issuer, n.URL())
		}
		for _, login := range c.Nodes {
			sdkLogin(t, cfg, clientAPI(login.URL()), name)
		}
	}
}

// zitiLogin does what `ziti edge login URL` does (ziti/cmd/edge/login.go):
// the trust bundle from the host root, the management API's path from
// its version answer, then a password login with the SDK's management
// client (edge_apis), which also reads the version, and a list with it.
func zitiLogin(t *testing.T, c *Cluster, base string) {
	t.Helper()
	resp, err := c.http.Get(base + "/.well-known/est/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\n", ""))
	if resp.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("trust bundle at the root: %d %v", resp.StatusCode, err)
	}
	certs, err := pki.DecodePKCS7Certs(der)
	if err != nil || len(certs) == 0 {
		t.Fatalf("trust bundle: %v", err)
	}
	pool := x509.NewCertPool()
	for _, cert := range certs {
		pool.AddCert(cert)
	}
	st, body, _ := c.Do("GET", base+"/edge/management/v1/version", "", nil)
	mgmtPath, _ := dig(body, "data", "apiVersions", "edge-management", "v1", "path").(string)
	if st != http.StatusOK || mgmtPath != "/edge/management/v1" {
		t.Fatalf("management API path from the version: %d %v", st, body)
	}
	u, err := url.Parse(base + mgmtPath)
	if err != nil {
		t.Fatal(err)
	}
	client := edge_apis.NewManagementApiClient([]*url.URL{u}, pool, nil)
	if _, err := client.Authenticate(edge_apis.NewUpdbCredentials(adminUser, adminPassword), nil); err != nil {
		t.Fatalf("SDK management login at %s: %v", u, err)
	}
	list, err := client.API.Identity.ListIdentities(identity.NewListIdentitiesParams(), client)
	if err != nil || len(list.Payload.Data) == 0 {
		t.Fatalf("list identities with the SDK's management client: %v", err)
	}
}

// managementClient is the generated Edge Management API client over
// base, opening a new connection (and TLS handshake) for every request,
// as clients behind a load balancer that does not keep them do.
func managementClient(t *testing.T, c *Cluster, base string) (*rest_management_api_client.ZitiEdgeManagement, *httptransport.Runtime) {
	t.Helper()
	caPEM, err := os.ReadFile(c.caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	httpClient := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
	}}
	host := strings.TrimPrefix(base, "https://")
	rt := httptransport.NewWithClient(host, rest_management_api_client.DefaultBasePath, []string{"https"}, httpClient)
	return rest_management_api_client.New(rt, nil), rt
}

// The generated management client logs in, creates, reads, filters,
// patches and deletes identities through HAProxy, a new connection for
// every request, and never sees a write it was told succeeded missing.
func TestManagementClientThroughLoadBalancer(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	zitiLogin(t, c, c.LBURL)
	mc, rt := managementClient(t, c, c.LBURL)
	login, err := mc.Authentication.Authenticate(authentication.NewAuthenticateParams().WithMethod("password").
		WithAuth(&rest_model.Authenticate{Username: adminUser, Password: adminPassword}))
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	auth := httptransport.APIKeyAuth("zt-session", "header", *login.Payload.Data.Token)
	rt.DefaultAuthentication = auth
	for i := range 15 {
		name := fmt.Sprintf("gen-%d", i)
		typ := rest_model.IdentityTypeDefault
		created, err := mc.Identity.CreateIdentity(identity.NewCreateIdentityParams().WithIdentity(&rest_model.IdentityCreate{
			Name: &name, Type: &typ, IsAdmin: new(bool), RoleAttributes: &rest_model.Attributes{"generated"},
		}), nil)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		id := created.Payload.Data.ID
		detail, err := mc.Identity.DetailIdentity(identity.NewDetailIdentityParams().WithID(id), nil)
		if err != nil || *detail.Payload.Data.Name != name {
			t.Fatalf("read %s right after creating it: %v", name, err)
		}
		filter := fmt.Sprintf(`name = "%s" and anyOf(roleAttributes) = "generated"`, name)
		list, err := mc.Identity.ListIdentities(identity.NewListIdentitiesParams().WithFilter(&filter), nil)
		if err != nil || len(list.Payload.Data) != 1 || *list.Payload.Meta.Pagination.TotalCount != 1 {
			t.Fatalf("filter for %s right after creating it: %v", name, err)
		}
		renamed := name + "-patched"
		if _, err := mc.Identity.PatchIdentity(identity.NewPatchIdentityParams().WithID(id).WithIdentity(&rest_model.IdentityPatch{Name: &renamed}), nil); err != nil {
			t.Fatalf("patch %s: %v", name, err)
		}
		detail, err = mc.Identity.DetailIdentity(identity.NewDetailIdentityParams().WithID(id), nil)
		if err != nil || *detail.Payload.Data.Name != renamed {
			t.Fatalf("read %s right after patching it: %v", name, err)
		}
		if _, err := mc.Identity.DeleteIdentity(identity.NewDeleteIdentityParams().WithID(id), nil); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
		_, err = mc.Identity.DetailIdentity(identity.NewDetailIdentityParams().WithID(id), nil)
		var notFound *identity.DetailIdentityNotFound
		if !errors.As(err, &notFound) {
			t.Fatalf("read %s right after deleting it: %v, want 404", name, err)
		}
	}
}

// BenchmarkSDKEnrollment measures enrollments by the official Go SDK
// through HAProxy: four concurrent clients each run enroll.ParseToken
// (which fetches the certificate presented at the JWT's issuer, the load
// balancer, over a new TLS connection, and checks the signature with it)
// and enroll.Enroll (the trust bundle, a P-384 key, a CSR, POST /enroll) for
// an ott JWT minted beforehand (not timed).
//
//	GARRISON_BIN=$PWD/bin/garrison go test -run '^$' -bench BenchmarkSDKEnrollment -benchtime 200x -timeout 30m ./e2e/
func BenchmarkSDKEnrollment(b *testing.B) {
	skipShortBench(b)
	benchkit.AsTest(b, func(t *testing.T) {
		c := newCluster(t, clusterOptions{})
		admin := c.Login(c.LBURL)
		seq := 0
		b.Run("through=haproxy", func(b *testing.B) {
			jwts := make([]string, b.N)
			for i := range jwts {
				seq++
				_, jwts[i] = newEnrollment(t, c, c.LBURL, admin, fmt.Sprintf("bench-sdk-%d", seq), "ott")
			}
			res := benchkit.Run(b, 4, func(k int64) (time.Duration, error) {
				start := time.Now()
				if _, _, err := sdkEnroll(jwts[k], ""); err != nil {
					return 0, err
				}
				return time.Since(start), nil
			})
			if res.Err != nil {
				b.Errorf("%d of %d enrollments failed; first: %v", res.Failed, b.N, res.Err)
				return
			}
			res.Report(b, "enrollments/s")
		})
	})
}

// sdkTotp: the SDK enrolls its identity in TOTP MFA and verifies it; the
// identity's auth policy then requires TOTP, and the SDK's next login
// answers the TOTP query from its listener and ends fully authenticated,
// through the load balancer and through a node.
func sdkTotp(t *testing.T, c *Cluster, admin string, cfg *ziti.Config, identityID string) {
	t.Helper()
	newCtx := func(base string) ziti.Context {
		conf := *cfg
		conf.ZtAPI, conf.ZtAPIs = clientAPI(base), nil
		ctx, err := ziti.NewContext(&conf)
		if err != nil {
			t.Fatal(err)
		}
		return ctx
	}
	ctx := newCtx(c.LBURL)
	defer ctx.Close()
	if err := ctx.Authenticate(); err != nil {
		t.Fatalf("login before MFA: %v", err)
	}
	detail, err := ctx.EnrollZitiMfa()
	if err != nil || detail.ProvisioningURL == "" {
		t.Fatalf("SDK MFA enrollment: %v %+v", err, detail)
	}
	code := totpCodes(t, detail.ProvisioningURL)
	if err := ctx.VerifyZitiMfa(code(-1)); err != nil {
		t.Fatalf("SDK MFA verification: %v", err)
	}
	policy := c.createThrough(t, admin, "/auth-policies", authPolicy("sdk-totp", 0, true))
	if st, body, _ := c.Do("PATCH", c.LBURL+"/edge/management/v1/identities/"+identityID, admin, map[string]any{"authPolicyId": policy}); st != http.StatusOK {
		t.Fatalf("set the policy: %d %v", st, body)
	}
	for i, base := range []string{c.LBURL, c.Nodes[1].URL()} {
		ctx := newCtx(base)
		asked := 0
		ctx.Events().AddMfaTotpCodeListener(func(_ ziti.Context, q *rest_model.AuthQueryDetail, answer ziti.MfaCodeResponse) {
			asked++
			if err := answer(code(i)); err != nil {
				t.Errorf("answering the TOTP query at %s: %v", base, err)
			}
		})
		if err := ctx.Authenticate(); err != nil {
			t.Fatalf("login with MFA at %s: %v", base, err)
		}
		if asked != 1 {
			t.Fatalf("the SDK was asked for a TOTP code %d times at %s", asked, base)
		}
		oidcRefresh(t, ctx, base)
		if _, err := ctx.GetServices(); err != nil {
			t.Fatalf("services after the TOTP code at %s: %v", base, err)
		}
		ctx.Close()
	}
}
