package main

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/garrison-ctrl/garrison/deploy"
	"github.com/garrison-ctrl/garrison/pki"
	"github.com/garrison-ctrl/garrison/rest"
)

type quickstartOptions struct {
	home      string
	nodes     int
	basePort  int
	username  string
	password  string
	noHAProxy bool
	logLevel  string
}

func newQuickstartCommand() *cobra.Command {
	o := quickstartOptions{}
	cmd := &cobra.Command{
		Use:   "quickstart",
		Short: "Create and run a local cluster on 127.0.0.1 (with HAProxy in front when installed)",
		Long: `Creates PKI and node configurations under --home, starts the nodes on
127.0.0.1 (API ports base+1..base+N, cluster ports base+N+1..base+2N), forms the
cluster, creates the admin, and, when haproxy is installed, starts HAProxy in
TCP pass-through mode on the base port. Runs in the foreground; Ctrl-C stops
everything. Started again on the same --home it restarts the same cluster
with its data.`,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if o.home == "" {
				h, err := os.UserHomeDir()
				if err != nil {
					return fmt.Errorf("no --home and no user home dir: %w", err)
				}
				o.home = filepath.Join(h, ".garrison", "quickstart")
			}
			if o.password == "" {
				o.password = os.Getenv("GARRISON_PASSWORD")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			return runQuickstart(ctx, o, cmd.OutOrStdout())
		},
	}
	cmd.Flags().StringVar(&o.home, "home", "", "directory for PKI, configs, data and logs (default ~/.garrison/quickstart)")
	cmd.Flags().IntVar(&o.nodes, "nodes", 3, "number of nodes")
	cmd.Flags().IntVar(&o.basePort, "base-port", 1280, "load balancer port; nodes use the ports above it")
	cmd.Flags().StringVarP(&o.username, "username", "u", "admin", "admin username")
	cmd.Flags().StringVarP(&o.password, "password", "p", "", "admin password (default: generated and printed, or $GARRISON_PASSWORD)")
	cmd.Flags().BoolVar(&o.noHAProxy, "no-haproxy", false, "do not start HAProxy even if it is installed")
	cmd.Flags().StringVar(&o.logLevel, "log-level", "info", "nodes' log level")
	return cmd
}

// quickstartState is kept in the home so a restart reuses the same login.
type quickstartState struct {
	Username string `json:"username"`
	Password string `json:"password"`
	Nodes    int    `json:"nodes"`
	BasePort int    `json:"basePort"`
}

