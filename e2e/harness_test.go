// Package e2e runs real garrison processes (and HAProxy) on loopback and
// talks HTTPS to them. Nothing is mocked: Raft, bbolt and TLS are the real
// ones. Every JSON response is validated against the OpenZiti spec files.
package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/deploy"
	"github.com/garrison-ctrl/garrison/internal/edge"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

var garrisonBin string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if bin := os.Getenv("GARRISON_BIN"); bin != "" {
		garrisonBin = bin
		return m.Run()
	}
	dir, err := os.MkdirTemp("", "garrison-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	garrisonBin = filepath.Join(dir, "garrison")
	build := exec.Command("go", "build", "-o", garrisonBin, "../cmd/garrison")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build garrison:", err)
		return 1
	}
	return m.Run()
}

func skipShort(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("end-to-end test: skipped with -short")
	}
}

const adminUser, adminPassword = "admin", "e2e-admin-password"

// clusterOptions tunes a test cluster.
type clusterOptions struct {
	nodes int
	// raft lines are added to every node's config.
	snapshotThreshold, trailingLogs int
	snapshotInterval                time.Duration
	noHAProxy                       bool
	// passwordHashing, if set, is every node's passwordHashing (argon2id
	// costs of new password hashes, the admin's included).
	passwordHashing *edge.Argon2Params
	// extraConfig is YAML added to every node's config.
	extraConfig string
	// netns runs every node in a network namespace of its own where the
	// machine allows it (Cluster.Net is then set), so tests can cut
	// nodes off.
	netns bool
}

// Cluster is a set of garrison processes with HAProxy in front.
type Cluster struct {
	t      testing.TB
	home   string
	caFile string
	http   *http.Client
	Nodes  []*Node
	LBURL  string
	lb     *exec.Cmd
	// cliHome is HOME for the CLI calls of this cluster (saved login).
	cliHome string
	// Net is the nodes' network namespaces, nil when they run on loopback.
	Net *netLayout
}

// Node is one garrison process.
type Node struct {
	c           *Cluster
	Name        string
	ConfigPath  string
	APIAddr     string
	ClusterAddr string
	LogPath     string
	DataDir     string
	// netns is the network namespace the node runs in ("" for none).
	netns  string
	cmd    *exec.Cmd
	exited chan struct{}
}

// URL is the node's API base URL.
func (n *Node) URL() string { return "https://" + n.APIAddr }

