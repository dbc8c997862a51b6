package deploy

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

func threeNodes() []HAProxyServer {
	return []HAProxyServer{
		{Name: "node1", Address: "127.0.0.1:1281"},
		{Name: "node2", Address: "127.0.0.1:1282"},
		{Name: "node3", Address: "[::1]:1283"},
	}
}

func mustRender(t *testing.T, cfg HAProxyConfig) string {
	t.Helper()
	out, err := RenderHAProxy(cfg)
	if err != nil {
		t.Fatalf("RenderHAProxy(%+v): %v", cfg, err)
	}
	return string(out)
}

// hasLine reports whether text has a line equal to want after trimming
// surrounding whitespace and collapsing internal runs of blanks.
func hasLine(text, want string) bool {
	norm := func(s string) string { return strings.Join(strings.Fields(s), " ") }
	want = norm(want)
	for _, l := range strings.Split(text, "\n") {
		if norm(l) == want {
			return true
		}
	}
	return false
}

func TestRenderHAProxyThreeServers(t *testing.T) {
	out := mustRender(t, HAProxyConfig{BindAddress: "127.0.0.1:1280", Servers: threeNodes()})

	for _, want := range []string{
		"mode tcp",
		"bind 127.0.0.1:1280",
		"balance roundrobin",
		"option httpchk",
		"http-check expect status 200",
		"option redispatch 1",
		"retries 3",
		"log stderr format raw local0 info",
		"server node1 127.0.0.1:1281",
		"server node2 127.0.0.1:1282",
		"server node3 [::1]:1283",
	} {
		if !hasLine(out, want) {
			t.Errorf("rendered config has no line %q", want)
		}
	}
	for _, want := range []string{
		"uri /health-checks/ready",
		"check-ssl verify none",
		"inter 1s",
		"fall 2 rise 1",
		"on-marked-down shutdown-sessions",
		"timeout tunnel",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("rendered config does not contain %q", want)
		}
	}
	// Must run unprivileged in the foreground.
	for _, bad := range []string{"chroot", "daemon", "/var/lib", "pidfile", "stats socket"} {
		for _, l := range strings.Split(out, "\n") {
			if l := strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") && strings.Contains(l, bad) {
				t.Errorf("rendered config has %q in line %q", bad, l)
			}
		}
	}
	if n := strings.Count(out, "\n    server "); n != 3 {
		t.Errorf("got %d server lines, want 3", n)
	}
	if strings.Contains(out, "<no value>") || strings.Contains(out, "{{") {
		t.Errorf("template not fully rendered:\n%s", out)
	}
}

func TestRenderHAProxyStatsSocket(t *testing.T) {
	out := mustRender(t, HAProxyConfig{
		BindAddress: ":1280",
		Servers:     threeNodes()[:1],
		StatsSocket: "/home/me/.garrison/haproxy.sock",
	})
	if !hasLine(out, "stats socket /home/me/.garrison/haproxy.sock mode 600 level admin") {
		t.Errorf("stats socket line missing:\n%s", out)
	}
}

