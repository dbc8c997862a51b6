package rest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/pki"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

// The suite shares one real single-node cluster (Raft over TLS, bbolt state,
// the API served over TLS), started on first use by env(t) and torn down by
// TestMain. Tests that run without it (password helpers, the fuzz target and
// its child process) never start it.

const (
	adminUsername = "admin-user"
	adminPassword = "admin-password-1"
	adminName     = "Default Admin"

	userUsername = "alice-user"
	userPassword = "alice-password-1"
	userName     = "alice"

	disabledUsername = "mallory-user"
	disabledPassword = "mallory-password-1"
	disabledName     = "mallory"
)

// testPKI is a root CA and the intermediate that issues node certificates.
type testPKI struct {
	root  *pki.CA
	inter *pki.CA
	roots *x509.CertPool
}

func newTestPKI() (*testPKI, error) {
	root, err := pki.NewRootCA("rest test root", time.Hour)
	if err != nil {
		return nil, err
	}
	inter, err := root.NewIntermediateCA("rest test intermediate", time.Hour)
	if err != nil {
		return nil, err
	}
	return &testPKI{root: root, inter: inter, roots: pki.NewCertPool(root.Cert)}, nil
}

// nodeCert issues a node certificate for name, valid for 127.0.0.1.
func (p *testPKI) nodeCert(name string) (tls.Certificate, *x509.Certificate, error) {
	certPEM, keyPEM, err := p.inter.IssueNodeCert(pki.NodeCertRequest{Name: name, IPs: []net.IP{net.ParseIP("127.0.0.1")}})
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		return tls.Certificate{}, nil, err
	}
	return cert, leaf, nil
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// apiNode is one in-process node: its cluster member, state, API server and
// an HTTPS client that trusts the cluster root.
type apiNode struct {
	name   string
	cert   tls.Certificate
	leaf   *x509.Certificate
	store  *fsm.Store
	node   *cluster.Node
	srv    *Server
	ts     *httptest.Server
	url    string // https://127.0.0.1:port, what the node advertises
	client *http.Client
}

// startAPINode starts a node (not bootstrapped) with its API served over
// TLS. leaderWait of zero keeps the cluster default.
func startAPINode(p *testPKI, name, dir string, leaderWait time.Duration, restCfg func(*Config), clusterCfg ...func(*cluster.Config)) (*apiNode, error) {
	cert, leaf, err := p.nodeCert(name)
	if err != nil {
		return nil, err
	}
	// The listener exists before the node starts, so the node's
	// self-description can carry the API URL it is really served at.
	ts := httptest.NewUnstartedServer(http.NotFoundHandler())
	apiURL := "https://" + ts.Listener.Addr().String()
	store, err := fsm.Open(filepath.Join(dir, "state.db"), quietLog())
	if err != nil {
		ts.Close()
		return nil, err
	}
	signingPEM, signingKeyPEM, err := p.inter.IssueSigningCert(name, "", time.Hour)
	if err != nil {
		return nil, err
	}
	signingCerts, _ := pki.ParseCertificatesPEM(signingPEM)
	signingKey, err := pki.ParsePrivateKeyPEM(signingKeyPEM)
	if err != nil {
		return nil, err
	}
	kid, err := pki.KeyID(signingCerts[0].PublicKey)
	if err != nil {
		return nil, err
	}
	self := func() *pb.Controller {
		addrs := map[string]*pb.ApiAddressList{}
		for api, path := range APIPaths {
			addrs[api] = &pb.ApiAddressList{Addresses: []*pb.ApiAddress{{Url: apiURL + path, Version: "v1"}}}
		}
		return &pb.Controller{
			CtrlAddress:    "tls:" + name + ".cluster.invalid:6262",
			ApiAddresses:   addrs,
			CertPem:        string(pki.EncodeCertificatesPEM(leaf)),
			Fingerprint:    pki.Fingerprint(leaf),
			SigningCertPem: string(signingPEM),
			SigningKid:     kid,
		}
	}
	ccfg := cluster.Config{
		ID: name, DataDir: dir, BindAddress: "127.0.0.1:0",
		TLS:   cluster.TLSConfig{Cert: cert, Roots: p.roots},
		Store: store, Log: quietLog(), RaftLogOutput: io.Discard,
		HeartbeatTimeout: 300 * time.Millisecond, ElectionTimeout: 300 * time.Millisecond,
		LeaderWait:       leaderWait,
		Self:             self,
		ChallengeSigners: []*cluster.ChallengeSigner{{Key: signingKey, KeyID: kid}},
	}
	for _, edit := range clusterCfg {
		edit(&ccfg)
	}
	node, err := cluster.Start(ccfg)
	if err != nil {
		store.Close()
		ts.Close()
		return nil, err
	}
	cfg := Config{Node: node, Store: store, AdvertiseURL: apiURL, Log: quietLog(),
		Signer: &edge.TokenSigner{Key: signingKey, KeyID: kid, Issuer: apiURL}, Issuer: p.inter, CACerts: []*x509.Certificate{p.root.Cert}}
	if restCfg != nil {
		restCfg(&cfg)
	}
	srv := New(cfg)
	ts.Config.Handler = srv.Handler()
	ts.TLS = &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{cert},
		ClientAuth:   tls.RequestClientCert,
	}
	ts.StartTLS()
	// Up to 32 idle connections: the default keeps 2 per host, so 16
	// concurrent benchmark clients would pay a TLS handshake on most
	// requests, which a real client (one connection of its own) never does.
	client := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots, MinVersion: tls.VersionTLS12},
			MaxIdleConnsPerHost: 32},
	}
	return &apiNode{name: name, cert: cert, leaf: leaf, store: store, node: node, srv: srv, ts: ts, url: apiURL, client: client}, nil
}

