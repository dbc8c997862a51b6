package e2e

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/internal/edge"
)

// createThrough posts body to the management path through the load
// balancer as admin and returns the new entity's id.
func (c *Cluster) createThrough(t *testing.T, admin, path string, body map[string]any) string {
	t.Helper()
	st, resp, _ := c.Do("POST", c.LBURL+"/edge/management/v1"+path, admin, body)
	if st != http.StatusCreated {
		t.Fatalf("create %s: %d %v", path, st, resp)
	}
	return dig(resp, "data", "id").(string)
}

// passwordUser creates an identity named name (under policy, "" for the
// default) that logs in with name and password, and returns its id.
func (c *Cluster) passwordUser(t *testing.T, admin, name, password, policy string) string {
	t.Helper()
	body := map[string]any{"name": name, "type": "User", "isAdmin": false}
	if policy != "" {
		body["authPolicyId"] = policy
	}
	id := c.createThrough(t, admin, "/identities", body)
	c.createThrough(t, admin, "/authenticators", map[string]any{"method": "updb", "identityId": id, "username": name, "password": password})
	return id
}

// authPolicy is an auth policy allowing certificates and passwords (of at
// least 5 characters, locked for ten minutes after maxAttempts failures, 0:
// never), and requiring TOTP if totp.
func authPolicy(name string, maxAttempts int, totp bool) map[string]any {
	return map[string]any{
		"name": name,
		"primary": map[string]any{
			"cert": map[string]any{"allowed": true, "allowExpiredCerts": true},
			"updb": map[string]any{"allowed": true, "minPasswordLength": 5, "requireSpecialChar": false, "requireNumberChar": false,
				"requireMixedCase": false, "maxAttempts": maxAttempts, "lockoutDurationMinutes": 10},
			"extJwt": map[string]any{"allowed": false, "allowedSigners": []string{}},
		},
		"secondary": map[string]any{"requireTotp": totp},
	}
}

// totpCodes reads the secret of an MFA provisioning URL and returns the
// code of the step steps away from now.
func totpCodes(t *testing.T, provisioningURL string) func(steps int) string {
	t.Helper()
	u, err := url.Parse(provisioningURL)
	if err != nil {
		t.Fatal(err)
	}
	secret := u.Query().Get("secret")
	return func(steps int) string {
		code, err := edge.TotpCode(secret, time.Now().Add(time.Duration(steps)*30*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return code
	}
}