func TestRenderHAProxyRejectsInvalid(t *testing.T) {
	ok := threeNodes()
	with := func(f func(*HAProxyConfig)) HAProxyConfig {
		c := HAProxyConfig{BindAddress: "127.0.0.1:1280", Servers: append([]HAProxyServer(nil), ok...)}
		f(&c)
		return c
	}
	cases := map[string]HAProxyConfig{
		"empty bind":             with(func(c *HAProxyConfig) { c.BindAddress = "" }),
		"bind without port":      with(func(c *HAProxyConfig) { c.BindAddress = "127.0.0.1" }),
		"bind with bad port":     with(func(c *HAProxyConfig) { c.BindAddress = "127.0.0.1:http" }),
		"bind with space":        with(func(c *HAProxyConfig) { c.BindAddress = "127.0.0.1:1280 ssl" }),
		"no servers":             with(func(c *HAProxyConfig) { c.Servers = nil }),
		"empty name":             with(func(c *HAProxyConfig) { c.Servers[0].Name = "" }),
		"name with space":        with(func(c *HAProxyConfig) { c.Servers[0].Name = "node 1" }),
		"name with tab":          with(func(c *HAProxyConfig) { c.Servers[0].Name = "node\t1" }),
		"name with newline":      with(func(c *HAProxyConfig) { c.Servers[0].Name = "node1\n    balance first" }),
		"name with hash":         with(func(c *HAProxyConfig) { c.Servers[0].Name = "node#1" }),
		"duplicate name":         with(func(c *HAProxyConfig) { c.Servers[1].Name = c.Servers[0].Name }),
		"address without port":   with(func(c *HAProxyConfig) { c.Servers[0].Address = "127.0.0.1" }),
		"address without host":   with(func(c *HAProxyConfig) { c.Servers[0].Address = ":1281" }),
		"address port 0":         with(func(c *HAProxyConfig) { c.Servers[0].Address = "127.0.0.1:0" }),
		"address port too big":   with(func(c *HAProxyConfig) { c.Servers[0].Address = "127.0.0.1:65536" }),
		"address port name":      with(func(c *HAProxyConfig) { c.Servers[0].Address = "127.0.0.1:https" }),
		"address with space":     with(func(c *HAProxyConfig) { c.Servers[0].Address = "127.0.0.1:1281 backup" }),
		"unbracketed ipv6":       with(func(c *HAProxyConfig) { c.Servers[0].Address = "::1:1281" }),
		"empty address":          with(func(c *HAProxyConfig) { c.Servers[0].Address = "" }),
		"stats socket space":     with(func(c *HAProxyConfig) { c.StatsSocket = "/tmp/my dir/haproxy.sock" }),
		"stats socket too long":  with(func(c *HAProxyConfig) { c.StatsSocket = "/" + strings.Repeat("a", 120) }),
		"stats socket injection": with(func(c *HAProxyConfig) { c.StatsSocket = "/tmp/s.sock\n    daemon" }),
	}
	for name, cfg := range cases {
		t.Run(name, func(t *testing.T) {
			out, err := RenderHAProxy(cfg)
			if err == nil {
				t.Fatalf("RenderHAProxy accepted invalid config %+v:\n%s", cfg, out)
			}
			if out != nil {
				t.Errorf("RenderHAProxy returned output along with error %v", err)
			}
		})
	}

	// Sanity: the base config used above is valid.
	if _, err := RenderHAProxy(with(func(*HAProxyConfig) {})); err != nil {
		t.Fatalf("valid config rejected: %v", err)
	}
}

// lookHAProxy returns the haproxy binary or skips the test. Besides PATH it
// looks in the sbin directories, where Debian installs haproxy but which an
// ordinary user's PATH lacks.
func lookHAProxy(t *testing.T) string {
	t.Helper()
	if path, err := exec.LookPath("haproxy"); err == nil {
		return path
	}
	for _, dir := range []string{"/usr/local/sbin", "/usr/sbin", "/sbin"} {
		if path, err := exec.LookPath(filepath.Join(dir, "haproxy")); err == nil {
			return path
		}
	}
	t.Skip("haproxy not found on PATH or in /usr/sbin; install it with scripts/ensure-tools.sh haproxy (make test does this)")
	return ""
}

// haproxyCheck runs `haproxy -c -f file` and returns its combined output;
// it fails the test on a non-zero exit.
func haproxyCheck(t *testing.T, haproxy, file string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, haproxy, "-c", "-f", file).CombinedOutput()
	t.Logf("haproxy -c -f %s:\n%s", filepath.Base(file), out)
	if err != nil {
		t.Fatalf("haproxy -c -f %s: %v\n%s", file, err, out)
	}
	if !strings.Contains(string(out), "Configuration file is valid") {
		t.Fatalf("haproxy -c did not report a valid configuration:\n%s", out)
	}
	return string(out)
}

func TestRenderedConfigPassesHAProxyCheck(t *testing.T) {
	haproxy := lookHAProxy(t)
	dir := t.TempDir()
	for _, sock := range []string{"", filepath.Join(dir, "haproxy.sock")} {
		cfg := HAProxyConfig{BindAddress: "127.0.0.1:1280", Servers: threeNodes(), StatsSocket: sock}
		file := filepath.Join(dir, "haproxy.cfg")
		if err := os.WriteFile(file, []byte(mustRender(t, cfg)), 0o600); err != nil {
			t.Fatal(err)
		}
		out := haproxyCheck(t, haproxy, file)
		// IP addresses only: nothing for HAProxy to warn about.
		if strings.Contains(out, "[WARNING]") || strings.Contains(out, "[ALERT]") {
			t.Errorf("haproxy -c reported warnings (stats socket %q):\n%s", sock, out)
		}
	}
}