func runQuickstart(ctx context.Context, o quickstartOptions, out io.Writer) error {
	home, err := filepath.Abs(o.home)
	if err != nil {
		return err
	}
	statePath := filepath.Join(home, "quickstart.json")
	state, err := readQuickstartState(statePath)
	fresh := errors.Is(err, os.ErrNotExist)
	if err != nil && !fresh {
		return err
	}
	if fresh {
		if o.nodes < 1 || o.nodes > 9 {
			return fmt.Errorf("--nodes must be 1 to 9")
		}
		if o.password == "" {
			if o.password, err = randomPassword(20); err != nil {
				return err
			}
		}
		// A home left by a start that failed before the cluster formed holds
		// PKI and configs but no state file: start over in it. Only ever in
		// a directory quickstart made itself (the marker), never in one that
		// merely looks like it, such as an operator's /etc/garrison.
		marker := filepath.Join(home, quickstartMarker)
		if entries, err := os.ReadDir(home); err == nil && len(entries) > 0 {
			if _, err := os.Stat(marker); err != nil {
				return fmt.Errorf("%s is not empty and was not made by quickstart; choose another --home", home)
			}
		}
		if err := os.MkdirAll(home, 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(marker, []byte("made by garrison quickstart\n"), 0o600); err != nil {
			return err
		}
		for i := 1; i <= 9; i++ {
			_ = os.RemoveAll(filepath.Join(home, nodeName(i)))
		}
		_ = os.RemoveAll(filepath.Join(home, "pki"))
		state = &quickstartState{Username: o.username, Password: o.password, Nodes: o.nodes, BasePort: o.basePort}
		publicURL := ""
		if deploy.FindHAProxy() != "" && !o.noHAProxy {
			publicURL = "https://127.0.0.1:" + strconv.Itoa(o.basePort)
		}
		if err := createQuickstartHome(home, state, o.logLevel, publicURL); err != nil {
			return err
		}
	} else {
		fmt.Fprintf(out, "reusing the cluster in %s (data is kept; delete the directory for a fresh one)\n", home)
	}

	self, err := os.Executable()
	if err != nil {
		return err
	}
	procs := &processGroup{}
	defer procs.stopAll(out)
	configs := make([]*NodeConfig, state.Nodes)
	for i := range configs {
		cfgPath := filepath.Join(home, nodeName(i+1), "node.yml")
		if configs[i], err = loadNodeConfig(cfgPath); err != nil {
			return err
		}
		logPath := filepath.Join(home, nodeName(i+1), "garrison.log")
		if err := procs.start(nodeName(i+1), logPath, self, "run", "--config", cfgPath); err != nil {
			return err
		}
	}
	caFile := filepath.Join(home, "pki", "ca.pem")
	if fresh {
		if err := formQuickstartCluster(ctx, configs, state, caFile, out); err != nil {
			return err
		}
		// Only a formed cluster makes the home reusable.
		data, _ := json.MarshalIndent(state, "", "  ")
		if err := os.WriteFile(statePath, data, 0o600); err != nil {
			return err
		}
	}
	if err := waitClusterReady(ctx, configs, state, caFile); err != nil {
		return err
	}

	lbURL := ""
	if haproxy := deploy.FindHAProxy(); haproxy != "" && !o.noHAProxy {
		cfgPath := filepath.Join(home, "haproxy.cfg")
		hc := deploy.HAProxyConfig{BindAddress: "127.0.0.1:" + strconv.Itoa(state.BasePort)}
		for i, c := range configs {
			hc.Servers = append(hc.Servers, deploy.HAProxyServer{Name: nodeName(i + 1), Address: c.APIAddress})
		}
		data, err := deploy.RenderHAProxy(hc)
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfgPath, data, 0o600); err != nil {
			return err
		}
		if err := procs.start("haproxy", filepath.Join(home, "haproxy.log"), haproxy, "-db", "-f", cfgPath); err != nil {
			return err
		}
		lbURL = "https://127.0.0.1:" + strconv.Itoa(state.BasePort)
		lb, err := newAPIClient(lbURL, caFile)
		if err != nil {
			return err
		}
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		err = retry(wctx, func() error { return lb.do(wctx, http.MethodGet, "/edge/client/v1/version", nil, nil) })
		cancel()
		// An idle connection kept through the load balancer would count
		// against one node for as long as quickstart runs.
		lb.close()
		if err != nil {
			return fmt.Errorf("HAProxy on %s does not answer (see %s): %w", lbURL, filepath.Join(home, "haproxy.log"), err)
		}
	}

	fmt.Fprintf(out, "\nGarrison quickstart: %d node(s) in %s\n", state.Nodes, home)
	for i, c := range configs {
		fmt.Fprintf(out, "  %s  https://%s  (cluster %s, log %s)\n", nodeName(i+1), c.AdvertiseAPIAddress, c.AdvertiseCluster,
			filepath.Join(home, nodeName(i+1), "garrison.log"))
	}
	if lbURL != "" {
		fmt.Fprintf(out, "  load balancer (HAProxy, TCP pass-through)  %s\n", lbURL)
	} else {
		fmt.Fprintf(out, "  no load balancer: install haproxy (apt-get install haproxy) and restart to get one on port %d\n", state.BasePort)
		lbURL = "https://" + configs[0].AdvertiseAPIAddress
	}
	fmt.Fprintf(out, "  admin login: %s / %s\n  CA bundle:   %s\n", state.Username, state.Password, caFile)
	fmt.Fprintf(out, "  try: garrison edge login %s -u %s -p '%s' --ca %s && garrison cluster list\n", lbURL, state.Username, state.Password, caFile)
	fmt.Fprintf(out, "Press Ctrl-C to stop.\n")
	<-ctx.Done()
	fmt.Fprintln(out, "stopping...")
	return nil
}

// quickstartMarker marks a directory as a quickstart home.
const quickstartMarker = ".garrison-quickstart"

func nodeName(i int) string { return "node" + strconv.Itoa(i) }

func readQuickstartState(path string) (*quickstartState, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	s := &quickstartState{}
	if err := json.Unmarshal(data, s); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return s, nil
}