// newTLSServer serves h over TLS with cert, asking for (not requiring) a
// client certificate as the node's API listener does.
func newTLSServer(t *testing.T, h http.Handler, cert tls.Certificate) *httptest.Server {
	t.Helper()
	ts := httptest.NewUnstartedServer(h)
	ts.TLS = &tls.Config{MinVersion: tls.VersionTLS12, Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert}
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

// obj returns v as a JSON object, nil if it is not one.
func obj(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func (n *apiNode) close() {
	n.ts.Close()
	n.client.CloseIdleConnections()
	_ = n.node.Shutdown()
	_ = n.store.Close()
}

// testEnv is the shared bootstrapped single-node cluster.
type testEnv struct {
	*apiNode
	pki *testPKI
	dir string

	tokensMu sync.Mutex
	tokens   map[string]string // username -> a session token shared by tests that do not end it
}

var (
	sharedOnce sync.Once
	shared     *testEnv
	sharedErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if shared != nil {
		shared.close()
		_ = os.RemoveAll(shared.dir)
	}
	os.Exit(code)
}

// env returns the shared cluster, starting it on first use.
func env(t testing.TB) *testEnv {
	t.Helper()
	sharedOnce.Do(func() { shared, sharedErr = startEnv() })
	if sharedErr != nil {
		t.Fatalf("start shared cluster: %v", sharedErr)
	}
	return shared
}

func startEnv() (*testEnv, error) {
	p, err := newTestPKI()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "garrison-rest-test-")
	if err != nil {
		return nil, err
	}
	n, err := startAdminNode(p, "n1", dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	e := &testEnv{apiNode: n, pki: p, dir: dir, tokens: map[string]string{}}
	fail := func(err error) (*testEnv, error) {
		n.close()
		_ = os.RemoveAll(dir)
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	// A plain user and a disabled user, written as replicated commands.
	for _, u := range []struct {
		name, username, password string
		disabled                 bool
	}{
		{userName, userUsername, userPassword, false},
		{disabledName, disabledUsername, disabledPassword, true},
	} {
		if err := createUser(ctx, n.node, u.name, u.username, u.password, u.disabled); err != nil {
			return fail(err)
		}
	}
	// Tokens and JWTs name the members from their controller records, which
	// each node writes about itself shortly after it joins.
	for {
		if _, err := n.store.Get(fsm.KindController, n.name); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fail(fmt.Errorf("node never recorded itself in /controllers"))
		case <-time.After(20 * time.Millisecond):
		}
	}
	return e, nil
}

// startAdminNode starts a node, bootstraps a one-member cluster on it and
// creates the default admin as the agent's init does.
func startAdminNode(p *testPKI, name, dir string, clusterCfg ...func(*cluster.Config)) (*apiNode, error) {
	n, err := startAPINode(p, name, dir, 0, nil, clusterCfg...)
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*apiNode, error) {
		n.close()
		return nil, err
	}
	if err := n.node.Bootstrap(); err != nil {
		return fail(fmt.Errorf("bootstrap: %w", err))
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := n.node.WaitForLeader(ctx); err != nil {
		return fail(fmt.Errorf("wait for leader: %w", err))
	}
	req := httptest.NewRequest(http.MethodPost, AgentInitPath, nil)
	if aerr := n.srv.CreateDefaultAdmin(req, InitRequest{AdminUsername: adminUsername, AdminPassword: adminPassword, AdminName: adminName}); aerr != nil {
		return fail(fmt.Errorf("create default admin: %v", aerr))
	}
	return n, nil
}

// createUser writes a non-admin identity with an updb authenticator through
// the cluster.
func createUser(ctx context.Context, node *cluster.Node, name, username, password string, disabled bool) error {
	cmd, err := userCommand(name, username, password, disabled)
	if err != nil {
		return err
	}
	res, _, err := node.Apply(ctx, cmd)
	if err != nil {
		return fmt.Errorf("create user %s: %w", name, err)
	}
	if res.GetCode() != pb.Result_OK {
		return fmt.Errorf("create user %s: %v", name, res)
	}
	return nil
}

func userCommand(name, username, password string, disabled bool) (*pb.Command, error) {
	hash, err := edge.HashPassword(password)
	if err != nil {
		return nil, err
	}
	identityID, authID := uuid.NewString(), uuid.NewString()
	ident := &pb.Identity{Name: name, TypeId: "User", Disabled: disabled}
	if disabled {
		ident.DisabledAt = time.Now().UnixNano()
	}
	createIdentity, err := fsm.CreateOp(fsm.KindIdentity, identityID, ident, nil)
	if err != nil {
		return nil, err
	}
	createAuth, err := fsm.CreateOp(fsm.KindAuthenticator, authID, &pb.Authenticator{
		IdentityId: identityID, Method: "updb", Username: username, PasswordHash: hash,
	}, nil)
	if err != nil {
		return nil, err
	}
	return &pb.Command{RequestId: "test-" + name, Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{createIdentity, createAuth}}, nil
}

// token returns a session token for username that tests share; a test that
// ends its session must log in on its own instead.
func (e *testEnv) token(t *testing.T, username, password string) string {
	t.Helper()
	e.tokensMu.Lock()
	defer e.tokensMu.Unlock()
	if tok, ok := e.tokens[username]; ok {
		return tok
	}
	tok := e.login(t, ClientBase, username, password)
	e.tokens[username] = tok
	return tok
}

func (e *testEnv) adminToken(t *testing.T) string { return e.token(t, adminUsername, adminPassword) }
func (e *testEnv) userToken(t *testing.T) string  { return e.token(t, userUsername, userPassword) }

// login authenticates with a password on api and returns the token.
func (n *apiNode) login(t *testing.T, api, username, password string) string {
	t.Helper()
	r := n.do(t, http.MethodPost, api+"/authenticate?method=password", "", map[string]string{"username": username, "password": password})
	if r.status != http.StatusOK {
		t.Fatalf("login %s on %s: %d %s", username, api, r.status, r.raw)
	}
	tok, _ := r.data()["token"].(string)
	if tok == "" {
		t.Fatalf("login %s: no token in %s", username, r.raw)
	}
	return tok
}

// response is one answer as the tests see it.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

func (r *response) data() map[string]any {
	d, _ := r.body["data"].(map[string]any)
	return d
}

func (r *response) list() []any {
	d, _ := r.body["data"].([]any)
	return d
}

// do sends a request and checks the answer against the OpenZiti spec with
// apispec.Check; a mismatch fails the test. body may be nil (no body), a
// string or []byte (sent as is) or anything else (sent as JSON).
func (n *apiNode) do(t *testing.T, method, path, token string, body any) *response {
	t.Helper()
	resp := n.send(t, method, path, token, body, nil)
	if _, err := apispec.Check(resp); err != nil {
		t.Errorf("%s %s -> %d: response does not match the spec: %v", method, path, resp.StatusCode, err)
	}
	return readResponse(t, resp)
}

// doUnchecked is do without apispec.Check, for answers the spec cannot
// describe (unknown paths, undocumented methods); callers check the body by
// hand.
func (n *apiNode) doUnchecked(t *testing.T, method, path, token string, body any) *response {
	t.Helper()
	return readResponse(t, n.send(t, method, path, token, body, nil))
}

func (n *apiNode) send(t *testing.T, method, path, token string, body any, header http.Header) *http.Response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, n.url+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set(sessionHeader, token)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := n.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

func readResponse(t *testing.T, resp *http.Response) *response {
	t.Helper()
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	r := &response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &r.body); err != nil {
			t.Errorf("%s %s: body is not a JSON api.Object: %v: %.200q", resp.Request.Method, resp.Request.URL.Path, err, raw)
		}
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s %s: Content-Type %q, want application/json", resp.Request.Method, resp.Request.URL.Path, ct)
	}
	return r
}

