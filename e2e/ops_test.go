package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// cli runs garrison with a HOME shared by the cluster's CLI calls, so a
// saved login carries from one command to the next.
func (c *Cluster) cli(args ...string) (string, error) {
	c.t.Helper()
	if c.cliHome == "" {
		c.cliHome = c.t.TempDir()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, garrisonBin, args...)
	cmd.Env = append(os.Environ(), "HOME="+c.cliHome, "XDG_CONFIG_HOME=")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func (c *Cluster) mustCLI(args ...string) string {
	c.t.Helper()
	out, err := c.cli(args...)
	if err != nil {
		c.t.Fatalf("garrison %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

func (c *Cluster) cliMembers() []memberJSON {
	c.t.Helper()
	var rows []memberJSON
	out := c.mustCLI("cluster", "list", "-j")
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		c.t.Fatalf("cluster list -j: %v\n%s", err, out)
	}
	return rows
}

type memberJSON struct {
	ID        string `json:"id"`
	Address   string `json:"address"`
	Voter     bool   `json:"voter"`
	Leader    bool   `json:"leader"`
	Connected bool   `json:"connected"`
}

// listLen is the length of a list envelope's data, -1 if it has none.
func listLen(body map[string]any) int {
	list, ok := body["data"].([]any)
	if !ok {
		return -1
	}
	return len(list)
}

func leaderOf(rows []memberJSON) string {
	for _, r := range rows {
		if r.Leader {
			return r.ID
		}
	}
	return ""
}

func (c *Cluster) node(name string) *Node {
	for _, n := range c.Nodes {
		if n.Name == name {
			return n
		}
	}
	c.t.Fatalf("no node %s", name)
	return nil
}

func TestClusterOperationsThroughCLI(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	c.mustCLI("edge", "login", c.LBURL, "-u", adminUser, "-p", adminPassword, "--ca", c.caFile)

	rows := c.cliMembers()
	if len(rows) != 3 || leaderOf(rows) == "" {
		t.Fatalf("list: %+v", rows)
	}
	table := c.mustCLI("cluster", "list")
	if !strings.Contains(table, "LAST CONTACT") || strings.Count(table, "voter") != 3 {
		t.Fatalf("table output:\n%s", table)
	}

	// Transfer leadership to a chosen follower.
	var target string
	for _, r := range rows {
		if !r.Leader {
			target = r.ID
			break
		}
	}
	c.mustCLI("cluster", "transfer-leadership", target)
	c.eventually(10*time.Second, "leadership moved to "+target, func() error {
		if l := leaderOf(c.cliMembers()); l != target {
			return fmt.Errorf("leader is %s", l)
		}
		return nil
	})
	if out, err := c.cli("cluster", "transfer-leadership", "no-such-node"); err == nil || !strings.Contains(out, "NOT_FOUND") {
		t.Fatalf("transfer to unknown node: %v %s", err, out)
	}

	// Remove a follower: it leaves the member list and the controllers list.
	var victim string
	for _, r := range c.cliMembers() {
		if !r.Leader {
			victim = r.ID
			break
		}
	}
	c.mustCLI("cluster", "remove", victim)
	// A removed node's state is frozen: it refuses reads (503
	// NOT_A_MEMBER) instead of answering stale. Stop it, as an operator
	// would, so the load balancer leaves it out.
	v := c.node(victim)
	v.Kill9()
	c.eventually(10*time.Second, "member list without "+victim, func() error {
		out, err := c.cli("cluster", "list", "-j")
		if err != nil {
			return fmt.Errorf("%v: %s", err, out)
		}
		var rows []memberJSON
		if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 2 {
			return fmt.Errorf("%v: %s", err, out)
		}
		return nil
	})
	var remaining *Node
	for _, n := range c.Nodes {
		if n.Name != victim {
			remaining = n
		}
	}
	admin := c.Login(remaining.URL())
	c.eventually(5*time.Second, "controller record removed", func() error {
		_, body, _ := c.Do("GET", remaining.URL()+"/edge/management/v1/controllers", admin, nil)
		if n := listLen(body); n != 2 {
			return fmt.Errorf("%d controllers", n)
		}
		return nil
	})

	// Re-add it as a fresh node (new data dir), as an operator would.
	if err := os.RemoveAll(v.DataDir); err != nil {
		t.Fatal(err)
	}
	v.Start()
	c.mustCLI("cluster", "add", v.ClusterAddr)
	c.waitHealthy(30 * time.Second)
	c.eventually(10*time.Second, "re-added node recorded itself", func() error {
		_, body, _ := c.Do("GET", v.URL()+"/edge/client/v1/controllers", admin, nil)
		if n := listLen(body); n != 3 {
			return fmt.Errorf("%d controllers", n)
		}
		return nil
	})
	// The re-added node has the state, including sessions made while it was out.
	if st := c.SessionValid(v.URL(), admin); st != http.StatusOK {
		t.Fatalf("re-added node lacks state: %d", st)
	}
}

// After losing two of three nodes for good, the operator recovers the
// survivor as a one-node cluster, keeps all its state, and grows again.
func TestRecoverFromLostQuorum(t *testing.T) {
	c := newCluster(t, clusterOptions{noHAProxy: true})
	token := c.Login(c.Nodes[0].URL())
	survivor, lost := c.Nodes[0], c.Nodes[1:]
	for _, n := range lost {
		n.Kill9()
		if err := os.RemoveAll(n.DataDir); err != nil {
			t.Fatal(err)
		}
	}
	survivor.Stop()
	if out, err := c.cli("cluster", "recover", "--config", survivor.ConfigPath); err != nil {
		t.Fatalf("recover: %v\n%s", err, out)
	}
	survivor.Start()
	c.eventually(20*time.Second, "survivor accepts writes alone", func() error {
		if _, st := c.TryLogin(survivor.URL()); st != http.StatusOK {
			return fmt.Errorf("status %d", st)
		}
		return nil
	})
	if st := c.SessionValid(survivor.URL(), token); st != http.StatusOK {
		t.Fatalf("state lost in recovery: %d", st)
	}
	for _, n := range lost {
		n.Start()
		c.mustCLI("cluster", "add", n.ClusterAddr, "--url", survivor.URL(), "--ca", c.caFile, "-u", adminUser, "-p", adminPassword)
	}
	c.waitHealthy(30 * time.Second)
	for _, n := range lost {
		if st := c.SessionValid(n.URL(), token); st != http.StatusOK {
			t.Fatalf("%s rejoined without the state: %d", n.Name, st)
		}
	}
}
