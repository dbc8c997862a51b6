package rest

import (
	"net/http"

	"github.com/garrison-ctrl/garrison/internal/buildinfo"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// API names as OpenZiti keys them in apiVersions and apiAddresses.
const (
	APIEdgeClient     = "edge-client"
	APIEdgeManagement = "edge-management"
	APIFabric         = "fabric"
)

// APIPaths maps API names to base paths.
var APIPaths = map[string]string{
	APIEdgeClient:     ClientBase,
	APIEdgeManagement: ManagementBase,
	APIFabric:         FabricBase,
}

// version needs no session: SDKs call it before they log in.
func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	apiVersions := map[string]any{}
	for name, path := range APIPaths {
		apiVersions[name] = map[string]any{"v1": map[string]any{
			"path": path, "apiBaseUrls": []string{s.cfg.AdvertiseURL + path},
		}}
	}
	// Older SDKs look for "edge"; OpenZiti keeps it as the client API.
	apiVersions["edge"] = apiVersions[APIEdgeClient]
	api.WriteData(w, http.StatusOK, map[string]any{
		"version":        buildinfo.Version,
		"revision":       buildinfo.Revision(),
		"buildDate":      buildinfo.BuildDate,
		"runtimeVersion": buildinfo.RuntimeVersion(),
		"capabilities":   capabilities,
		"apiVersions":    apiVersions,
	}, api.Meta{})
}
