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
	return catalog(s, mgmtAPI, ManagementBase, s.res.all())
}

// FabricCatalog lists the fabric API's declared resources (routers,
// services, terminators), for the CLI's fabric commands.
func FabricCatalog() []CatalogEntry {
	s := &Server{}
	s.res = s.declare()
	out := catalog(s, fabricAPI, FabricBase, []*resource.Resource{s.res.fabricRouters, s.res.fabricServices, s.res.fabricTerminators})
	// What only a data plane has: always empty here, listed all the same.
	for _, name := range []string{"links", "circuits"} {
		out = append(out, CatalogEntry{Name: name, Path: FabricBase + "/" + name, Delete: true})
	}
	return out
}

// catalog lists the collections of set among resources, the first
// resource of each path (later ones are views of it: the caller's own).
func catalog(s *Server, set apiSet, base string, resources []*resource.Resource) []CatalogEntry {
	routes := s.routes()
	has := func(method, path string) bool {
		for _, rt := range routes {
			if rt.method == method && rt.path == path && rt.apis&set != 0 {
				return true
			}
		}
		return false
	}
	var out []CatalogEntry
	seen := map[string]bool{}
	for _, res := range resources {
		path := "/" + res.Path
		if !has(http.MethodGet, path) || seen[res.Path] {
			continue // not a collection of this API, or a view of one
		}
		seen[res.Path] = true
		out = append(out, CatalogEntry{
			Name: res.Path, Path: base + path, Fields: res.Fields,
			Create: has(http.MethodPost, path), Update: has(http.MethodPatch, path+"/{id}"), Delete: has(http.MethodDelete, path+"/{id}"),
		})
	}
	return out
}
