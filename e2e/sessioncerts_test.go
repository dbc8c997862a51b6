package e2e

import (
	"fmt"
	"net/http"
	"testing"
)

// An API session certificate is created through one node, seen through
// another, and gone on every node once its session is logged out through
// a third.
func TestSessionCertificatesDieWithSessionEverywhere(t *testing.T) {
	c := newCluster(t, clusterOptions{noHAProxy: true})
	n1, n2, n3 := c.Nodes[0], c.Nodes[1], c.Nodes[2]
	token := c.Login(n1.URL())
	csr, _ := newCSR(t, "session-cert")
	st, body, _ := c.Do("POST", n1.URL()+"/edge/client/v1/current-api-session/certificates", token, map[string]any{"csr": csr})
	if st != http.StatusCreated {
		t.Fatalf("create on node1: %d %v", st, body)
	}
	id, _ := dig(body, "data", "id").(string)
	c.atOnce("certificate listed on node2", func() error {
		st, body, _ := c.Do("GET", n2.URL()+"/edge/client/v1/current-api-session/certificates", token, nil)
		if st != http.StatusOK || listLen(body) != 1 || dig(body, "data", 0, "id") != id {
			return fmt.Errorf("%d %v", st, body)
		}
		return nil
	})
	if st, _, _ := c.Do("DELETE", n3.URL()+"/edge/client/v1/current-api-session", token, nil); st != http.StatusOK {
		t.Fatalf("logout via node3: %d", st)
	}
	for _, n := range c.Nodes {
		c.atOnce("certificate gone on "+n.Name, func() error {
			st, body, _ := c.Do("GET", n.URL()+"/edge/client/v1/current-api-session/certificates/"+id, token, nil)
			if st != http.StatusUnauthorized {
				return fmt.Errorf("%d %v", st, body)
			}
			return nil
		})
	}
	// A new session of the same identity does not inherit it.
	fresh := c.Login(n2.URL())
	st, body, _ = c.Do("GET", n2.URL()+"/edge/client/v1/current-api-session/certificates/"+id, fresh, nil)
	if st != http.StatusNotFound {
		t.Fatalf("old session's certificate seen by a new session: %d %v", st, body)
	}
}
