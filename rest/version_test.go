package rest

import (
	"net/http"
	"slices"
	"testing"
)

// TestVersion: / and /version on both Edge APIs answer without a session
// and advertise every API at this server's URL.
func TestVersion(t *testing.T) {
	e := env(t)
	for _, ap := range apis {
		for _, p := range []string{"/", "/version"} {
			path := ap.base + p
			t.Run(path, func(t *testing.T) {
				r := e.do(t, http.MethodGet, path, "", nil)
				if r.status != http.StatusOK {
					t.Fatalf("status %d, want 200: %s", r.status, r.raw)
				}
				versions, _ := r.data()["apiVersions"].(map[string]any)
				if versions == nil {
					t.Fatalf("no data.apiVersions in %s", r.raw)
				}
				for name, base := range map[string]string{
					APIEdgeClient:     ClientBase,
					APIEdgeManagement: ManagementBase,
					"edge":            ClientBase, // older SDKs look for "edge"
				} {
					v1, _ := versions[name].(map[string]any)["v1"].(map[string]any)
					if v1 == nil {
						t.Errorf("apiVersions.%s.v1 missing in %s", name, r.raw)
						continue
					}
					if got, _ := v1["path"].(string); got != base {
						t.Errorf("apiVersions.%s.v1.path = %q, want %q", name, got, base)
					}
					var urls []string
					list, _ := v1["apiBaseUrls"].([]any)
					for _, u := range list {
						s, _ := u.(string)
						urls = append(urls, s)
					}
					if want := e.url + base; !slices.Contains(urls, want) {
						t.Errorf("apiVersions.%s.v1.apiBaseUrls = %v, want it to contain %q", name, urls, want)
					}
				}
				if caps, _ := r.data()["capabilities"].([]any); !slices.Contains(caps, any("HA_CONTROLLER")) {
					t.Errorf("capabilities %v lack HA_CONTROLLER", caps)
				}
				if v, _ := r.data()["version"].(string); v == "" {
					t.Errorf("empty data.version in %s", r.raw)
				}
			})
		}
	}
}
