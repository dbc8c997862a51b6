package rest

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// A service names configs by id, one of each config type: an unknown id,
// an id twice and two configs of one type are 400 naming configs, with
// nothing stored; the configs are listed both ways, and a config in use
// cannot be deleted.
func TestServiceConfigs(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	hostType := createOK(t, e, "/config-types", map[string]any{"name": uniq("svc-host")})
	interceptType := createOK(t, e, "/config-types", map[string]any{"name": uniq("svc-intercept")})
	host := createOK(t, e, "/configs", map[string]any{"name": uniq("host"), "configTypeId": hostType, "data": map[string]any{}})
	host2 := createOK(t, e, "/configs", map[string]any{"name": uniq("host2"), "configTypeId": hostType, "data": map[string]any{}})
	intercept := createOK(t, e, "/configs", map[string]any{"name": uniq("intercept"), "configTypeId": interceptType, "data": map[string]any{}})

	before := e.count(t, fsm.KindService)
	for what, configs := range map[string][]string{
		"unknown config":  {host, "no-such-config"},
		"a config twice":  {host, host},
		"two of one type": {host, intercept, host2},
		"not a string":    nil,
	} {
		body := map[string]any{"name": uniq("svc-bad"), "encryptionRequired": true, "configs": configs}
		if configs == nil {
			body["configs"] = []any{7}
		}
		wantFieldError(t, what, e.do(t, http.MethodPost, mgmt+"/services", admin, body), "configs")
	}
	if n := e.count(t, fsm.KindService); n != before {
		t.Fatalf("refused services were stored: %d → %d", before, n)
	}

	svc := createOK(t, e, "/services", map[string]any{"name": uniq("svc"), "encryptionRequired": true, "configs": []string{host, intercept}})
	d := e.do(t, http.MethodGet, mgmt+"/services/"+svc, admin, nil).data()
	if d["terminatorStrategy"] != "smartrouting" || len(d["configs"].([]any)) != 2 || len(d["permissions"].([]any)) != 0 {
		t.Fatalf("service detail: %v", d)
	}
	l := e.do(t, http.MethodGet, mgmt+"/services/"+svc+"/configs", admin, nil)
	if l.status != http.StatusOK || len(l.list()) != 2 {
		t.Fatalf("configs of the service: %d %s", l.status, l.raw)
	}
	for cfg, want := range map[string]int{host: 1, intercept: 1, host2: 0} {
		l := e.do(t, http.MethodGet, mgmt+"/configs/"+cfg+"/services", admin, nil)
		if l.status != http.StatusOK || len(l.list()) != want {
			t.Fatalf("services of config %s: %d %s", cfg, l.status, l.raw)
		}
	}
	wantError(t, "delete a config a service uses", e.do(t, http.MethodDelete, mgmt+"/configs/"+host, admin, nil),
		http.StatusConflict, api.CodeConflictReferenced)
	// Swapping to the other config of the type through PATCH is allowed,
	// adding it beside the first is not.
	wantFieldError(t, "patch in a second config of a type", e.do(t, http.MethodPatch, mgmt+"/services/"+svc, admin,
		map[string]any{"configs": []string{host, intercept, host2}}), "configs")
	if r := e.do(t, http.MethodPatch, mgmt+"/services/"+svc, admin, map[string]any{"configs": []string{host2}}); r.status != http.StatusOK {
		t.Fatalf("patch configs: %d %s", r.status, r.raw)
	}
	if r := e.do(t, http.MethodDelete, mgmt+"/configs/"+host, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete a config no longer used: %d %s", r.status, r.raw)
	}
	// No terminators without a data plane (the policy relations are
	// tested with the policies).
	for _, p := range []string{"/terminators"} {
		if l := e.do(t, http.MethodGet, mgmt+"/services/"+svc+p, admin, nil); l.status != http.StatusOK || len(l.list()) != 0 {
			t.Fatalf("%s of a service: %d %s", p, l.status, l.raw)
		}
	}
	wantError(t, "configs of an unknown service", e.doUnchecked(t, http.MethodGet, mgmt+"/services/nope/configs", admin, nil), http.StatusNotFound, api.CodeNotFound)
}

func TestServiceRoleAttributesAndSummary(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	attr := uniq("svc-attr")
	createOK(t, e, "/services", map[string]any{"name": uniq("svc-ra"), "encryptionRequired": false, "roleAttributes": []string{attr}})
	createOK(t, e, "/edge-routers", map[string]any{"name": uniq("er-ra"), "roleAttributes": []string{attr}})
	createOK(t, e, "/posture-checks", map[string]any{"name": uniq("pc-ra"), "typeId": "DOMAIN", "domains": []string{"example.org"}, "roleAttributes": []string{attr}})
	for _, p := range []string{"/service-role-attributes", "/edge-router-role-attributes", "/posture-check-role-attributes"} {
		l := e.do(t, http.MethodGet, mgmt+p+"?filter="+url.QueryEscape(`id = "`+attr+`"`), admin, nil)
		if l.status != http.StatusOK || len(l.list()) != 1 || l.list()[0] != attr {
			t.Errorf("%s: %d %s", p, l.status, l.raw)
		}
	}
	sum := e.do(t, http.MethodGet, mgmt+"/summary", admin, nil).data()
	if n, _ := sum["services"].(float64); int(n) != e.count(t, fsm.KindService) || n == 0 {
		t.Fatalf("summary services %v, store %d", sum["services"], e.count(t, fsm.KindService))
	}
}
