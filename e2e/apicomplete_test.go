package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

// The whole API on a real cluster: every operation of the three
// definitions is routed, through a node and through HAProxy (garrison
// spec-coverage); a revocation made on one node refuses its tokens on the
// others at once; the new resources work across nodes.
func TestAPIComplete(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	for _, url := range []string{c.Nodes[0].URL(), c.LBURL} {
		out := mustGarrison(t, "spec-coverage", "--url", url, "--ca", c.caFile)
		for _, want := range []string{"/edge/client/v1: 59 of 59", "/edge/management/v1: 199 of 199", "/fabric/v1: 37 of 37"} {
			if !strings.Contains(out, want) {
				t.Errorf("spec-coverage of %s: no %q in\n%s", url, want, out)
			}
		}
	}

	admin := c.Login(c.LBURL)
	mgmt := func(n *Node) string { return n.URL() + "/edge/management/v1" }
	t.Run("revocations take effect on every node at once", func(t *testing.T) {
		// An identity with a password, logged in on node 2.
		st, body, _ := c.Do(http.MethodPost, mgmt(c.Nodes[0])+"/identities", admin, map[string]any{"name": "revoked-one", "type": "User", "isAdmin": false})
		if st != http.StatusCreated {
			t.Fatalf("identity: %d %v", st, body)
		}
		id := dig(body, "data", "id").(string)
		if st, body, _ := c.Do(http.MethodPost, mgmt(c.Nodes[0])+"/authenticators", admin,
			map[string]any{"method": "updb", "identityId": id, "username": "revoked-one", "password": "revoked-pw-1"}); st != http.StatusCreated {
			t.Fatalf("authenticator: %d %v", st, body)
		}
		login := func() (session, access string) {
			st, body, _ := c.Do(http.MethodPost, c.Nodes[1].URL()+"/edge/client/v1/authenticate?method=password", "",
				map[string]string{"username": "revoked-one", "password": "revoked-pw-1"})
			if st != http.StatusOK {
				t.Fatalf("login: %d %v", st, body)
			}
			return dig(body, "data", "token").(string), dig(body, "data", "accessToken").(string)
		}
		bearer := func(n string, token string) int {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, n+"/edge/client/v1/current-identity", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := c.http.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			return resp.StatusCode
		}
		session, access := login()
		// JTI, revoked through node 1: refused on nodes 2 and 3 and HAProxy
		// in the very next request; the session's own token still works.
		if st, body, _ := c.Do(http.MethodPost, mgmt(c.Nodes[0])+"/revocations", admin, map[string]any{"id": jti(t, access), "type": "JTI"}); st != http.StatusCreated {
			t.Fatalf("revoke: %d %v", st, body)
		}
		for _, url := range []string{c.Nodes[1].URL(), c.Nodes[2].URL(), c.LBURL} {
			if st := bearer(url, access); st != http.StatusUnauthorized {
				t.Errorf("a revoked access token at %s: %d", url, st)
			}
			if st, _, _ := c.Do(http.MethodGet, url+"/edge/client/v1/current-identity", session, nil); st != http.StatusOK {
				t.Errorf("the session beside it at %s: %d", url, st)
			}
		}
		// IDENTITY, revoked through node 3: every session refused at once.
		if st, body, _ := c.Do(http.MethodPost, mgmt(c.Nodes[2])+"/revocations", admin, map[string]any{"id": id, "type": "IDENTITY"}); st != http.StatusCreated {
			t.Fatalf("revoke identity: %d %v", st, body)
		}
		for _, n := range c.Nodes {
			if st, _, _ := c.Do(http.MethodGet, n.URL()+"/edge/client/v1/current-identity", session, nil); st != http.StatusUnauthorized {
				t.Errorf("a revoked identity's session at %s: %d", n.Name, st)
			}
		}
		if st, _, _ := c.Do(http.MethodGet, c.Nodes[0].URL()+"/edge/management/v1/revocations/"+id, admin, nil); st != http.StatusOK {
			t.Errorf("the revocation on node 1: %d", st)
		}
	})
	t.Run("transit routers and the fabric across nodes", func(t *testing.T) {
		st, body, _ := c.Do(http.MethodPost, mgmt(c.Nodes[0])+"/transit-routers", admin, map[string]any{"name": "tr-e2e", "cost": 3})
		if st != http.StatusCreated {
			t.Fatalf("create: %d %v", st, body)
		}
		id := dig(body, "data", "id").(string)
		if st, body, _ := c.Do(http.MethodGet, mgmt(c.Nodes[1])+"/transit-routers/"+id, admin, nil); st != http.StatusOK || dig(body, "data", "enrollmentJwt") == nil {
			t.Fatalf("read on node 2: %d %v", st, body)
		}
		if st, body, _ := c.Do(http.MethodPatch, c.Nodes[2].URL()+"/fabric/v1/routers/"+id, admin, map[string]any{"cost": 9}); st != http.StatusOK {
			t.Fatalf("patch through the fabric on node 3: %d %v", st, body)
		}
		st, body, _ = c.Do(http.MethodGet, c.LBURL+"/fabric/v1/routers?filter="+strings.ReplaceAll(`id="`+id+`"`, `"`, "%22"), admin, nil)
		if st != http.StatusOK || dig(body, "data", 0, "cost") != float64(9) || dig(body, "data", 0, "connected") != false {
			t.Fatalf("fabric list through HAProxy: %d %v", st, body)
		}
		if st, _, _ := c.Do(http.MethodDelete, mgmt(c.Nodes[1])+"/transit-routers/"+id, admin, nil); st != http.StatusOK {
			t.Fatalf("delete on node 2: %d", st)
		}
		if st, _, _ := c.Do(http.MethodGet, c.Nodes[2].URL()+"/fabric/v1/routers/"+id, admin, nil); st != http.StatusNotFound {
			t.Fatalf("after the delete, node 3: %d", st)
		}
	})
	t.Run("the CLI covers the new resources", func(t *testing.T) {
		auth := []string{"--url", c.LBURL, "--ca", c.caFile, "-u", adminUser, "-p", adminPassword}
		run := func(args ...string) string { return mustGarrison(t, append(args, auth...)...) }
		run("fabric", "create", "router", "cli-r", "--id", "cli-r", "--cost", "4", "--no-traversal=false")
		if out := run("fabric", "list", "routers", "--filter", `name = "cli-r"`); !strings.Contains(out, "cli-r") {
			t.Errorf("fabric list routers:\n%s", out)
		}
		if out := run("edge", "list", "transit-routers"); !strings.Contains(out, "cli-r") {
			t.Errorf("edge list transit-routers:\n%s", out)
		}
		run("edge", "create", "revocation", "--id", "cli-jti", "--type", "JTI")
		if out := run("edge", "list", "revocations"); !strings.Contains(out, "cli-jti") {
			t.Errorf("edge list revocations:\n%s", out)
		}
		run("fabric", "delete", "router", "cli-r")
		if out := run("fabric", "list", "routers", "--filter", `name = "cli-r"`); !strings.Contains(out, "results: 0 of 0") {
			t.Errorf("after the delete:\n%s", out)
		}
		if out := run("fabric", "list", "links"); !strings.Contains(out, "results: 0 of 0") {
			t.Errorf("fabric list links:\n%s", out)
		}
	})
}

// jti reads a JWT's id without checking the token.
func jti(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %q", token)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	var claims struct {
		ID string `json:"jti"`
	}
	if err := json.Unmarshal(raw, &claims); err != nil || claims.ID == "" {
		t.Fatalf("no jti in %s", raw)
	}
	return claims.ID
}
