package rest

import (
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"

	"github.com/gorilla/mux"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	. "github.com/garrison-ctrl/garrison/rest/resource"
)

// Posture checks (/posture-checks) are polymorphic: typeId chooses which
// members a check has (postureTypes). The members are checked by
// checkPostureCheck, kept as one JSON object in the stored check and
// rendered back beside the common fields; internal/edge evaluates them
// against the posture data clients report (postureresponses.go).

// osTypes are the operating systems posture data names.
var osTypes = []string{"Windows", "WindowsServer", "Android", "iOS", "Linux", "macOS"}

// postureType is one typeId: its name, its members, and how a body's
// members are read and checked.
type postureType struct {
	name    string
	members []string
	read    func(in api.Object, params map[string]any) *api.Error
}

var postureTypes = map[string]postureType{
	"OS": {"Operating System Check", []string{"operatingSystems"}, func(in api.Object, p map[string]any) *api.Error {
		var oss []struct {
			Type     string   `json:"type"`
			Versions []string `json:"versions"`
		}
		if ok, aerr := in.Decode("operatingSystems", "an array of {type, versions}", &oss); aerr != nil {
			return aerr
		} else if !ok {
			return nil
		}
		if len(oss) == 0 || len(oss) > 20 {
			return api.Invalid("operatingSystems", "must list 1 to 20 operating systems", nil)
		}
		for _, os := range oss {
			if !slices.Contains(osTypes, os.Type) {
				return api.Invalid("operatingSystems", fmt.Sprintf("type must be one of %v", osTypes), os.Type)
			}
			if err := boundedStrings("operatingSystems", os.Versions, 50, 64); err != nil {
				return err
			}
			if os.Versions == nil {
				os.Versions = []string{}
			}
		}
		p["operatingSystems"] = oss
		return nil
	}},
	"MAC": {"MAC Address Check", []string{"macAddresses"}, func(in api.Object, p map[string]any) *api.Error {
		return readStrings(in, p, "macAddresses", func(s string) bool { return macAddress.MatchString(s) }, "a MAC address")
	}},
	"DOMAIN": {"Windows Domain Check", []string{"domains"}, func(in api.Object, p map[string]any) *api.Error {
		return readStrings(in, p, "domains", func(s string) bool { return s != "" && len(s) <= 253 }, "a domain name")
	}},
	"PROCESS": {"Process Check", []string{"process"}, func(in api.Object, p map[string]any) *api.Error {
		var proc process
		if ok, aerr := in.Decode("process", "an object {osType, path, hashes, signerFingerprint}", &proc); aerr != nil || !ok {
			return aerr
		}
		if err := proc.check("process"); err != nil {
			return err
		}
		p["process"] = proc
		return nil
	}},
	"PROCESS_MULTI": {"Multi Process Check", []string{"semantic", "processes"}, func(in api.Object, p map[string]any) *api.Error {
		if sem, ok, aerr := in.String("semantic"); aerr != nil {
			return aerr
		} else if ok {
			if sem != fsm.SemanticAllOf && sem != fsm.SemanticAnyOf {
				return api.Invalid("semantic", "must be AllOf or AnyOf", sem)
			}
			p["semantic"] = sem
		}
		var procs []process
		if ok, aerr := in.Decode("processes", "an array of processes", &procs); aerr != nil {
			return aerr
		} else if ok {
			if len(procs) == 0 || len(procs) > 100 {
				return api.Invalid("processes", "must list 1 to 100 processes", nil)
			}
			for _, proc := range procs {
				if err := proc.check("processes"); err != nil {
					return err
				}
			}
			p["processes"] = procs
		}
		return nil
	}},
	"MFA": {"MFA Check", []string{"timeoutSeconds", "promptOnWake", "promptOnUnlock", "ignoreLegacyEndpoints"}, func(in api.Object, p map[string]any) *api.Error {
		if v, ok, aerr := in.Int("timeoutSeconds", -1, 10*365*24*3600); aerr != nil {
			return aerr
		} else if ok {
			p["timeoutSeconds"] = v
		}
		for _, name := range []string{"promptOnWake", "promptOnUnlock", "ignoreLegacyEndpoints"} {
			if v, ok, aerr := in.Bool(name); aerr != nil {
				return aerr
			} else if ok {
				p[name] = v
			}
		}
		return nil
	}},
}

// postureDefaults are the members a check of a type has when a body does
// not give them: MFA's (no timeout), and the required ones of the others
// are refused instead (checkPostureCheck).
var postureDefaults = map[string]map[string]any{
	"MFA": {"timeoutSeconds": -1, "promptOnWake": false, "promptOnUnlock": false, "ignoreLegacyEndpoints": false},
}

var macAddress = regexp.MustCompile(`^[0-9a-fA-F]{2}([:-]?[0-9a-fA-F]{2}){5}$`)

// process is the spec's process and processMulti.
type process struct {
	OsType             string   `json:"osType"`
	Path               string   `json:"path"`
	Hashes             []string `json:"hashes"`
	SignerFingerprint  string   `json:"signerFingerprint,omitempty"`
	SignerFingerprints []string `json:"signerFingerprints,omitempty"`
}

