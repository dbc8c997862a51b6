package resource

import (
	"encoding/json"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// identityFields exercise most types on a real body message.
var identityFields = []Field{
	{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true},
	{Name: "typeId", Input: "type", Proto: "type_id", Type: Enum, Values: []string{"User", "Device"}, Default: "Default", Required: OnCreate},
	{Name: "isAdmin", Proto: "is_admin", Type: Bool},
	{Name: "roleAttributes", Proto: "role_attributes", Type: Strings, Max: 8},
	{Name: "externalId", Proto: "external_id", Type: String, Nullable: true, Access: CreateOnly},
	{Name: "defaultHostingCost", Proto: "default_hosting_cost", Type: Int, Min: 0, Max: 10},
	{Name: "serviceHostingCosts", Proto: "service_hosting_costs", Type: IntMap, Min: 0, Max: 10},
	{Name: "serviceHostingPrecedences", Proto: "service_hosting_precedences", Type: EnumMap, Values: []string{"default", "failed"}},
	{Name: "appData", Proto: "app_data_json", Type: TagMap},
	{Name: "disabledUntil", Proto: "disabled_until", Type: DateTime, Nullable: true},
	{Name: "isDefaultAdmin", Proto: "is_default_admin", Type: Bool, Access: ReadOnly},
	{Name: "secret", Type: String, Min: 5, Access: WriteOnly},
}

var claimField = Field{Name: "externalIdClaim", Proto: "external_id_claim", Type: Nested, OmitEmpty: true, Fields: []Field{
	{Name: "location", Proto: "location", Type: String},
	{Name: "index", Proto: "index", Type: Int, Min: 0, Max: 5},
}}

func obj(t *testing.T, body string) api.Object {
	t.Helper()
	o, aerr := api.ParseObject([]byte(body))
	if aerr != nil {
		t.Fatalf("%s: %v", body, aerr)
	}
	return o
}

func read(t *testing.T, mode Mode, fields []Field, body string, msg proto.Message) ([]string, *api.Error) {
	t.Helper()
	return readFields(mode, obj(t, body), fields, msg.ProtoReflect(), "")
}

func TestReadFieldsByMode(t *testing.T) {
	ident := &pb.Identity{}
	set, aerr := read(t, Create, identityFields, `{"name":"a","type":"User","roleAttributes":["x"],"externalId":"e","defaultHostingCost":3,
		"serviceHostingCosts":{"s":1},"serviceHostingPrecedences":{"s":"failed"},"appData":{"k":"v","b":true,"n":null},
		"disabledUntil":"2030-01-02T03:04:05Z","isDefaultAdmin":true,"secret":"hunter2"}`, ident)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if ident.GetName() != "a" || ident.GetTypeId() != "User" || ident.GetExternalId() != "e" || ident.GetDefaultHostingCost() != 3 ||
		ident.GetServiceHostingCosts()["s"] != 1 || ident.GetServiceHostingPrecedences()["s"] != "failed" ||
		string(ident.GetAppDataJson()) != `{"b":true,"k":"v","n":null}` || ident.GetIsDefaultAdmin() ||
		ident.GetDisabledUntil() != time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano() {
		t.Fatalf("create read %v", ident)
	}
	if strings.Join(set, ",") != "name,type_id,is_admin,role_attributes,external_id,default_hosting_cost,service_hosting_costs,service_hosting_precedences,app_data_json,disabled_until" {
		t.Errorf("create set %v", set)
	}

	// PUT: every writable field is written, absent ones reset; the
	// create-only externalId is kept.
	put := proto.Clone(ident).(*pb.Identity)
	set, aerr = read(t, Put, identityFields, `{"name":"b"}`, put)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if put.GetName() != "b" || put.GetTypeId() != "" || len(put.GetRoleAttributes()) != 0 || put.GetExternalId() != "e" || put.GetAppDataJson() != nil {
		t.Errorf("put %v", put)
	}
	if strings.Contains(strings.Join(set, ","), "external_id") {
		t.Errorf("put wrote a create-only field: %v", set)
	}

	// PATCH: only what is sent; null resets an optional field.
	p := proto.Clone(ident).(*pb.Identity)
	set, aerr = read(t, Patch, identityFields, `{"roleAttributes":null,"isAdmin":true}`, p)
	if aerr != nil {
		t.Fatal(aerr)
	}
	if p.GetName() != "a" || len(p.GetRoleAttributes()) != 0 || !p.GetIsAdmin() || strings.Join(set, ",") != "is_admin,role_attributes" {
		t.Errorf("patch %v set %v", p, set)
	}
}

func TestReadFieldsRefuses(t *testing.T) {
	for _, c := range []struct {
		mode        Mode
		body, field string
	}{
		{Create, `{"type":"User"}`, "name"},             // required
		{Create, `{"name":null,"type":"User"}`, "name"}, // required, null
		{Create, `{"name":"","type":"User"}`, "name"},   // required, empty
		{Put, `{"type":"User"}`, "name"},                // required on PUT
		{Patch, `{"name":null}`, "name"},                // PATCH cannot null what PUT requires
		{Create, `{"name":"a","type":"Robot"}`, "type"}, // enum, named by its input name
		{Create, `{"name":"a","type":"User","isAdmin":"true"}`, "isAdmin"},
		{Create, `{"name":"a","type":"User","defaultHostingCost":"3"}`, "defaultHostingCost"},
		{Create, `{"name":"a","type":"User","defaultHostingCost":11}`, "defaultHostingCost"},
		{Create, `{"name":"a","type":"User","defaultHostingCost":1.5}`, "defaultHostingCost"},
		{Create, `{"name":"a","type":"User","roleAttributes":"x"}`, "roleAttributes"},
		{Create, `{"name":"a","type":"User","roleAttributes":["123456789"]}`, "roleAttributes"},
		{Create, `{"name":"a","type":"User","roleAttributes":[null]}`, "roleAttributes"},
		{Create, `{"name":"` + strings.Repeat("n", DefaultMaxString+1) + `","type":"User"}`, "name"},
		{Create, `{"name":"a\u0000b","type":"User"}`, "name"},
		{Create, `{"name":"a","type":"User","serviceHostingCosts":{"s":"1"}}`, "serviceHostingCosts.s"},
		{Create, `{"name":"a","type":"User","serviceHostingCosts":{"s":99}}`, "serviceHostingCosts.s"},
		{Create, `{"name":"a","type":"User","serviceHostingPrecedences":{"s":"sometimes"}}`, "serviceHostingPrecedences.s"},
		{Create, `{"name":"a","type":"User","appData":{"k":1}}`, "appData.k"},
		{Create, `{"name":"a","type":"User","disabledUntil":"tomorrow"}`, "disabledUntil"},
		{Create, `{"name":"a","type":"User","disabledUntil":"1960-01-01T00:00:00Z"}`, "disabledUntil"},
		{Create, `{"name":"a","type":"User","secret":"abc"}`, "secret"},
	} {
		_, aerr := read(t, c.mode, identityFields, c.body, &pb.Identity{})
		if aerr == nil || aerr.Status != http.StatusBadRequest || aerr.Cause == nil || aerr.Cause.Field != c.field {
			t.Errorf("%v %.80s: %v, want 400 naming %s", c.mode, c.body, aerr, c.field)
		}
	}
}

func TestNestedPatchMerges(t *testing.T) {
	fields := []Field{claimField}
	ca := &pb.Ca{ExternalIdClaim: &pb.ExternalIdClaim{Location: "COMMON_NAME", Index: 2}}
	// {} changes nothing: the ziti CLI sends it with every CA update.
	set, aerr := read(t, Patch, fields, `{"externalIdClaim":{}}`, ca)
	if aerr != nil || len(set) != 0 || ca.GetExternalIdClaim().GetLocation() != "COMMON_NAME" {
		t.Fatalf("{}: set %v err %v claim %v", set, aerr, ca.GetExternalIdClaim())
	}
	set, aerr = read(t, Patch, fields, `{"externalIdClaim":{"index":4}}`, ca)
	if aerr != nil || len(set) != 1 || ca.GetExternalIdClaim().GetLocation() != "COMMON_NAME" || ca.GetExternalIdClaim().GetIndex() != 4 {
		t.Fatalf("merge: set %v err %v claim %v", set, aerr, ca.GetExternalIdClaim())
	}
	// PUT replaces it whole.
	if _, aerr = read(t, Put, fields, `{"externalIdClaim":{"index":1}}`, ca); aerr != nil || ca.GetExternalIdClaim().GetLocation() != "" {
		t.Fatalf("put: %v %v", aerr, ca.GetExternalIdClaim())
	}
	if _, aerr = read(t, Patch, fields, `{"externalIdClaim":{"index":9}}`, ca); aerr == nil || aerr.Cause.Field != "externalIdClaim.index" {
		t.Fatalf("nested error names %v", aerr)
	}
	if _, aerr = read(t, Patch, fields, `{"externalIdClaim":null}`, ca); aerr != nil || ca.GetExternalIdClaim() != nil {
		t.Fatalf("null: %v %v", aerr, ca.GetExternalIdClaim())
	}
}

func openStore(t *testing.T) *fsm.Store {
	t.Helper()
	st, err := fsm.Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func TestRender(t *testing.T) {
	st := openStore(t)
	cmd := &pb.Command{Timestamp: 1}
	for kind, body := range map[string]proto.Message{
		fsm.KindIdentity:      &pb.Identity{Name: "alice"},
		fsm.KindAuthenticator: &pb.Authenticator{IdentityId: "i1", Method: "updb", Username: "alice-user", PasswordHash: "secret-hash"},
	} {
		id := map[string]string{fsm.KindIdentity: "i1", fsm.KindAuthenticator: "a1"}[kind]
		op, err := fsm.CreateOp(kind, id, body, map[string]any{"env": "dev"})
		if err != nil {
			t.Fatal(err)
		}
		cmd.Ops = append(cmd.Ops, op)
	}
	// Identity first: the authenticator refers to it.
	if cmd.Ops[0].GetCreate().GetEntity().GetType() != fsm.KindIdentity {
		cmd.Ops[0], cmd.Ops[1] = cmd.Ops[1], cmd.Ops[0]
	}
	if res, err := st.ApplyLocal(1, cmd); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("seed: %v %v", res, err)
	}
	res := &Resource{Kind: fsm.KindAuthenticator, Path: "authenticators", Fields: []Field{
		{Name: "identityId", Proto: "identity_id", Type: Ref, RefKind: fsm.KindIdentity, RefPath: "identities", RefName: "identity"},
		{Name: "username", Proto: "username", Type: String, OmitEmpty: true},
		{Name: "fingerprint", Proto: "fingerprint", Type: String, OmitEmpty: true},
		{Name: "certPem", Proto: "cert_pem", Type: String, Nullable: true},
		{Name: "method", Proto: "method", Type: Enum, Values: []string{"updb"}, Default: "none"},
		{Name: "password", Type: String, Access: WriteOnly},
		{Name: "extendRequestedAt", Proto: "extend_requested_at", Type: DateTime, Nullable: true},
	}}
	if err := (&Store{State: st}).Check(res); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	err := st.View(func(rd *fsm.Reader) error {
		rec, err := rd.Get(fsm.KindAuthenticator, "a1")
		if err != nil {
			return err
		}
		out, err = res.RenderRecord(rd, rec)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(out)
	for _, want := range []string{`"identityId":"i1"`, `"identity":{"_links":{"self":{"href":"./identities/i1"}},"entity":"identities","id":"i1","name":"alice"}`,
		`"username":"alice-user"`, `"certPem":null`, `"method":"updb"`, `"extendRequestedAt":null`, `"tags":{"env":"dev"}`,
		`"_links":{"self":{"href":"./authenticators/a1"}}`, `"createdAt":"1970-01-01T00:00:00.000000001Z"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("rendered %s lacks %s", raw, want)
		}
	}
	for _, absent := range []string{"fingerprint", "password", "secret-hash"} {
		if strings.Contains(string(raw), absent) {
			t.Errorf("rendered %s shows %s", raw, absent)
		}
	}
}

func TestCheckRefusesBadDeclarations(t *testing.T) {
	s := &Store{State: openStore(t)}
	for name, f := range map[string]Field{
		"no such proto field": {Name: "x", Proto: "nope", Type: String},
		"wrong proto type":    {Name: "x", Proto: "is_admin", Type: String},
		"list as scalar":      {Name: "x", Proto: "role_attributes", Type: String},
		"enum without values": {Name: "x", Proto: "name", Type: Enum},
		"ref without kind":    {Name: "x", Proto: "name", Type: Ref},
		"read-only, no Get":   {Name: "x", Type: Bool, Access: ReadOnly},
		"wrong map":           {Name: "x", Proto: "service_hosting_costs", Type: EnumMap, Values: []string{"a"}},
	} {
		res := &Resource{Kind: fsm.KindIdentity, Path: "identities", Fields: []Field{f}}
		if err := s.Check(res); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	dup := &Resource{Kind: fsm.KindIdentity, Path: "identities", Fields: []Field{
		{Name: "name", Proto: "name", Type: String}, {Name: "name", Proto: "name", Type: String}}}
	if err := s.Check(dup); err == nil {
		t.Error("duplicate field accepted")
	}
}

// FuzzReadFields: no body makes reading a declaration's fields panic, in
// any mode; a refusal is always a 400 naming a field or the body.
func FuzzReadFields(f *testing.F) {
	for _, s := range []string{`{"name":"a","type":"User"}`, `{"serviceHostingCosts":{"a":1},"appData":{"x":true}}`,
		`{"externalIdClaim":{"index":3}}`, `{"roleAttributes":["a",null]}`, `{"disabledUntil":"2030-01-01T00:00:00Z"}`} {
		f.Add([]byte(s))
	}
	fields := append(append([]Field(nil), identityFields...), Field{Name: "claim", Proto: "app_data_json", Type: Object})
	f.Fuzz(func(t *testing.T, body []byte) {
		in, aerr := api.ParseObject(body)
		if aerr != nil {
			return
		}
		for _, mode := range []Mode{Create, Put, Patch} {
			if _, aerr := readFields(mode, in, fields, (&pb.Identity{}).ProtoReflect(), ""); aerr != nil && aerr.Status != http.StatusBadRequest {
				t.Fatalf("%v: status %d", mode, aerr.Status)
			}
			if _, aerr := readFields(mode, in, []Field{claimField}, (&pb.Ca{ExternalIdClaim: &pb.ExternalIdClaim{}}).ProtoReflect(), ""); aerr != nil && aerr.Status != http.StatusBadRequest {
				t.Fatalf("%v nested: status %d", mode, aerr.Status)
			}
		}
	})
}

// FuzzParseQuery: whatever a list's query string holds (filter, sort,
// limit, offset), reading it never panics, a refusal is a 400, and an
// accepted page is within bounds.
func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{"filter=name%3D%22a%22&limit=10&offset=5", "sort=name%20desc,createdAt", "limit=-1",
		"filter=tags.x%20in%20%5B%22a%22%5D%20sort%20by%20name%20skip%2010%20limit%20none", "offset=99999999999999999999", "%zz"} {
		f.Add(s)
	}
	fields := (&Resource{Kind: fsm.KindIdentity, Fields: identityFields}).FilterFields()
	f.Fuzz(func(t *testing.T, rawQuery string) {
		r := &http.Request{URL: &url.URL{Path: "/x", RawQuery: rawQuery}}
		_, offset, limit, aerr := parseQuery(r, fields, defaultLimit)
		if aerr != nil {
			if aerr.Status != http.StatusBadRequest {
				t.Fatalf("status %d", aerr.Status)
			}
			return
		}
		if offset < 0 || limit < 0 || limit > maxLimit {
			t.Fatalf("offset %d, limit %d", offset, limit)
		}
	})
}
