package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
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
	"syscall"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/deploy"
)

// quickstart runs `garrison quickstart` until it prints its banner and
// returns the process and everything it printed so far.
func startQuickstart(t *testing.T, home string, base int) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(garrisonBin, "quickstart", "--home", home, "--base-port", strconv.Itoa(base), "--password", "qs-password-1")
	cmd.Env = append(os.Environ(), "PATH="+os.Getenv("PATH")+":/usr/sbin:/usr/local/sbin")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var printed strings.Builder
	deadline := time.After(90 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("quickstart exited early:\n%s", printed.String())
			}
			printed.WriteString(l + "\n")
			if strings.Contains(l, "Press Ctrl-C") {
				go func() {
					for range lines {
					}
				}()
				return cmd, printed.String()
			}
		case <-deadline:
			_ = cmd.Process.Kill()
			t.Fatalf("quickstart did not come up in 90s:\n%s", printed.String())
		}
	}
}

func TestQuickstartStartsStopsAndRestarts(t *testing.T) {
	skipShort(t)
	if deploy.FindHAProxy() == "" {
		t.Skip("haproxy is not installed; run `make test`, which installs it")
	}
	home := filepath.Join(t.TempDir(), "qs")
	base := freeBase(t)
	cmd, out := startQuickstart(t, home, base)
	lb := "https://127.0.0.1:" + strconv.Itoa(base)
	if !strings.Contains(out, lb) || !strings.Contains(out, "admin / qs-password-1") {
		t.Fatalf("banner lacks the LB URL or login:\n%s", out)
	}
	client := caClient(t, filepath.Join(home, "pki", "ca.pem"))
	token := qsLogin(t, client, lb)
	checkSpreadsConnections(t, client, lb, 3)
	// `ziti edge login` first fetches the trust bundle at the host root
	// and base64-decodes it.
	resp, err := client.Get(lb + "/.well-known/est/cacerts")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if der, err := base64.StdEncoding.DecodeString(strings.ReplaceAll(string(raw), "\n", "")); resp.StatusCode != http.StatusOK || err != nil || len(der) == 0 {
		t.Fatalf("trust bundle at the root: %d %v %q", resp.StatusCode, err, raw)
	}
	interruptAndWait(t, cmd)
	for p := base; p <= base+6; p++ {
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(p), 200*time.Millisecond); err == nil {
			conn.Close()
			t.Fatalf("port %d still open after Ctrl-C: a child outlived quickstart", p)
		}
	}

	cmd, out = startQuickstart(t, home, base)
	defer interruptAndWait(t, cmd)
	if !strings.Contains(out, "reusing the cluster") {
		t.Fatalf("second start did not reuse the home:\n%s", out)
	}
	// The session from the first run survived the restart.
	req, _ := http.NewRequest("GET", lb+"/edge/client/v1/current-api-session", nil)
	req.Header.Set("zt-session", token)
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	raw, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	checkSpec(t, "GET", "/edge/client/v1/current-api-session", resp.StatusCode, raw)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("session from the first run: %d %s", resp.StatusCode, raw)
	}
}

// checkSpreadsConnections holds one idle keep-alive connection through the
// load balancer, as a client (or quickstart itself) might, then opens new
// connections and checks that every node answers its share of them.
func checkSpreadsConnections(t *testing.T, client *http.Client, lb string, nodes int) {
	t.Helper()
	idle := &http.Client{Transport: client.Transport.(*http.Transport).Clone()}
	idle.Transport.(*http.Transport).DisableKeepAlives = false
	defer idle.CloseIdleConnections()
	if resp, err := idle.Get(lb + "/edge/client/v1/version"); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	const conns = 24
	served := map[string]int{}
	for range conns {
		resp, err := client.Get(lb + "/edge/client/v1/version")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		served[resp.Header.Get("Garrison-Node")]++
	}
	if len(served) != nodes {
		t.Fatalf("%d new connections reached %v: not every node", conns, served)
	}
	for node, n := range served {
		if n < conns/nodes/2 {
			t.Fatalf("%d new connections reached %v: %s got fewer than half its share", conns, served, node)
		}
	}
}

// freeBase finds a base port with the seven ports above it free.
func freeBase(t *testing.T) int {
	t.Helper()
	for try := 0; try < 50; try++ {
		base := 20000 + (os.Getpid()*7+try*97)%30000
		ok := true
		for p := base; p <= base+6 && ok; p++ {
			l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
			if err != nil {
				ok = false
				continue
			}
			l.Close()
		}
		if ok {
			return base
		}
	}
	t.Fatal("no free port range")
	return 0
}

func caClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, DisableKeepAlives: true}}
}

func qsLogin(t *testing.T, client *http.Client, base string) string {
	t.Helper()
	resp, err := client.Post(base+"/edge/client/v1/authenticate?method=password", "application/json",
		strings.NewReader(`{"username":"admin","password":"qs-password-1"}`))
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	checkSpec(t, "POST", "/edge/client/v1/authenticate", resp.StatusCode, raw)
	var body struct {
		Data struct {
			Token string `json:"token"`
		} `json:"data"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal(raw, &body) != nil || body.Data.Token == "" {
		t.Fatalf("login through quickstart LB: %d %s", resp.StatusCode, raw)
	}
	return body.Data.Token
}

func interruptAndWait(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	_ = cmd.Process.Signal(os.Interrupt)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatal(fmt.Errorf("quickstart did not stop within 30s of Ctrl-C"))
	}
}
