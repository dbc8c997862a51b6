package rest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/specs"
)

// /specs serves the definitions in the binary, on both Edge APIs; the
// capabilities and protocols fit the spec.
func TestSpecsAndCapabilities(t *testing.T) {
	e := env(t)
	for _, base := range []string{ClientBase, mgmt} {
		list := e.do(t, http.MethodGet, base+"/specs", "", nil)
		if list.status != http.StatusOK || len(list.list()) != 3 {
			t.Fatalf("%s/specs: %d %s", base, list.status, list.raw)
		}
		for _, d := range specs.Definitions() {
			if r := e.do(t, http.MethodGet, base+"/specs/"+d.ID, "", nil); r.status != http.StatusOK || r.data()["name"] != d.ID {
				t.Fatalf("%s/specs/%s: %d %s", base, d.ID, r.status, r.raw)
			}
			want, _ := specs.Read(d.File)
			r := e.do(t, http.MethodGet, base+"/specs/"+d.ID+"/spec", "", nil)
			if got, _ := r.body["data"].(string); r.status != http.StatusOK || got != string(want) {
				t.Fatalf("%s/specs/%s/spec: %d, %d bytes, want %d", base, d.ID, r.status, len(got), len(want))
			}
			resp := e.send(t, http.MethodGet, base+"/specs/"+d.ID+"/spec", "", nil, http.Header{"Accept": {"text/yaml"}})
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/yaml") {
				t.Fatalf("yaml: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
			}
		}
		wantSpecError(t, "unknown spec", e.doUnchecked(t, http.MethodGet, base+"/specs/nope", "", nil), http.StatusNotFound, "NOT_FOUND")
		caps := e.do(t, http.MethodGet, base+"/enumerated-capabilities", "", nil)
		if caps.status != http.StatusOK || len(caps.list()) != 2 {
			t.Fatalf("%s/enumerated-capabilities: %d %s", base, caps.status, caps.raw)
		}
	}
	p := e.do(t, http.MethodGet, ClientBase+"/protocols", "", nil)
	if p.status != http.StatusOK || obj(p.data()["https"])["address"] != strings.TrimPrefix(e.url, "https://") {
		t.Fatalf("protocols: %d %s", p.status, p.raw)
	}
}
