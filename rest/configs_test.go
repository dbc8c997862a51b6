package rest

import (
	"encoding/json"
	"net/http"
	"net/url"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// hostPort is a config type schema like OpenZiti's intercept and host
// configs: an object with a hostname and a port in range.
var hostPort = map[string]any{
	"$schema": "http://json-schema.org/draft-07/schema#", "type": "object",
	"properties": map[string]any{
		"hostname": map[string]any{"type": "string", "minLength": 1},
		"port":     map[string]any{"type": "integer", "minimum": 1, "maximum": 65535},
	},
	"required": []any{"hostname", "port"}, "additionalProperties": false,
}

func createOK(t *testing.T, e *testEnv, path string, body map[string]any) string {
	t.Helper()
	r := e.do(t, http.MethodPost, mgmt+path, e.adminToken(t), body)
	if r.status != http.StatusCreated {
		t.Fatalf("create %s %v: %d %s", path, body, r.status, r.raw)
	}
	return r.data()["id"].(string)
}

func TestConfigTypeSchemaIsChecked(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	for name, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"schema not a schema":     {map[string]any{"name": uniq("ct"), "schema": map[string]any{"type": "no-such-type"}}, "schema"},
		"schema of a non-object":  {map[string]any{"name": uniq("ct"), "schema": map[string]any{"type": "string"}}, "schema"},
		"schema with remote $ref": {map[string]any{"name": uniq("ct"), "schema": map[string]any{"$ref": "https://example.com/s.json"}}, "schema"},
		"reserved name":           {map[string]any{"name": "all"}, "name"},
		"bad target":              {map[string]any{"name": uniq("ct"), "target": "other"}, "target"},
	} {
		wantFieldError(t, name, e.do(t, http.MethodPost, mgmt+"/config-types", admin, c.body), c.field)
	}
	id := createOK(t, e, "/config-types", map[string]any{"name": uniq("ct"), "schema": hostPort, "target": "router"})
	d := e.do(t, http.MethodGet, mgmt+"/config-types/"+id, admin, nil).data()
	if d["target"] != "router" || obj(d["schema"])["type"] != "object" {
		t.Errorf("detail %v", d)
	}
	wantFieldError(t, "bad schema on PATCH", e.do(t, http.MethodPatch, mgmt+"/config-types/"+id, admin,
		map[string]any{"schema": map[string]any{"minProperties": -1}}), "schema")
	// A config type without a schema takes any object, and its target defaults to service.
	free := createOK(t, e, "/config-types", map[string]any{"name": uniq("ct-free")})
	if d := e.do(t, http.MethodGet, mgmt+"/config-types/"+free, admin, nil).data(); d["target"] != "service" || len(obj(d["schema"])) != 0 {
		t.Errorf("free config type %v", d)
	}
	createOK(t, e, "/configs", map[string]any{"name": uniq("cfg"), "configTypeId": free, "data": map[string]any{"anything": []any{1, "x"}}})
}

func wantFieldError(t *testing.T, what string, r *response, field string) {
	t.Helper()
	if e := wantError(t, what, r, http.StatusBadRequest, api.CodeCouldNotValidate); e != nil && causeField(e) != field {
		t.Errorf("%s: cause.field %q, want %q (%s)", what, causeField(e), field, r.raw)
	}
}

