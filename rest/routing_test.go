package rest

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

// envelopeShapeOf validates an error body that answers a path or method the
// spec does not describe against the spec's apiErrorEnvelope, taken from an
// operation of the same API that documents a 404 with it.
func envelopeShapeOf(t *testing.T, base string, body []byte) {
	t.Helper()
	if err := apispec.ValidateHTTP(http.MethodGet, base+"/services/some-id", http.StatusNotFound, body); err != nil {
		t.Errorf("error body is not an apiErrorEnvelope: %v", err)
	}
}

func TestUnknownPath(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	for _, c := range []struct{ base, path string }{
		{ClientBase, ClientBase + "/no-such-thing"},
		{ClientBase, ClientBase + "/versions"},
		{ClientBase, ClientBase + "/controllers/n1/extra"},
		{ManagementBase, ManagementBase + "/no-such-thing"},
		{ManagementBase, ManagementBase + "/identities-x"},
		{FabricBase, FabricBase + "/cluster/no-such-op"},
		{FabricBase, FabricBase + "/nope"},
		{"", "/no-such-api/v1/version"},
	} {
		t.Run(c.path, func(t *testing.T) {
			// apispec cannot check a path the spec does not have: the body
			// is checked here and, for API paths, against the spec's error
			// envelope.
			for _, tok := range []string{"", token} {
				r := e.doUnchecked(t, http.MethodGet, c.path, tok, nil)
				wantError(t, "GET "+c.path, r, http.StatusNotFound, api.CodeNotFound)
				if c.base != "" {
					envelopeShapeOf(t, c.base, r.raw)
				}
			}
		})
	}
}

func TestMethodNotAllowed(t *testing.T) {
	e := env(t)
	for _, c := range []struct{ base, method, path string }{
		{ClientBase, http.MethodPut, ClientBase + "/version"},
		{ManagementBase, http.MethodPut, ManagementBase + "/version"},
		{ClientBase, http.MethodGet, ClientBase + "/authenticate"},
		{ManagementBase, http.MethodPost, ManagementBase + "/current-identity"},
		{ClientBase, http.MethodPatch, ClientBase + "/current-api-session"},
		{FabricBase, http.MethodPost, FabricBase + "/cluster/list-members"},
		{FabricBase, http.MethodGet, FabricBase + "/cluster/add-member"},
	} {
		t.Run(c.method+" "+c.path, func(t *testing.T) {
			// Not an operation of the spec: checked by hand, plus the shape
			// of the spec's error envelope.
			r := e.doUnchecked(t, c.method, c.path, "", nil)
			if r.status == http.StatusNotFound {
				t.Errorf("BUG: %s %s answered 404: gorilla/mux v1.8.1 drops the method mismatch in subrouters (gorilla/mux#751), so the MethodNotAllowedHandlers set in server.go Handler never run", c.method, c.path)
			}
			wantError(t, c.method+" "+c.path, r, http.StatusMethodNotAllowed, api.CodeMethodNotAllowed)
			envelopeShapeOf(t, c.base, r.raw)
		})
	}
}

// TestRequestID: every answer carries a fresh X-Request-Id.
func TestRequestID(t *testing.T) {
	e := env(t)
	a := e.do(t, http.MethodGet, ClientBase+"/version", "", nil)
	b := e.do(t, http.MethodGet, ClientBase+"/version", "", nil)
	ida, idb := a.header.Get("X-Request-Id"), b.header.Get("X-Request-Id")
	if ida == "" || idb == "" || ida == idb {
		t.Errorf("X-Request-Id %q then %q, want two distinct ids", ida, idb)
	}
}

// The Edge Client API answers at the host root too, where OpenZiti's CLI and
// SDKs look: the version and trust bundle at /, /version and
// /.well-known/est/cacerts, the old base /edge/v1, and bare paths.
func TestClientAPIAliases(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	for _, c := range []struct{ method, alias, canonical, token string }{
		{http.MethodGet, "/", ClientBase + "/version", ""},
		{http.MethodGet, "/version", ClientBase + "/version", ""},
		{http.MethodGet, "/edge/v1/version", ClientBase + "/version", ""},
		{http.MethodGet, "/current-api-session", ClientBase + "/current-api-session", token},
		{http.MethodGet, "/edge/v1/current-identity", ClientBase + "/current-identity", token},
		{http.MethodGet, "/edge/v1/current-identity", ClientBase + "/current-identity", ""},
	} {
		t.Run(c.alias, func(t *testing.T) {
			got := e.doUnchecked(t, c.method, c.alias, c.token, nil)
			want := e.doUnchecked(t, c.method, c.canonical, c.token, nil)
			if got.status != want.status || got.header.Get("Content-Type") != want.header.Get("Content-Type") {
				t.Fatalf("%s: %d %s, %s: %d %s", c.alias, got.status, got.header.Get("Content-Type"), c.canonical, want.status, want.header.Get("Content-Type"))
			}
			if err := apispec.ValidateHTTP(c.method, c.canonical, got.status, got.raw); err != nil {
				t.Errorf("%s: %v", c.alias, err)
			}
		})
	}
	// The trust bundle is base64 PKCS#7, not JSON: the same bytes.
	var bundles [][]byte
	for _, p := range []string{"/.well-known/est/cacerts", ClientBase + "/.well-known/est/cacerts"} {
		resp := e.send(t, http.MethodGet, p, "", nil, nil)
		raw, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/pkcs7-mime" {
			t.Fatalf("GET %s: %d %s %v", p, resp.StatusCode, resp.Header.Get("Content-Type"), err)
		}
		bundles = append(bundles, raw)
	}
	if !bytes.Equal(bundles[0], bundles[1]) || len(bundles[0]) == 0 {
		t.Fatal("the trust bundle at the root differs from the client API's")
	}
	// Paths of the other APIs and other well-known documents are not aliases.
	for _, p := range []string{"/.well-known/openid-configuration", "/edge/v2/version", "/fabric/v2/version"} {
		wantError(t, p, e.doUnchecked(t, http.MethodGet, p, "", nil), http.StatusNotFound, api.CodeNotFound)
	}
	// A bare-path login works, as old SDK identities do it.
	r := e.doUnchecked(t, http.MethodPost, "/authenticate?method=password", "", map[string]string{"username": adminUsername, "password": adminPassword})
	if r.status != http.StatusOK {
		t.Fatalf("login at the root: %d %s", r.status, r.raw)
	}
}