// wantError checks an error answer: status, code, and the envelope every
// error carries (code, message, requestId echoing X-Request-Id, meta).
func wantError(t *testing.T, what string, r *response, status int, code string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Errorf("%s: status %d, want %d; body %s", what, r.status, status, r.raw)
	}
	e, ok := r.body["error"].(map[string]any)
	if !ok {
		t.Errorf("%s: no error api.Object in %s", what, r.raw)
		return nil
	}
	if got, _ := e["code"].(string); got != code {
		t.Errorf("%s: error.code %q, want %q; body %s", what, got, code, r.raw)
	}
	if msg, _ := e["message"].(string); msg == "" {
		t.Errorf("%s: empty error.message in %s", what, r.raw)
	}
	rid, _ := e["requestId"].(string)
	if rid == "" {
		t.Errorf("%s: empty error.requestId in %s", what, r.raw)
	} else if hdr := r.header.Get("X-Request-Id"); hdr != rid {
		t.Errorf("%s: error.requestId %q differs from X-Request-Id %q", what, rid, hdr)
	}
	if _, ok := r.body["meta"].(map[string]any); !ok {
		t.Errorf("%s: no meta api.Object in %s", what, r.raw)
	}
	if status == http.StatusUnauthorized && r.header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s: 401 without a WWW-Authenticate header", what)
	}
	return e
}

// causeField returns error.cause.field of an error object.
func causeField(e map[string]any) string {
	c, _ := e["cause"].(map[string]any)
	f, _ := c["field"].(string)
	return f
}

// apis are the two Edge APIs, which serve the same session paths.
var apis = []struct{ name, base string }{
	{APIEdgeClient, ClientBase},
	{APIEdgeManagement, ManagementBase},
}
