package rest

import (
	"net/http"

	"github.com/garrison-ctrl/garrison/rest/resource"
)

// CatalogEntry is one management resource as a client sees it: where it
// lives, what its bodies hold, and which operations the route table has
// for it. The CLI builds its generic list, create, update and delete
// commands from these.
type CatalogEntry struct {
	// Name is the collection's path segment ("config-types").
	Name string
	// Path is the collection's full path ("/edge/management/v1/config-types").
	Path   string
	Fields []resource.Field
	// Create, Update (PUT and PATCH) and Delete say which operations exist.
	Create, Update, Delete bool
}

// Catalog lists the management API's declared resources.
func Catalog() []CatalogEntry {
	s := &Server{}
	s.res = s.declare()
	routes := s.routes()
	has := func(method, path string) bool {
		for _, rt := range routes {
			if rt.method == method && rt.path == path && rt.apis&mgmtAPI != 0 {
				return true
			}
		}
		return false
	}
	var out []CatalogEntry
	seen := map[string]bool{}
	for _, res := range s.res.all() {
		base := "/" + res.Path
		if !has(http.MethodGet, base) || seen[res.Path] {
			continue // not a management collection, or a view of one (the caller's own)
		}
		seen[res.Path] = true
		out = append(out, CatalogEntry{
			Name: res.Path, Path: ManagementBase + base, Fields: res.Fields,
			Create: has(http.MethodPost, base), Update: has(http.MethodPatch, base+"/{id}"), Delete: has(http.MethodDelete, base+"/{id}"),
		})
	}
	return out
}