func (p *process) check(field string) *api.Error {
	if !slices.Contains(osTypes, p.OsType) {
		return api.Invalid(field, fmt.Sprintf("osType must be one of %v", osTypes), p.OsType)
	}
	if p.Path == "" || len(p.Path) > 1024 {
		return api.Invalid(field, "path is required, at most 1024 characters", nil)
	}
	if p.Hashes == nil {
		p.Hashes = []string{}
	}
	if err := boundedStrings(field, p.Hashes, 100, 128); err != nil {
		return err
	}
	return boundedStrings(field, append(p.SignerFingerprints, p.SignerFingerprint), 101, 128)
}

func boundedStrings(field string, vs []string, n, size int) *api.Error {
	if len(vs) > n {
		return api.Invalid(field, fmt.Sprintf("at most %d values", n), nil)
	}
	for _, v := range vs {
		if len(v) > size {
			return api.Invalid(field, fmt.Sprintf("values must be at most %d characters", size), v)
		}
	}
	return nil
}

// readStrings reads a non-empty list of at most 100 strings that ok accepts.
func readStrings(in api.Object, p map[string]any, name string, ok func(string) bool, what string) *api.Error {
	vs, present, aerr := in.Strings(name)
	if aerr != nil || !present {
		return aerr
	}
	if len(vs) == 0 || len(vs) > 100 {
		return api.Invalid(name, "must list 1 to 100 values", nil)
	}
	for _, v := range vs {
		if !ok(v) {
			return api.Invalid(name, "each value must be "+what, v)
		}
	}
	p[name] = vs
	return nil
}

// postureChecks declares /posture-checks.
func (s *Server) postureChecks() *Resource {
	return &Resource{
		Kind: fsm.KindPostureCheck, Path: "posture-checks",
		Fields: []Field{
			{Name: "name", Proto: "name", Type: String, Required: Always, NotNull: true, Index: fsm.PostureCheckName},
			{Name: "typeId", Proto: "type_id", Type: Enum, Values: slices.Sorted(maps.Keys(postureTypes)), Required: OnCreate, NotNull: true},
			{Name: "roleAttributes", Proto: "role_attributes", Type: Strings, Index: fsm.PostureCheckRoleAttributes},
			{Name: "version", Proto: "version", Type: Int, Access: ReadOnly},
		},
		Check:  checkPostureCheck,
		Render: renderPostureCheck,
	}
}

// checkPostureCheck reads the members of the check's type: a create or PUT
// must give the required ones, a PATCH changes those it gives. The type
// never changes, and every change counts a version.
func checkPostureCheck(w *Write) error {
	pc := w.Body.(*pb.PostureCheck)
	params := map[string]any{}
	if w.Mode != Create {
		old := w.Old.(*pb.PostureCheck)
		if pc.GetTypeId() != old.GetTypeId() {
			return api.Invalid("typeId", "a posture check's type cannot change; create another", pc.GetTypeId())
		}
		pc.Version = old.GetVersion() + 1
	} else {
		pc.Version = 1
	}
	typ := postureTypes[pc.GetTypeId()]
	maps.Copy(params, postureDefaults[pc.GetTypeId()])
	if w.Mode == Patch {
		// What the PATCH does not give stays as stored.
		_ = json.Unmarshal(w.Old.(*pb.PostureCheck).GetParamsJson(), &params)
	}
	if aerr := typ.read(w.In, params); aerr != nil {
		return aerr
	}
	for _, m := range typ.members {
		if _, ok := params[m]; !ok {
			return api.Invalid(m, "is required for a posture check of type "+pc.GetTypeId(), nil)
		}
	}
	data, err := json.Marshal(params)
	if err != nil {
		return api.Unhandled(err)
	}
	pc.ParamsJson = data
	w.Set("params_json", "version")
	return nil
}

// renderPostureCheck adds the members of the check's type.
func renderPostureCheck(_ *fsm.Reader, rec *fsm.Record, out map[string]any) error {
	var params map[string]any
	if err := json.Unmarshal(rec.Body.(*pb.PostureCheck).GetParamsJson(), &params); err != nil {
		return err
	}
	maps.Copy(out, params)
	return nil
}

// postureCheckTypes answers /posture-check-types (list) and
// /posture-check-types/{id}: the fixed set of types.
func (s *Server) postureCheckTypes(w http.ResponseWriter, r *http.Request) error {
	render := func(id string) map[string]any {
		var oss []map[string]any
		for _, os := range osTypes {
			oss = append(oss, map[string]any{"type": os, "versions": []string{}})
		}
		return map[string]any{
			"id": id, "name": postureTypes[id].name, "operatingSystems": oss, "version": "1",
			"createdAt": api.Time(identityTypeEpoch), "updatedAt": api.Time(identityTypeEpoch),
			"tags": map[string]any{}, "_links": api.Links("./posture-check-types/" + id),
		}
	}
	if id, ok := mux.Vars(r)["id"]; ok {
		if _, known := postureTypes[id]; !known {
			return api.NotFound()
		}
		api.WriteData(w, http.StatusOK, render(id), api.Meta{})
		return nil
	}
	ids := slices.Sorted(maps.Keys(postureTypes))
	out := make([]map[string]any, 0, len(ids))
	for _, id := range ids {
		out = append(out, render(id))
	}
	n := int64(len(out))
	api.WriteData(w, http.StatusOK, out, api.Meta{Pagination: &api.Pagination{Limit: n, Offset: 0, TotalCount: n}})
	return nil
}