func TestProductionConfigPassesHAProxyCheck(t *testing.T) {
	haproxy := lookHAProxy(t)
	// The example drops privileges to the haproxy user, which the Debian
	// package creates; haproxy -c rejects an unknown user.
	if _, err := user.Lookup("haproxy"); err != nil {
		t.Skip("no haproxy user on this machine (it comes with the Debian haproxy package)")
	}
	out := haproxyCheck(t, haproxy, filepath.Join("haproxy", "haproxy-production.cfg"))
	// The placeholder host names do not resolve; init-addr lets HAProxy
	// start anyway and warn. Any other warning is a problem.
	unresolved := regexp.MustCompile(`could not resolve address 'ctrl[0-9]\.example\.internal'`)
	for _, l := range strings.Split(out, "\n") {
		if (strings.Contains(l, "[WARNING]") && !unresolved.MatchString(l)) || strings.Contains(l, "[ALERT]") {
			t.Errorf("unexpected haproxy -c message: %s", l)
		}
	}
}

// ---- live failover test ----------------------------------------------------

// syncBuffer collects a subprocess's output safely.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// fakeNode is an HTTPS server standing in for a Garrison node: it requests
// (but does not require) client certificates, like the real API listener,
// and answers GET /edge/client/v1/version with its name and GET
// /health-checks/ready with 200.
type fakeNode struct {
	name string
	addr string
	srv  *httptest.Server
}

func startFakeNode(t *testing.T, name, addr string) *fakeNode {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health-checks/ready", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"healthy":true,"checks":[]},"meta":{}}`))
	})
	mux.HandleFunc("GET /edge/client/v1/version", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]string{"version": "test", "node": name}})
	})
	srv := httptest.NewUnstartedServer(mux)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = &tls.Config{ClientAuth: tls.VerifyClientCertIfGiven}
	srv.StartTLS()
	n := &fakeNode{name: name, addr: ln.Addr().String(), srv: srv}
	t.Cleanup(n.kill)
	return n
}

// kill stops the node abruptly: the listener goes away, so new connections
// are refused, and open connections are cut, as with kill -9.
func (n *fakeNode) kill() {
	n.srv.CloseClientConnections()
	n.srv.Close()
}

func freeLocalAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// serverStatus asks HAProxy's stats socket for the status (UP, DOWN, ...)
// of each server in the garrison_nodes backend.
func serverStatus(sock string) (map[string]string, error) {
	c, err := net.DialTimeout("unix", sock, time.Second)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := io.WriteString(c, "show stat\n"); err != nil {
		return nil, err
	}
	raw, err := io.ReadAll(bufio.NewReader(c))
	if err != nil {
		return nil, err
	}
	text := strings.TrimPrefix(strings.TrimSpace(string(raw)), "# ")
	r := csv.NewReader(strings.NewReader(text))
	r.FieldsPerRecord = -1
	recs, err := r.ReadAll()
	if err != nil || len(recs) < 2 {
		return nil, fmt.Errorf("unexpected show stat output %q: %v", raw, err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	px, sv, st := col["pxname"], col["svname"], col["status"]
	out := map[string]string{}
	for _, rec := range recs[1:] {
		if len(rec) > st && rec[px] == "garrison_nodes" && rec[sv] != "BACKEND" {
			out[rec[sv]] = rec[st]
		}
	}
	return out, nil
}

// waitStatus polls until every named server has the wanted status (prefix
// match: "UP" also matches "UP 1/2") and returns how long that took.
func waitStatus(t *testing.T, sock string, want map[string]string, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last map[string]string
	var lastErr error
	for time.Since(start) < limit {
		last, lastErr = serverStatus(sock)
		if lastErr == nil {
			ok := true
			for name, st := range want {
				if !strings.HasPrefix(last[name], st) {
					ok = false
				}
			}
			if ok {
				return time.Since(start)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("servers did not reach %v within %v; last status %v (err %v)", want, limit, last, lastErr)
	return 0
}

// TestHAProxyFailover runs the rendered config for real in front of three
// fake HTTPS nodes: requests are spread over the nodes, a node that is
// killed stops receiving traffic without a single failed request (retries +
// redispatch), is marked DOWN within a few seconds (also when there is no
// traffic to notice it), and is UP again soon after it restarts.
func TestHAProxyFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("live HAProxy test skipped in -short mode")
	}
	haproxy := lookHAProxy(t)

	nodes := []*fakeNode{
		startFakeNode(t, "node1", "127.0.0.1:0"),
		startFakeNode(t, "node2", "127.0.0.1:0"),
		startFakeNode(t, "node3", "127.0.0.1:0"),
	}
	dir := t.TempDir()
	sock := filepath.Join(dir, "haproxy.sock")
	bind := freeLocalAddr(t)
	cfg := HAProxyConfig{BindAddress: bind, StatsSocket: sock}
	for _, n := range nodes {
		cfg.Servers = append(cfg.Servers, HAProxyServer{Name: n.name, Address: n.addr})
	}
	file := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(file, []byte(mustRender(t, cfg)), 0o600); err != nil {
		t.Fatal(err)
	}

	var logs syncBuffer
	cmd := exec.Command(haproxy, "-db", "-f", file)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start haproxy: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("haproxy output:\n%s", logs.String())
		}
	})

	allUp := map[string]string{"node1": "UP", "node2": "UP", "node3": "UP"}
	waitStatus(t, sock, allUp, 10*time.Second)

	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // test certificate
			DisableKeepAlives: true,                                  // one TCP connection per request
		},
	}
	defer client.CloseIdleConnections()
	get := func() (string, error) {
		resp, err := client.Get("https://" + bind + "/edge/client/v1/version")
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		var body struct{ Data struct{ Node string } }
		if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("status %s", resp.Status)
		}
		return body.Data.Node, nil
	}
	spread := func(n int) map[string]int {
		t.Helper()
		hits := map[string]int{}
		for range n {
			node, err := get()
			if err != nil {
				t.Fatalf("request through haproxy failed: %v", err)
			}
			hits[node]++
		}
		return hits
	}

	hits := spread(30)
	t.Logf("all nodes up: %v", hits)
	if len(hits) < 3 {
		t.Errorf("requests went to %v, want all three nodes", hits)
	}

	// kill -9 node2: requests made right away must still all succeed.
	nodes[1].kill()
	killed := time.Now()
	hits = spread(30)
	t.Logf("right after node2 died: %v", hits)
	if hits["node2"] != 0 {
		t.Errorf("dead node2 answered %d requests", hits["node2"])
	}
	waitStatus(t, sock, map[string]string{"node1": "UP", "node2": "DOWN", "node3": "UP"}, 10*time.Second)
	took := time.Since(killed)
	t.Logf("node2 marked DOWN %v after it died", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("node2 marked DOWN only after %v, want a few seconds", took)
	}

	// Restart node2 on the same address: it must be taken back quickly.
	restarted := time.Now()
	nodes[1] = startFakeNode(t, "node2", nodes[1].addr)
	waitStatus(t, sock, allUp, 10*time.Second)
	back := time.Since(restarted)
	t.Logf("node2 UP again %v after restart", back.Round(time.Millisecond))
	if back > 5*time.Second {
		t.Errorf("node2 marked UP only after %v", back)
	}
	hits = spread(30)
	t.Logf("after node2 restarted: %v", hits)
	if hits["node2"] == 0 {
		t.Errorf("restarted node2 gets no requests: %v", hits)
	}

	// A node that dies while there is no traffic is found by the health
	// checks alone (above, failed client connections sped that up).
	nodes[2].kill()
	killed = time.Now()
	waitStatus(t, sock, map[string]string{"node1": "UP", "node2": "UP", "node3": "DOWN"}, 10*time.Second)
	took = time.Since(killed)
	t.Logf("idle node3 marked DOWN by health checks %v after it died", took.Round(time.Millisecond))
	if took > 5*time.Second {
		t.Errorf("node3 marked DOWN only after %v, want a few seconds", took)
	}
	hits = spread(30)
	t.Logf("after node3 died: %v", hits)
	if hits["node3"] != 0 {
		t.Errorf("dead node3 answered %d requests", hits["node3"])
	}
}
