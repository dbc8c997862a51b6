package rest

import (
	"net/http"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
)

// Every posture check type takes its own members, checked; the type never
// changes; each change counts a version; a PATCH keeps what it does not
// give; policies name checks by attribute or id.
func TestPostureChecks(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	proc := map[string]any{"osType": "Linux", "path": "/usr/bin/agent", "hashes": []string{"ab12"}}
	valid := map[string]map[string]any{
		"OS":            {"operatingSystems": []map[string]any{{"type": "Linux", "versions": []string{">=5.0"}}}},
		"MAC":           {"macAddresses": []string{"00:11:22:33:44:55"}},
		"DOMAIN":        {"domains": []string{"corp.example"}},
		"PROCESS":       {"process": proc},
		"PROCESS_MULTI": {"semantic": "AnyOf", "processes": []any{proc}},
		"MFA":           {"timeoutSeconds": 300, "promptOnWake": true},
	}
	ids := map[string]string{}
	for typ, members := range valid {
		body := map[string]any{"name": uniq("pc-" + typ), "typeId": typ, "roleAttributes": []string{"pc-" + typ}}
		for k, v := range members {
			body[k] = v
		}
		ids[typ] = createOK(t, e, "/posture-checks", body)
		d := e.do(t, http.MethodGet, mgmt+"/posture-checks/"+ids[typ], admin, nil).data()
		if d["typeId"] != typ || d["version"] != float64(1) {
			t.Fatalf("%s check: %v", typ, d)
		}
		for k := range members {
			if _, ok := d[k]; !ok {
				t.Fatalf("%s check lacks %s: %v", typ, k, d)
			}
		}
	}
	if d := e.do(t, http.MethodGet, mgmt+"/posture-checks/"+ids["MFA"], admin, nil).data(); d["promptOnUnlock"] != false || d["timeoutSeconds"] != float64(300) {
		t.Fatalf("MFA defaults: %v", d)
	}

	before := e.count(t, fsm.KindPostureCheck)
	for what, c := range map[string]struct {
		body  map[string]any
		field string
	}{
		"unknown type":       {map[string]any{"typeId": "SMELL"}, "typeId"},
		"OS without systems": {map[string]any{"typeId": "OS"}, "operatingSystems"},
		"bad os type":        {map[string]any{"typeId": "OS", "operatingSystems": []map[string]any{{"type": "Plan9", "versions": []string{}}}}, "operatingSystems"},
		"bad MAC":            {map[string]any{"typeId": "MAC", "macAddresses": []string{"zz:11"}}, "macAddresses"},
		"no domains":         {map[string]any{"typeId": "DOMAIN", "domains": []string{}}, "domains"},
		"process sans path":  {map[string]any{"typeId": "PROCESS", "process": map[string]any{"osType": "Linux"}}, "process"},
		"bad semantic":       {map[string]any{"typeId": "PROCESS_MULTI", "semantic": "SomeOf", "processes": []any{proc}}, "semantic"},
		"MFA timeout string": {map[string]any{"typeId": "MFA", "timeoutSeconds": "soon"}, "timeoutSeconds"},
	} {
		c.body["name"] = uniq("pc-bad")
		wantFieldError(t, what, e.do(t, http.MethodPost, mgmt+"/posture-checks", admin, c.body), c.field)
	}
	if n := e.count(t, fsm.KindPostureCheck); n != before {
		t.Fatalf("refused checks were stored: %d → %d", before, n)
	}

	// PATCH keeps the members it does not give; the type stays.
	path := mgmt + "/posture-checks/" + ids["MFA"]
	if r := e.do(t, http.MethodPatch, path, admin, map[string]any{"typeId": "MFA", "promptOnUnlock": true}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if d := e.do(t, http.MethodGet, path, admin, nil).data(); d["timeoutSeconds"] != float64(300) || d["promptOnUnlock"] != true || d["version"] != float64(2) {
		t.Fatalf("after the patch: %v", d)
	}
	wantFieldError(t, "change of type", e.do(t, http.MethodPatch, path, admin, map[string]any{"typeId": "MAC", "macAddresses": []string{"00:11:22:33:44:55"}}), "typeId")

	// Types, role attributes, and policies naming checks.
	if l := e.do(t, http.MethodGet, mgmt+"/posture-check-types", admin, nil); len(l.list()) != 6 {
		t.Fatalf("posture check types: %s", l.raw)
	}
	if d := e.do(t, http.MethodGet, mgmt+"/posture-check-types/OS", admin, nil); d.status != http.StatusOK {
		t.Fatalf("OS type: %d %s", d.status, d.raw)
	}
	wantError(t, "unknown type", e.do(t, http.MethodGet, mgmt+"/posture-check-types/SMELL", admin, nil), http.StatusNotFound, "NOT_FOUND")
	sp := createOK(t, e, "/service-policies", map[string]any{"name": uniq("sp-pc"), "type": "Dial", "semantic": "AnyOf",
		"postureCheckRoles": []string{"#pc-MAC", "@" + ids["DOMAIN"]}})
	l := e.do(t, http.MethodGet, mgmt+"/service-policies/"+sp+"/posture-checks", admin, nil)
	if l.status != http.StatusOK || len(l.list()) != 2 {
		t.Fatalf("the policy's posture checks: %d %s", l.status, l.raw)
	}
	if r := e.do(t, http.MethodDelete, mgmt+"/posture-checks/"+ids["DOMAIN"], admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete check: %d %s", r.status, r.raw)
	}
	if roles := e.do(t, http.MethodGet, mgmt+"/service-policies/"+sp, admin, nil).data()["postureCheckRoles"].([]any); len(roles) != 1 || roles[0] != "#pc-MAC" {
		t.Fatalf("policy after its check was deleted: %v", roles)
	}
}