// createQuickstartHome writes the PKI (root CA, the shared API certificate,
// each node's files) and node configs. publicURL, the load balancer's URL,
// is the issuer of enrollment JWTs; empty: each node's own URL.
func createQuickstartHome(home string, s *quickstartState, logLevel, publicURL string) error {
	if err := os.MkdirAll(filepath.Join(home, "pki"), 0o700); err != nil {
		return err
	}
	root, err := pki.NewRootCA("Garrison Quickstart Root CA", 0)
	if err != nil {
		return err
	}
	if err := root.Save(filepath.Join(home, "pki", "ca.pem"), filepath.Join(home, "pki", "ca.key")); err != nil {
		return err
	}
	apiCert, apiKey := filepath.Join(home, "pki", pkiAPICertFileName), filepath.Join(home, "pki", pkiAPIKeyFileName)
	chainPEM, keyPEM, err := root.IssueAPICert(pki.APICertRequest{DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")}})
	if err != nil {
		return err
	}
	if err := os.WriteFile(apiKey, keyPEM, 0o600); err != nil {
		return err
	}
	if err := os.WriteFile(apiCert, chainPEM, 0o644); err != nil {
		return err
	}
	for i := 1; i <= s.Nodes; i++ {
		dir := filepath.Join(home, nodeName(i))
		files, err := pki.CreateNodeFiles(root, filepath.Join(dir, "pki"), pki.NodeCertRequest{
			Name: nodeName(i), DNSNames: []string{"localhost"}, IPs: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1")},
		})
		if err != nil {
			return err
		}
		cfg := &NodeConfig{
			Name: nodeName(i), DataDir: filepath.Join(dir, "data"),
			ClusterAddress: "127.0.0.1:" + strconv.Itoa(s.BasePort+s.Nodes+i),
			APIAddress:     "127.0.0.1:" + strconv.Itoa(s.BasePort+i),
			LogLevel:       logLevel,
			PublicURL:      publicURL,
			// As OpenZiti's quickstart: a local cluster to look at.
			Metrics: MetricsConfig{Enabled: true},
			PKI: PKIConfig{CA: files.CA, Cert: files.ServerCert, Key: files.ServerKey, SigningCert: files.SigningCert,
				SigningKey: files.SigningKey, IntermediateCert: files.IntermediateCert, IntermediateKey: files.IntermediateKey,
				APICert: apiCert, APIKey: apiKey},
		}
		if err := writeNodeConfig(filepath.Join(dir, "node.yml"), cfg); err != nil {
			return err
		}
	}
	return nil
}

// formQuickstartCluster initialises node1 and adds the others.
func formQuickstartCluster(ctx context.Context, configs []*NodeConfig, s *quickstartState, caFile string, out io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	init := rest.InitRequest{AdminUsername: s.Username, AdminPassword: s.Password, AdminName: "admin"}
	if err := retry(ctx, func() error {
		return agentCall(ctx, configs[0].agentSocket(), http.MethodPost, rest.AgentInitPath, init, nil)
	}); err != nil {
		return fmt.Errorf("initialise %s: %w", configs[0].Name, err)
	}
	fmt.Fprintf(out, "initialised the cluster on %s\n", configs[0].Name)
	c, err := newAPIClient(configs[0].AdvertiseAPIAddress, caFile)
	if err != nil {
		return err
	}
	if err := retry(ctx, func() error { return c.login(ctx, s.Username, s.Password) }); err != nil {
		return err
	}
	for _, cfg := range configs[1:] {
		body := map[string]any{"address": "tls:" + cfg.AdvertiseCluster, "isVoter": true}
		if err := retry(ctx, func() error {
			return c.do(ctx, http.MethodPost, "/fabric/v1/cluster/add-member", body, nil)
		}); err != nil {
			return fmt.Errorf("add %s: %w", cfg.Name, err)
		}
		fmt.Fprintf(out, "added %s\n", cfg.Name)
	}
	return nil
}

// waitClusterReady waits until every member is connected to node1.
func waitClusterReady(ctx context.Context, configs []*NodeConfig, s *quickstartState, caFile string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	return retry(ctx, func() error {
		for _, cfg := range configs {
			c, err := newAPIClient(cfg.AdvertiseAPIAddress, caFile)
			if err != nil {
				return err
			}
			if err := c.login(ctx, s.Username, s.Password); err != nil {
				return err
			}
			var rows []memberRow
			if err := c.do(ctx, http.MethodGet, "/fabric/v1/cluster/list-members", nil, &rows); err != nil {
				return err
			}
			if len(rows) != len(configs) {
				return fmt.Errorf("%s sees %d members", cfg.Name, len(rows))
			}
			for _, r := range rows {
				if !r.Connected {
					return fmt.Errorf("%s not connected", r.ID)
				}
			}
		}
		return nil
	})
}

func retry(ctx context.Context, fn func() error) error {
	for {
		err := fn()
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randomPassword(n int) (string, error) {
	const alphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alphabet))))
		if err != nil {
			return "", err
		}
		b[i] = alphabet[v.Int64()]
	}
	return string(b), nil
}

// processGroup runs the quickstart's child processes. Children get SIGTERM
// if the quickstart process dies, so none outlive it.
type processGroup struct {
	procs  []*exec.Cmd
	names  []string
	exited []chan struct{}
}

func (g *processGroup) start(name, logPath, bin string, args ...string) error {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(exited) }()
	g.procs = append(g.procs, cmd)
	g.names = append(g.names, name)
	g.exited = append(g.exited, exited)
	return nil
}

func (g *processGroup) stopAll(out io.Writer) {
	for _, p := range g.procs {
		_ = p.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.Now().Add(10 * time.Second)
	for i, p := range g.procs {
		select {
		case <-g.exited[i]:
		case <-time.After(time.Until(deadline)):
			fmt.Fprintf(out, "%s did not stop in time; killing it\n", g.names[i])
			_ = p.Process.Kill()
			<-g.exited[i]
		}
	}
}
