package rest

import (
	"errors"
	"net/http"
	"strings"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// configs declares /configs: named JSON objects of a config type, checked
// against the type's schema on every write. The type is fixed at creation
// (updates ignore configTypeId, as in OpenZiti).
func (s *Server) configs() *Resource {
	return &Resource{
		Kind: fsm.KindConfig, Path: "configs",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.ConfigName},
			{Name: "configTypeId", Proto: "config_type_id", Type: Ref, RefKind: fsm.KindConfigType,
				RefPath: "config-types", RefName: "configType", Required: OnCreate, Access: CreateOnly,
				Filter: []string{"type", "configTypeId"}, Index: fsm.ConfigType},
			{Name: "data", Proto: "data_json", Type: Object, Required: Always, NotNull: true},
		},
		Check: checkConfig,
	}
}

// checkConfig validates the data against the type's schema and makes the
// write expect that schema, so a schema changed meanwhile fails the write
// (409, retry) instead of storing data it never checked.
func checkConfig(w *Write) error {
	c := w.Body.(*pb.Config)
	if w.Mode != Create && !w.Changes("data_json") {
		return nil
	}
	rec, err := w.Reader.Get(fsm.KindConfigType, c.GetConfigTypeId())
	if errors.Is(err, fsm.ErrNotFound) {
		return api.Invalid("configTypeId", "no config type with this id exists", c.GetConfigTypeId())
	}
	if err != nil {
		return err
	}
	t := rec.Body.(*pb.ConfigType)
	if len(t.GetSchemaJson()) > 0 {
		schema, err := edge.CompileSchema(t.GetSchemaJson())
		if err != nil {
			return api.Unhandled(err) // it compiled when it was stored
		}
		var de *edge.DataError
		if err := schema.Validate(c.GetDataJson()); errors.As(err, &de) {
			field := strings.Join(append([]string{"data"}, de.Path...), ".")
			return api.Invalid(field, "does not match the schema of config type "+t.GetName()+": "+de.Reason, nil)
		} else if err != nil {
			return err
		}
	}
	schemaOp := fsm.ExpectOp(fsm.ConfigTypeSchema, fsm.SchemaKey(t.GetName(), t.GetSchemaJson()), rec.ID)
	w.Before = append(w.Before, schemaOp)
	w.Explain = func(res *pb.Result) *api.Error {
		if res.GetCode() == pb.Result_NOT_FOUND && res.GetOpIndex() == 0 {
			return &api.Error{Status: http.StatusConflict, Code: api.CodeConflict,
				Message: "config type " + t.GetName() + " changed while the config was being checked; retry"}
		}
		return nil
	}
	return nil
}
