package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Config types and configs through the generic CLI commands, read back on
// every node: a resource declared with the framework needs no CLI code of
// its own. The CLI talks to one node, which reads its own writes at once;
// the other nodes are read once they have applied them (a read through the
// load balancer does not yet wait for that: issue 9).
func TestConfigsServicesAndPoliciesThroughCLI(t *testing.T) {
	c := newCluster(t, clusterOptions{noHAProxy: true})
	c.mustCLI("edge", "login", c.Nodes[0].URL(), "-u", adminUser, "-p", adminPassword, "--ca", c.caFile)

	typeFile := filepath.Join(t.TempDir(), "host.v1.yaml")
	if err := os.WriteFile(typeFile, []byte(`name: host.v1
schema:
  type: object
  properties:
    address: {type: string}
    port: {type: integer, minimum: 1, maximum: 65535}
  required: [address, port]
`), 0o600); err != nil {
		t.Fatal(err)
	}
	if out := c.mustCLI("edge", "create", "config-type", "-f", typeFile); !strings.Contains(out, "created with id") {
		t.Fatalf("create config-type: %s", out)
	}
	// The type is named, not given by id: the CLI resolves it.
	if out := c.mustCLI("edge", "create", "config", "web-host", "--config-type-id", "host.v1", "--data", `{"address":"10.0.0.1","port":8080}`); !strings.Contains(out, "created with id") {
		t.Fatalf("create config: %s", out)
	}
	if out, err := c.cli("edge", "create", "config", "bad-host", "--config-type-id", "host.v1", "--data", `{"address":"10.0.0.1","port":0}`); err == nil || !strings.Contains(out, "data.port") {
		t.Fatalf("config violating the schema: %v %s", err, out)
	}
	c.mustCLI("edge", "update", "config", "web-host", "--data", `{"address":"10.0.0.2","port":8443}`)

	var rows []map[string]any
	js := c.mustCLI("edge", "list", "configs", "--filter", `name = "web-host"`, "-j")
	if err := json.Unmarshal([]byte(js), &rows); err != nil || len(rows) != 1 || dig(rows[0], "data", "port") != float64(8443) || dig(rows[0], "configType", "name") != "host.v1" {
		t.Fatalf("edge list configs: %v %s", err, js)
	}
	// Every node has it, read from its own store.
	for _, n := range c.Nodes {
		token := c.Login(n.URL())
		c.atOnce("the config on "+n.Name, func() error {
			st, body, _ := c.Do("GET", n.URL()+"/edge/management/v1/configs?filter="+urlQuery(`type = "`+rows[0]["configTypeId"].(string)+`"`), token, nil)
			if st != http.StatusOK || listLen(body) != 1 || dig(body, "data", 0, "data", "port") != float64(8443) {
				return fmt.Errorf("%d %v", st, body)
			}
			return nil
		})
	}
	// A service with the config, and a policy letting #web identities dial
	// it, through the CLI; the policy's services read on another node.
	cfgID := rows[0]["id"].(string)
	if out := c.mustCLI("edge", "create", "service", "web", "--encryption-required", "--configs", cfgID, "-a", "web"); !strings.Contains(out, "created with id") {
		t.Fatalf("create service: %s", out)
	}
	if out := c.mustCLI("edge", "create", "service-policy", "web-dial", "--type", "Dial", "--semantic", "AnyOf",
		"--identity-roles", "#web", "--service-roles", "#web"); !strings.Contains(out, "created with id") {
		t.Fatalf("create service policy: %s", out)
	}
	if out, err := c.cli("edge", "create", "service-policy", "bad", "--type", "Dial", "--semantic", "AnyOf", "--identity-roles", "#all,#web"); err == nil || !strings.Contains(out, "identityRoles") {
		t.Fatalf("#all with another role through the CLI: %v %s", err, out)
	}
	var policies []map[string]any
	if err := json.Unmarshal([]byte(c.mustCLI("edge", "list", "service-policies", "-j")), &policies); err != nil || len(policies) != 1 {
		t.Fatalf("edge list service-policies: %v %v", err, policies)
	}
	admin3 := c.Login(c.Nodes[2].URL())
	st, body, _ := c.Do("GET", c.Nodes[2].URL()+"/edge/management/v1/service-policies/"+policies[0]["id"].(string)+"/services", admin3, nil)
	if st != http.StatusOK || listLen(body) != 1 || dig(body, "data", 0, "name") != "web" {
		t.Fatalf("the policy's services on node3: %d %v", st, body)
	}
	c.mustCLI("edge", "delete", "service", "web")
	c.mustCLI("edge", "delete", "service-policy", "web-dial")
	if out, err := c.cli("edge", "delete", "config-type", "host.v1"); err == nil || !strings.Contains(out, "CONFLICT_CANNOT_MODIFY_REFERENCED") {
		t.Fatalf("delete a config type in use: %v %s", err, out)
	}
	c.mustCLI("edge", "delete", "config", "web-host")
	c.mustCLI("edge", "delete", "config-type", "host.v1")
	if table := c.mustCLI("edge", "list", "config-types"); !strings.Contains(table, "results: 0 of 0") {
		t.Fatalf("config types left:\n%s", table)
	}
}