func TestConfigDataFollowsItsTypesSchema(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	typeID := createOK(t, e, "/config-types", map[string]any{"name": uniq("ct-hp"), "schema": hostPort})
	before := e.count(t, fsm.KindConfig)
	for name, c := range map[string]struct {
		data  map[string]any
		field string
	}{
		"port out of range":     {map[string]any{"hostname": "a", "port": 0}, "data.port"},
		"port not a number":     {map[string]any{"hostname": "a", "port": "80"}, "data.port"},
		"missing hostname":      {map[string]any{"port": 80}, "data"},
		"unknown property":      {map[string]any{"hostname": "a", "port": 80, "x": 1}, "data"},
		"empty hostname":        {map[string]any{"hostname": "", "port": 80}, "data.hostname"},
		"number beyond float64": {map[string]any{"hostname": "a", "port": json.Number("1e99999999")}, "data"},
		"unknown type":          {nil, "configTypeId"},
	} {
		body := map[string]any{"name": uniq("cfg"), "configTypeId": typeID, "data": c.data}
		if c.data == nil {
			body["configTypeId"], body["data"] = "no-such-type", map[string]any{}
		}
		wantFieldError(t, "create with "+name, e.do(t, http.MethodPost, mgmt+"/configs", admin, body), c.field)
	}
	if got := e.count(t, fsm.KindConfig); got != before {
		t.Fatalf("refused configs were stored: %d", got-before)
	}

	id := createOK(t, e, "/configs", map[string]any{"name": uniq("cfg"), "configTypeId": typeID, "data": map[string]any{"hostname": "a", "port": 80}})
	stored := e.do(t, http.MethodGet, mgmt+"/configs/"+id, admin, nil).raw
	wantFieldError(t, "PUT with bad data", e.do(t, http.MethodPut, mgmt+"/configs/"+id, admin,
		map[string]any{"name": "x", "data": map[string]any{"hostname": "a", "port": 70000}}), "data.port")
	wantFieldError(t, "PATCH with bad data", e.do(t, http.MethodPatch, mgmt+"/configs/"+id, admin,
		map[string]any{"data": map[string]any{"hostname": "a"}}), "data")
	wantFieldError(t, "PATCH data null", e.do(t, http.MethodPatch, mgmt+"/configs/"+id, admin, map[string]any{"data": nil}), "data")
	if now := e.do(t, http.MethodGet, mgmt+"/configs/"+id, admin, nil).raw; string(now) != string(stored) {
		t.Fatalf("refused updates changed the config:\n%s\n%s", stored, now)
	}

	// The type is fixed at creation: updates ignore configTypeId.
	other := createOK(t, e, "/config-types", map[string]any{"name": uniq("ct-other")})
	if r := e.do(t, http.MethodPatch, mgmt+"/configs/"+id, admin, map[string]any{"configTypeId": other, "data": map[string]any{"hostname": "b", "port": 81}}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	d := e.do(t, http.MethodGet, mgmt+"/configs/"+id, admin, nil).data()
	if d["configTypeId"] != typeID || obj(d["configType"])["id"] != typeID || obj(d["data"])["hostname"] != "b" {
		t.Errorf("after patch: %v", d)
	}

	// OpenZiti's filter name for the type is "type".
	l := e.do(t, http.MethodGet, mgmt+"/configs?filter="+url.QueryEscape(`type = "`+typeID+`"`), admin, nil)
	if len(l.list()) != 1 || obj(l.list()[0])["id"] != id {
		t.Errorf("filter by type: %s", l.raw)
	}
}

// A schema changed between a config's check and its write fails the write:
// the command expects the schema it was checked against.
func TestConfigWriteExpectsTheCheckedSchema(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	name := uniq("ct-race")
	typeID := createOK(t, e, "/config-types", map[string]any{"name": name, "schema": hostPort})
	var schema []byte
	if err := e.store.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindConfigType, typeID)
		schema = rec.Body.(*pb.ConfigType).GetSchemaJson()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	checked := fsm.ExpectOp(fsm.ConfigTypeSchema, fsm.SchemaKey(name, schema), typeID)
	if r := e.do(t, http.MethodPatch, mgmt+"/config-types/"+typeID, admin, map[string]any{"schema": map[string]any{"type": "object"}}); r.status != http.StatusOK {
		t.Fatalf("change schema: %d %s", r.status, r.raw)
	}
	create, err := fsm.CreateOp(fsm.KindConfig, "race-config", &pb.Config{Name: uniq("cfg"), ConfigTypeId: typeID, DataJson: []byte(`{}`)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, _, err := e.node.Apply(t.Context(), &pb.Command{Timestamp: 1, Ops: []*pb.Op{checked, create}})
	if err != nil || res.GetCode() != pb.Result_NOT_FOUND || res.GetOpIndex() != 0 {
		t.Fatalf("write checked against the old schema: %v %v", res, err)
	}
	if _, err := e.store.Get(fsm.KindConfig, "race-config"); err == nil {
		t.Fatal("the config was stored")
	}
}

func TestConfigTypeInUseCannotBeDeleted(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	typeID := createOK(t, e, "/config-types", map[string]any{"name": uniq("ct-used")})
	cfg := createOK(t, e, "/configs", map[string]any{"name": uniq("cfg-used"), "configTypeId": typeID, "data": map[string]any{}})
	wantError(t, "delete a type in use", e.do(t, http.MethodDelete, mgmt+"/config-types/"+typeID, admin, nil),
		http.StatusConflict, api.CodeConflictReferenced)
	for _, path := range []string{"/config-types/" + typeID, "/configs/" + cfg} {
		if r := e.do(t, http.MethodGet, mgmt+path, admin, nil); r.status != http.StatusOK {
			t.Fatalf("%s after the refused delete: %d", path, r.status)
		}
	}
	// Its configs, and none of another type's.
	createOK(t, e, "/configs", map[string]any{"name": uniq("cfg-other"), "configTypeId": createOK(t, e, "/config-types", map[string]any{"name": uniq("ct-x")}), "data": map[string]any{}})
	l := e.do(t, http.MethodGet, mgmt+"/config-types/"+typeID+"/configs", admin, nil)
	if l.status != http.StatusOK || len(l.list()) != 1 || obj(l.list()[0])["id"] != cfg {
		t.Fatalf("configs of the type: %d %s", l.status, l.raw)
	}
	wantError(t, "configs of an unknown type", e.doUnchecked(t, http.MethodGet, mgmt+"/config-types/nope/configs", admin, nil), http.StatusNotFound, api.CodeNotFound)
	if l := e.do(t, http.MethodGet, mgmt+"/configs/"+cfg+"/services", admin, nil); l.status != http.StatusOK || len(l.list()) != 0 {
		t.Fatalf("services of a config: %d %s", l.status, l.raw)
	}
	wantError(t, "services of an unknown config", e.doUnchecked(t, http.MethodGet, mgmt+"/configs/nope/services", admin, nil), http.StatusNotFound, api.CodeNotFound)

	// A router that uses a config keeps it too.
	router := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("er-cfg"), "configs": []string{cfg}})
	if r := e.do(t, http.MethodDelete, mgmt+"/configs/"+cfg, admin, nil); r.status != http.StatusConflict {
		t.Fatalf("delete a config a router uses: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodPatch, mgmt+"/edge-routers/"+router, admin, map[string]any{"configs": []string{}}); r.status != http.StatusOK {
		t.Fatalf("router without configs: %d %s", r.status, r.raw)
	}
	for _, path := range []string{"/configs/" + cfg, "/config-types/" + typeID} {
		if r := e.do(t, http.MethodDelete, mgmt+path, admin, nil); r.status != http.StatusOK {
			t.Fatalf("delete %s once unused: %d %s", path, r.status, r.raw)
		}
	}
}

// What the ziti CLI v2.0.3 sends, found failing before the framework.
func TestZitiCLIQuirks(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	// `ziti edge create authenticator updb` looks the identity's updb
	// authenticator up with OpenZiti's filter name for the owner.
	id := newIdentity(t, e, map[string]any{"name": uniq("cli-quirk"), "type": "User", "isAdmin": false})
	auth := createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": id, "username": uniq("cli-user"), "password": "secret-1"})
	filter := `identity="` + id + `" and method="updb"`
	l := e.do(t, http.MethodGet, mgmt+"/authenticators?filter="+url.QueryEscape(filter), admin, nil)
	if l.status != http.StatusOK || len(l.list()) != 1 || obj(l.list()[0])["id"] != auth {
		t.Fatalf("%s: %d %s", filter, l.status, l.raw)
	}
	// `ziti edge update ca` sends an empty externalIdClaim: no change.
	caID := createCA(t, e, newThirdPartyCA(t), map[string]any{"externalIdClaim": map[string]any{
		"location": "COMMON_NAME", "matcher": "ALL", "parser": "NONE", "index": 0}})
	if r := e.do(t, http.MethodPatch, mgmt+"/cas/"+caID, admin, map[string]any{"name": uniq("ca-renamed"), "externalIdClaim": map[string]any{}}); r.status != http.StatusOK {
		t.Fatalf("patch with an empty externalIdClaim: %d %s", r.status, r.raw)
	}
	if claim := obj(getCA(t, e, caID)["externalIdClaim"]); claim["location"] != "COMMON_NAME" {
		t.Errorf("the claim changed: %v", claim)
	}
}
