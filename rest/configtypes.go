package rest

import (
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// configTypes declares /config-types: a named JSON Schema that the data of
// configs of the type must satisfy.
func (s *Server) configTypes() *Resource {
	return &Resource{
		Kind: fsm.KindConfigType, Path: "config-types",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.ConfigTypeName},
			{Name: "schema", Proto: "schema_json", Type: Object},
			{Name: "target", Proto: "target", Type: Enum, Values: []string{"service", "router"}, Default: "service", Access: CreateOnly},
		},
		Check: checkConfigType,
	}
}

// checkConfigType compiles a new schema, so a config type never holds one
// that cannot check anything. Configs already stored are not checked again
// against a changed schema, as in OpenZiti.
func checkConfigType(w *Write) error {
	t := w.Body.(*pb.ConfigType)
	if t.GetName() == "all" {
		return api.Invalid("name", `"all" is reserved (it means every config type where a list of them is asked for)`, t.GetName())
	}
	if len(t.GetSchemaJson()) > 0 && w.Changes("schema_json") {
		if _, err := edge.CompileSchema(t.GetSchemaJson()); err != nil {
			return api.Invalid("schema", "is not a valid JSON Schema: "+err.Error(), nil)
		}
	}
	return nil
}
