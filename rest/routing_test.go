package rest

import (
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
