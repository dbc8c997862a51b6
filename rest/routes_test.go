package rest

import (
	"testing"

	"github.com/garrison-ctrl/garrison/rest/apispec"
)

// TestRouteTable: the table is sound (no route twice, every route has a
// handler), every declared resource fits its stored message, and every
// route is an operation of the vendored API definitions, apart from the
// base paths themselves, which OpenZiti also serves.
func TestRouteTable(t *testing.T) {
	e := env(t)
	s := e.srv
	for _, res := range s.res.all() {
		if err := s.rs.Check(res); err != nil {
			t.Error(err)
		}
	}
	seen := map[string]bool{}
	specs := map[apiSet]func() (*apispec.Spec, error){clientAPI: apispec.Client, mgmtAPI: apispec.Management, fabricAPI: apispec.Fabric}
	for _, rt := range s.routes() {
		if rt.handle == nil {
			t.Errorf("%s %s: no handler", rt.method, rt.path)
		}
		for set, load := range specs {
			if rt.apis&set == 0 {
				continue
			}
			key := rt.method + " " + string(rune('0'+set)) + rt.path
			if seen[key] {
				t.Errorf("%s %s is in the table twice for one API", rt.method, rt.path)
			}
			seen[key] = true
			if rt.path == "" || rt.path == "/" {
				continue
			}
			spec, err := load()
			if err != nil {
				t.Fatal(err)
			}
			if _, err := spec.Operation(rt.method, rt.path); err != nil {
				t.Errorf("route %s %s%s is not in the API definition: %v", rt.method, spec.BasePath, rt.path, err)
			}
		}
	}
	if len(seen) < 100 {
		t.Errorf("only %d routes: the table lost some", len(seen))
	}
}
