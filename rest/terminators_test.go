package rest

import (
	"net/http"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Terminators are entities only: created, changed and listed as the spec
// shapes them, refused with the field named and nothing stored, deleted
// with their service, and shown to a client only for a service it may
// reach.
func TestTerminators(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	tag := uniq("term")
	router := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("term-er"), "roleAttributes": []string{tag}})
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("term-svc"), "encryptionRequired": true, "roleAttributes": []string{tag}})
	other := createOK(t, e, "/services", map[string]any{"name": uniq("term-other"), "encryptionRequired": true})

	before := e.count(t, fsm.KindTerminator)
	good := map[string]any{"service": svc, "router": router, "address": "tcp:10.0.0.1:80", "binding": "transport"}
	for what, c := range map[string]struct {
		change map[string]any
		field  string
	}{
		"unknown service":   {map[string]any{"service": "no-such-service"}, "service"},
		"unknown router":    {map[string]any{"router": "no-such-router"}, "router"},
		"no address":        {map[string]any{"address": nil}, "address"},
		"cost too high":     {map[string]any{"cost": 70000}, "cost"},
		"bad precedence":    {map[string]any{"precedence": "sometimes"}, "precedence"},
		"secret not base64": {map[string]any{"identitySecret": "not base64!"}, "identitySecret"},
	} {
		body := map[string]any{}
		for k, v := range good {
			body[k] = v
		}
		for k, v := range c.change {
			if v == nil {
				delete(body, k)
			} else {
				body[k] = v
			}
		}
		wantFieldError(t, what, e.do(t, http.MethodPost, mgmt+"/terminators", admin, body), c.field)
	}
	if n := e.count(t, fsm.KindTerminator); n != before {
		t.Fatalf("refused terminators were stored: %d → %d", before, n)
	}

	body := map[string]any{"cost": 10, "precedence": "required", "identity": "host-1", "identitySecret": "c2VjcmV0"}
	for k, v := range good {
		body[k] = v
	}
	term := createOK(t, e, "/terminators", body)
	d := e.do(t, http.MethodGet, mgmt+"/terminators/"+term, admin, nil).data()
	if d["serviceId"] != svc || obj(d["service"])["id"] != svc || d["routerId"] != router || d["cost"] != float64(10) ||
		d["dynamicCost"] != float64(10) || d["precedence"] != "required" || d["identity"] != "host-1" {
		t.Fatalf("terminator detail: %v", d)
	}
	if _, ok := d["identitySecret"]; ok {
		t.Fatalf("the identity secret is rendered: %v", d)
	}
	if r := e.do(t, http.MethodPatch, mgmt+"/terminators/"+term, admin, map[string]any{"cost": 20}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if d := e.do(t, http.MethodGet, mgmt+"/terminators/"+term, admin, nil).data(); d["cost"] != float64(20) || d["precedence"] != "required" {
		t.Fatalf("after the patch: %v", d)
	}
	if l := e.do(t, http.MethodGet, mgmt+"/services/"+svc+"/terminators", admin, nil); len(l.list()) != 1 {
		t.Fatalf("the service's terminators: %s", l.raw)
	}
	if l := e.do(t, http.MethodGet, mgmt+`/terminators?filter=service="`+svc+`"`, admin, nil); len(l.list()) != 1 {
		t.Fatalf("terminators filtered by service: %s", l.raw)
	}

	// A client sees them for a service it may dial, and no other.
	ident, token := userWith(t, e, tag)
	createOK(t, e, "/service-policies", map[string]any{"name": uniq("term-sp"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + ident}, "serviceRoles": []string{"@" + svc}})
	l := e.do(t, http.MethodGet, ClientBase+"/services/"+svc+"/terminators", token, nil)
	if l.status != http.StatusOK || len(l.list()) != 1 || obj(l.list()[0])["routerId"] != router {
		t.Fatalf("the client's terminators: %d %s", l.status, l.raw)
	}
	wantError(t, "terminators of a service the client may not reach", e.doUnchecked(t, http.MethodGet, ClientBase+"/services/"+other+"/terminators", token, nil),
		http.StatusNotFound, api.CodeNotFound)

	// They go with their service.
	if r := e.do(t, http.MethodDelete, mgmt+"/services/"+svc, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete the service: %d %s", r.status, r.raw)
	}
	wantError(t, "a terminator of a deleted service", e.doUnchecked(t, http.MethodGet, mgmt+"/terminators/"+term, admin, nil),
		http.StatusNotFound, api.CodeNotFound)
}
