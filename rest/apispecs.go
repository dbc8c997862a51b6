package rest

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/internal/buildinfo"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/specs"
)

// capabilities are the ones Garrison has: it is a cluster, and /oidc works
// with OpenZiti's SDKs. /enumerated-capabilities lists every one the
// definitions name, /version only these.
var capabilities = []string{"HA_CONTROLLER", "OIDC_AUTH"}

// specTime is when the embedded definitions were built in: the binary's
// build date, the same on every node running the same build.
func specTime() string {
	t, err := time.Parse("2006-01-02 15:04:05", buildinfo.BuildDate)
	if err != nil {
		t = time.Unix(0, 0)
	}
	return api.Time(t.UTC())
}

func specEntity(d specs.Definition) map[string]any {
	at := specTime()
	return map[string]any{"id": d.ID, "name": d.ID, "createdAt": at, "updatedAt": at, "tags": map[string]any{},
		"_links": map[string]any{"self": map[string]any{"href": "./specs/" + url.PathEscape(d.ID)},
			"spec": map[string]any{"href": "./specs/" + url.PathEscape(d.ID) + "/spec"}}}
}

// listSpecs answers GET /specs: the three definitions in the binary.
func (s *Server) listSpecs(w http.ResponseWriter, r *http.Request) error {
	out := []any{}
	for _, d := range specs.Definitions() {
		out = append(out, specEntity(d))
	}
	api.WriteData(w, http.StatusOK, out, api.Meta{Pagination: &api.Pagination{Limit: int64(len(out)), TotalCount: int64(len(out))}})
	return nil
}

func specByID(r *http.Request) (specs.Definition, *api.Error) {
	id := mux.Vars(r)["id"]
	for _, d := range specs.Definitions() {
		if d.ID == id {
			return d, nil
		}
	}
	return specs.Definition{}, api.NotFound()
}

// detailSpec answers GET /specs/{id}.
func (s *Server) detailSpec(w http.ResponseWriter, r *http.Request) error {
	d, aerr := specByID(r)
	if aerr != nil {
		return aerr
	}
	api.WriteData(w, http.StatusOK, specEntity(d), api.Meta{})
	return nil
}

// detailSpecBody answers GET /specs/{id}/spec: the definition's YAML, as
// the envelope's data, or bare when the client accepts only text/yaml.
func (s *Server) detailSpecBody(w http.ResponseWriter, r *http.Request) error {
	d, aerr := specByID(r)
	if aerr != nil {
		return aerr
	}
	text, err := specs.Read(d.File)
	if err != nil {
		return api.Unhandled(err)
	}
	if accept := r.Header.Get("Accept"); strings.Contains(accept, "yaml") && !strings.Contains(accept, "json") {
		w.Header().Set("Content-Type", "text/yaml; charset=utf-8")
		_, _ = w.Write(text)
		return nil
	}
	api.WriteData(w, http.StatusOK, string(text), api.Meta{})
	return nil
}

// listEnumeratedCapabilities answers every capability the definitions
// name, enabled or not.
func (s *Server) listEnumeratedCapabilities(w http.ResponseWriter, r *http.Request) error {
	api.WriteData(w, http.StatusOK, []string{"OIDC_AUTH", "HA_CONTROLLER"}, api.Meta{})
	return nil
}

// listProtocols answers the protocols this node serves the client API on:
// HTTPS at its advertised address.
func (s *Server) listProtocols(w http.ResponseWriter, r *http.Request) error {
	addr := strings.TrimPrefix(s.cfg.AdvertiseURL, "https://")
	api.WriteData(w, http.StatusOK, map[string]any{"https": map[string]any{"address": addr}}, api.Meta{})
	return nil
}