func freePorts(t testing.TB, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for i := 0; i < n; i++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

func garrison(t testing.TB, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, garrisonBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mustGarrison(t testing.TB, args ...string) string {
	t.Helper()
	out, err := garrison(t, args...)
	if err != nil {
		t.Fatalf("garrison %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// newCluster creates PKI with the CLI, starts the nodes, initialises the
// first through its agent socket and adds the others with the CLI, then
// starts HAProxy in front.
func newCluster(t testing.TB, o clusterOptions) *Cluster {
	t.Helper()
	skipShort(t)
	if o.nodes == 0 {
		o.nodes = 3
	}
	home := t.TempDir()
	c := &Cluster{t: t, home: home, caFile: filepath.Join(home, "pki", "ca.pem")}
	mustGarrison(t, "pki", "create", "ca", "--out", filepath.Join(home, "pki"))
	pool := x509.NewCertPool()
	caPEM, err := os.ReadFile(c.caFile)
	if err != nil || !pool.AppendCertsFromPEM(caPEM) {
		t.Fatalf("read CA: %v", err)
	}
	c.http = &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true,
	}}
	ports := freePorts(t, 2*o.nodes+1)
	hosts := make([]string, o.nodes)
	for i := range hosts {
		hosts[i] = "127.0.0.1"
	}
	if o.netns {
		if c.Net = newNetLayout(t, o.nodes); c.Net != nil {
			copy(hosts, c.Net.ips)
		}
	}
	ips := "127.0.0.1,::1," + strings.Join(hosts, ",")
	// One API certificate for every node, as in production: a client sees
	// the same server whichever node HAProxy picks.
	mustGarrison(t, "pki", "create", "api", "--ca-dir", filepath.Join(home, "pki"), "--out", filepath.Join(home, "pki"), "--ip", ips)
	publicURL := ""
	if !o.noHAProxy {
		publicURL = "publicUrl: https://127.0.0.1:" + strconv.Itoa(ports[0]) + "\n"
	}
	for i := 1; i <= o.nodes; i++ {
		name := "node" + strconv.Itoa(i)
		dir := filepath.Join(home, name)
		mustGarrison(t, "pki", "create", "node", "--ca-dir", filepath.Join(home, "pki"), "--name", name, "--out", filepath.Join(dir, "pki"),
			"--ip", "127.0.0.1,::1,"+hosts[i-1])
		n := &Node{c: c, Name: name, ConfigPath: filepath.Join(dir, "node.yml"), LogPath: filepath.Join(dir, "garrison.log"),
			APIAddr: hosts[i-1] + ":" + strconv.Itoa(ports[i]), ClusterAddr: hosts[i-1] + ":" + strconv.Itoa(ports[o.nodes+i]),
			DataDir: filepath.Join(dir, "data")}
		if c.Net != nil {
			n.netns = c.Net.ns[i-1]
		}
		cfg := fmt.Sprintf(`name: %s
dataDir: data
clusterAddress: %s
apiAddress: %s
logLevel: debug
%spki:
  apiCert: ../pki/api.pem
  apiKey: ../pki/api.key
  ca: pki/ca.pem
  cert: pki/server.pem
  key: pki/server.key
  signingCert: pki/signing.pem
  signingKey: pki/signing.key
  intermediateCert: pki/intermediate.pem
  intermediateKey: pki/intermediate.key
`, name, n.ClusterAddr, n.APIAddr, publicURL)
		if p := o.passwordHashing; p != nil {
			cfg += fmt.Sprintf("passwordHashing:\n  memoryKiB: %d\n  passes: %d\n  lanes: %d\n", p.MemoryKiB, p.Passes, p.Lanes)
		}
		cfg += o.extraConfig
		if o.snapshotThreshold > 0 {
			cfg += fmt.Sprintf("raft:\n  snapshotThreshold: %d\n  trailingLogs: %d\n  snapshotInterval: %s\n",
				o.snapshotThreshold, o.trailingLogs, o.snapshotInterval)
		}
		if err := os.WriteFile(n.ConfigPath, []byte(cfg), 0o600); err != nil {
			t.Fatal(err)
		}
		c.Nodes = append(c.Nodes, n)
	}
	t.Cleanup(c.stopAll)
	for _, n := range c.Nodes {
		n.Start()
	}
	first := c.Nodes[0]
	c.eventually(15*time.Second, "agent socket of node1", func() error {
		_, err := os.Stat(filepath.Join(first.DataDir, "garrison.sock"))
		return err
	})
	mustGarrison(t, "cluster", "init", "--config", first.ConfigPath, "-u", adminUser, "-p", adminPassword)
	for _, n := range c.Nodes[1:] {
		c.eventually(15*time.Second, "add "+n.Name, func() error {
			out, err := garrison(t, "cluster", "add", n.ClusterAddr, "--url", first.URL(), "--ca", c.caFile, "-u", adminUser, "-p", adminPassword)
			if err != nil {
				return fmt.Errorf("%v: %s", err, out)
			}
			return nil
		})
	}
	c.waitHealthy(30 * time.Second)
	if !o.noHAProxy {
		c.startHAProxy(ports[0])
	}
	return c
}

// Start starts (or restarts) the node's process.
func (n *Node) Start() {
	t := n.c.t
	t.Helper()
	logf, err := os.OpenFile(n.LogPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(garrisonBin, "run", "--config", n.ConfigPath)
	if n.netns != "" {
		// ip netns exec replaces itself with garrison: signals reach it.
		cmd = exec.Command("ip", "netns", "exec", n.netns, garrisonBin, "run", "--config", n.ConfigPath)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n.cmd, n.exited = cmd, make(chan struct{})
	go func(exited chan struct{}) { _ = cmd.Wait(); logf.Close(); close(exited) }(n.exited)
	n.c.eventually(15*time.Second, n.Name+" API up", func() error {
		conn, err := net.DialTimeout("tcp", n.APIAddr, time.Second)
		if err == nil {
			conn.Close()
		}
		return err
	})
}

// Kill9 kills the node without letting it shut down.
func (n *Node) Kill9() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Kill()
	<-n.exited
	n.cmd = nil
}

// Stop shuts the node down gracefully.
func (n *Node) Stop() {
	if n.cmd == nil {
		return
	}
	_ = n.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-n.exited:
	case <-time.After(15 * time.Second):
		n.c.t.Errorf("%s did not stop within 15s of SIGTERM; killing it", n.Name)
		n.Kill9()
	}
	n.cmd = nil
}

func (c *Cluster) stopAll() {
	if c.lb != nil {
		_ = c.lb.Process.Kill()
		_ = c.lb.Wait()
	}
	for _, n := range c.Nodes {
		n.Kill9()
	}
	if c.t.Failed() {
		for _, n := range c.Nodes {
			data, _ := os.ReadFile(n.LogPath)
			lines := strings.Split(string(data), "\n")
			if len(lines) > 60 {
				lines = lines[len(lines)-60:]
			}
			c.t.Logf("---- last lines of %s ----\n%s", n.Name, strings.Join(lines, "\n"))
		}
	}
}

func (c *Cluster) startHAProxy(port int) {
	t := c.t
	bin := deploy.FindHAProxy()
	if bin == "" {
		if os.Getenv("CI") != "" {
			t.Fatal("haproxy is not installed (make test installs it)")
		}
		t.Skip("haproxy is not installed; run `make test`, which installs it")
	}
	hc := deploy.HAProxyConfig{BindAddress: "127.0.0.1:" + strconv.Itoa(port)}
	for _, n := range c.Nodes {
		hc.Servers = append(hc.Servers, deploy.HAProxyServer{Name: n.Name, Address: n.APIAddr})
	}
	cfg, err := deploy.RenderHAProxy(hc)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(c.home, "haproxy.cfg")
	if err := os.WriteFile(path, cfg, 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(c.home, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c.lb = cmd
	c.LBURL = "https://127.0.0.1:" + strconv.Itoa(port)
	c.eventually(15*time.Second, "haproxy serving", func() error {
		st, _, _ := c.Do("GET", c.LBURL+"/edge/client/v1/version", "", nil)
		if st != 200 {
			return fmt.Errorf("status %d", st)
		}
		return nil
	})
}

// atOnce checks fn once, without retrying: reads are linearizable, so what
// an acknowledged write changed is visible on every node at once.
func (c *Cluster) atOnce(what string, fn func() error) {
	c.t.Helper()
	if err := fn(); err != nil {
		c.t.Fatalf("%s: %v", what, err)
	}
}

// eventually retries fn until it succeeds or the timeout passes.
func (c *Cluster) eventually(timeout time.Duration, what string, fn func() error) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := fn()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("%s: still failing after %s: %v", what, timeout, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Response is a decoded JSON answer.
type Response struct {
	Status int
	Body   map[string]any
	Header http.Header
}

// Do sends a request and validates the JSON answer against the spec. It
// returns the status, the decoded body and the headers; a transport error
// gives status 0.
func (c *Cluster) Do(method, url, token string, body any) (int, map[string]any, http.Header) {
	c.t.Helper()
	r := c.do(method, url, token, body, true)
	return r.Status, r.Body, r.Header
}

var specMu sync.Mutex

func (c *Cluster) do(method, url, token string, body any, validate bool) Response {
	c.t.Helper()
	return c.doWith(c.http, method, url, token, body, validate)
}

// doWith is do through a given client, e.g. one presenting a client
// certificate (see certClient).
func (c *Cluster) doWith(client *http.Client, method, url, token string, body any, validate bool) Response {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		data, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(data)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("zt-session", token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return Response{}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return Response{}
	}
	if validate {
		checkSpec(c.t, method, req.URL.Path, resp.StatusCode, raw)
	}
	out := Response{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(raw, &out.Body); err != nil {
		c.t.Errorf("%s %s: answer is not JSON (%d): %q", method, url, resp.StatusCode, raw)
	}
	return out
}

// certClient is an HTTPS client that trusts the cluster CA and presents
// cert (chain and key) when a server asks for one.
func (c *Cluster) certClient(cert tls.Certificate) *http.Client {
	tr := c.http.Transport.(*http.Transport).Clone()
	tr.TLSClientConfig.Certificates = []tls.Certificate{cert}
	return &http.Client{Timeout: 30 * time.Second, Transport: tr}
}

// checkSpec validates a body against the operation's schema. Two answers
// the spec does not document get the error envelope's schema instead: 503
// while the cluster has no leader (the spec predates clustering for most
// operations) — checked against an operation that documents 503.
func checkSpec(t testing.TB, method, path string, status int, raw []byte) {
	t.Helper()
	err := apispec.ValidateHTTP(method, path, status, raw)
	if err != nil && status == http.StatusServiceUnavailable {
		err = apispec.ValidateHTTP("GET", "/edge/management/v1/api-sessions", status, raw)
	}
	if err != nil {
		t.Errorf("response does not fit the spec: %v\nbody: %s", err, raw)
	}
}

// doHeader sends a GET-style request with one extra header and validates
// the answer against the spec.
func (c *Cluster) doHeader(method, url, name, value string) Response {
	c.t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set(name, value)
	resp, err := c.http.Do(req)
	if err != nil {
		return Response{}
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	checkSpec(c.t, method, req.URL.Path, resp.StatusCode, raw)
	out := Response{Status: resp.StatusCode, Header: resp.Header}
	_ = json.Unmarshal(raw, &out.Body)
	return out
}

// Login authenticates the admin at base and returns the token.
func (c *Cluster) Login(base string) string {
	c.t.Helper()
	st, body, _ := c.Do("POST", base+"/edge/client/v1/authenticate?method=password", "",
		map[string]string{"username": adminUser, "password": adminPassword})
	if st != http.StatusOK {
		c.t.Fatalf("login at %s: %d %v", base, st, body)
	}
	return dig(body, "data", "token").(string)
}

// TryLogin is Login that reports failure instead of failing the test.
func (c *Cluster) TryLogin(base string) (string, int) {
	r := c.do("POST", base+"/edge/client/v1/authenticate?method=password", "",
		map[string]string{"username": adminUser, "password": adminPassword}, false)
	if r.Status == 0 {
		return "", 0
	}
	checkSpec(c.t, "POST", "/edge/client/v1/authenticate", r.Status, mustJSON(r.Body))
	if r.Status != http.StatusOK {
		return "", r.Status
	}
	tok, _ := dig(r.Body, "data", "token").(string)
	return tok, r.Status
}

func mustJSON(v any) []byte {
	data, _ := json.Marshal(v)
	return data
}

// dig walks nested maps and slices by key or index.
func dig(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			s, ok := v.([]any)
			if !ok || k >= len(s) {
				return nil
			}
			v = s[k]
		}
	}
	return v
}

// Members is list-members as seen by node n.
func (c *Cluster) Members(base, token string) []map[string]any {
	c.t.Helper()
	st, body, _ := c.Do("GET", base+"/fabric/v1/cluster/list-members", token, nil)
	if st != http.StatusOK {
		return nil
	}
	var out []map[string]any
	for _, m := range body["data"].([]any) {
		out = append(out, m.(map[string]any))
	}
	return out
}

// Leader returns the node that is currently leader, asking a live node.
func (c *Cluster) Leader(token string) *Node {
	c.t.Helper()
	var leader *Node
	c.eventually(20*time.Second, "a leader", func() error {
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			for _, m := range c.Members(n.URL(), token) {
				if m["leader"] == true {
					for _, cand := range c.Nodes {
						if cand.Name == m["id"] && cand.cmd != nil {
							leader = cand
							return nil
						}
					}
				}
			}
		}
		return fmt.Errorf("no live leader reported")
	})
	return leader
}

// waitHealthy waits until every running node sees every member connected.
func (c *Cluster) waitHealthy(timeout time.Duration) {
	c.t.Helper()
	c.eventually(timeout, "all members connected", func() error {
		for _, n := range c.Nodes {
			if n.cmd == nil {
				continue
			}
			tok, st := c.TryLogin(n.URL())
			if st != http.StatusOK {
				return fmt.Errorf("login at %s: %d", n.Name, st)
			}
			members := c.Members(n.URL(), tok)
			if len(members) != len(c.Nodes) {
				return fmt.Errorf("%s sees %d members", n.Name, len(members))
			}
			for _, m := range members {
				if m["connected"] != true {
					return fmt.Errorf("%s sees %v disconnected", n.Name, m["id"])
				}
			}
		}
		return nil
	})
}

// SessionValid reports whether token is a live session at base.
func (c *Cluster) SessionValid(base, token string) int {
	c.t.Helper()
	st, _, _ := c.Do("GET", base+"/edge/client/v1/current-api-session", token, nil)
	return st
}
