package rest

import (
	"net/http"
	"net/url"
	"testing"

	"github.com/garrison-ctrl/garrison/fsm"
)

// A network session needs the permission of its type and a router both
// the identity's and the service's policies allow; it is the caller's
// API session's, and ends with it.
func TestNetworkSessions(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	tag := uniq("ns")
	router := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("ns-er"), "roleAttributes": []string{tag}})
	ident, token := userWith(t, e, tag)
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("ns-svc"), "encryptionRequired": true, "roleAttributes": []string{tag}})
	lonely := createOK(t, e, "/services", map[string]any{"name": uniq("ns-lonely"), "encryptionRequired": true, "roleAttributes": []string{tag + "-lonely"}})
	hidden := createOK(t, e, "/services", map[string]any{"name": uniq("ns-hidden"), "encryptionRequired": true})
	createOK(t, e, "/service-policies", map[string]any{"name": uniq("ns-sp"), "type": "Dial", "semantic": "AnyOf",
		"identityRoles": []string{"@" + ident}, "serviceRoles": []string{"#" + tag, "#" + tag + "-lonely"}})
	createOK(t, e, "/edge-router-policies", map[string]any{"name": uniq("ns-erp"), "semantic": "AnyOf",
		"identityRoles": []string{"#" + tag}, "edgeRouterRoles": []string{"#" + tag}})
	createOK(t, e, "/service-edge-router-policies", map[string]any{"name": uniq("ns-serp"), "semantic": "AnyOf",
		"serviceRoles": []string{"@" + svc}, "edgeRouterRoles": []string{"@" + router}})

	// Policy advice says why: dial allowed, one router in common; none
	// for the service no router policy covers.
	adv := e.do(t, http.MethodGet, mgmt+"/identities/"+ident+"/policy-advice/"+svc, admin, nil).data()
	if adv["isDialAllowed"] != true || adv["isBindAllowed"] != false || len(adv["commonRouters"].([]any)) != 1 {
		t.Fatalf("policy advice: %v", adv)
	}
	if adv := e.do(t, http.MethodGet, mgmt+"/identities/"+ident+"/policy-advice/"+lonely, admin, nil).data(); len(adv["commonRouters"].([]any)) != 0 || adv["serviceRouterCount"] != float64(0) {
		t.Fatalf("policy advice for a service without routers: %v", adv)
	}
	wantError(t, "advice on an unknown service", e.do(t, http.MethodGet, mgmt+"/identities/"+ident+"/policy-advice/nope", admin, nil), http.StatusNotFound, "NOT_FOUND")

	before := e.count(t, fsm.KindSession)
	for what, c := range map[string]struct {
		body   map[string]any
		status int
		code   string
	}{
		"unknown service":          {map[string]any{"serviceId": "nope"}, http.StatusNotFound, "NOT_FOUND"},
		"a service it may not use": {map[string]any{"serviceId": hidden}, http.StatusNotFound, "NOT_FOUND"},
		"bind without bind":        {map[string]any{"serviceId": svc, "type": "Bind"}, http.StatusBadRequest, codeInvalidSessionType},
		"no shared router":         {map[string]any{"serviceId": lonely}, http.StatusBadRequest, codeNoEdgeRouters},
		"bad type":                 {map[string]any{"serviceId": svc, "type": "Listen"}, http.StatusBadRequest, "COULD_NOT_VALIDATE"},
		"no service":               {map[string]any{"type": "Dial"}, http.StatusBadRequest, "COULD_NOT_VALIDATE"},
	} {
		wantError(t, what, e.do(t, http.MethodPost, ClientBase+"/sessions", token, c.body), c.status, c.code)
	}
	if n := e.count(t, fsm.KindSession); n != before {
		t.Fatalf("refused sessions were stored: %d → %d", before, n)
	}

	r := e.do(t, http.MethodPost, ClientBase+"/sessions", token, map[string]any{"serviceId": svc})
	if r.status != http.StatusCreated {
		t.Fatalf("create session: %d %s", r.status, r.raw)
	}
	d := r.data()
	id := d["id"].(string)
	routers, _ := d["edgeRouters"].([]any)
	if d["type"] != "Dial" || d["token"] == "" || len(routers) != 1 || obj(routers[0])["id"] != router || obj(d["service"])["id"] != svc {
		t.Fatalf("session: %s", r.raw)
	}
	if l := e.do(t, http.MethodGet, ClientBase+"/sessions", token, nil); len(l.list()) != 1 {
		t.Fatalf("own sessions: %s", l.raw)
	}
	if g := e.do(t, http.MethodGet, mgmt+"/sessions/"+id, admin, nil); g.status != http.StatusOK || g.data()["identityId"] != ident {
		t.Fatalf("management detail: %d %s", g.status, g.raw)
	}
	if g := e.do(t, http.MethodGet, mgmt+"/sessions/"+id+"/route-path", admin, nil); g.status != http.StatusOK || len(g.data()["routePath"].([]any)) != 0 {
		t.Fatalf("route path (no data plane, no circuit): %d %s", g.status, g.raw)
	}
	wantError(t, "route path of no session", e.do(t, http.MethodGet, mgmt+"/sessions/no-such-session/route-path", admin, nil), http.StatusNotFound, "NOT_FOUND")
	if g := e.do(t, http.MethodGet, ClientBase+"/sessions/"+id, token, nil); g.status != http.StatusOK || g.data()["id"] != id {
		t.Fatalf("own session detail: %d %s", g.status, g.raw)
	}
	if l := e.do(t, http.MethodGet, mgmt+"/sessions?filter="+url.QueryEscape(`id = "`+id+`"`), admin, nil); len(l.list()) != 1 {
		t.Fatalf("management list: %d %s", l.status, l.raw)
	}
	// Another caller does not see it.
	wantError(t, "someone else's session", e.do(t, http.MethodGet, ClientBase+"/sessions/"+id, admin, nil), http.StatusNotFound, "NOT_FOUND")
	// Deleting it, and the API session's end, remove sessions.
	if r := e.do(t, http.MethodDelete, ClientBase+"/sessions/"+id, token, nil); r.status != http.StatusOK {
		t.Fatalf("delete session: %d %s", r.status, r.raw)
	}
	r = e.do(t, http.MethodPost, ClientBase+"/sessions", token, map[string]any{"serviceId": svc})
	id2, _ := r.data()["id"].(string)
	r = e.do(t, http.MethodPost, ClientBase+"/sessions", token, map[string]any{"serviceId": svc})
	id3, _ := r.data()["id"].(string)
	if r := e.do(t, http.MethodDelete, mgmt+"/sessions/"+id3, admin, nil); r.status != http.StatusOK {
		t.Fatalf("management delete: %d %s", r.status, r.raw)
	}
	if _, err := e.store.Get(fsm.KindSession, id3); err == nil {
		t.Fatal("a session outlived its management delete")
	}
	if r := e.do(t, http.MethodDelete, ClientBase+"/current-api-session", token, nil); r.status != http.StatusOK {
		t.Fatalf("logout: %d %s", r.status, r.raw)
	}
	if _, err := e.store.Get(fsm.KindSession, id2); err == nil {
		t.Fatal("a session outlived its API session")
	}
}
