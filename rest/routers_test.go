package rest

import (
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/fsm"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
)

// Transit routers and edge routers share one kind: each management view
// shows only its own, the fabric API shows both, a policy's #all or @id
// never reaches a transit router, a transit router gets an enrollment,
// and the fabric's sub-lists show a router's and a service's terminators.
func TestRouterViews(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	edgeID := createOK(t, e, "/edge-routers", map[string]any{"name": uniq("rv-edge")})
	transitID := createOK(t, e, "/transit-routers", map[string]any{"name": uniq("rv-transit")})
	fabricID := createIn(t, e, FabricBase, "/routers", map[string]any{"id": uniq("rv-fabric"), "name": uniq("rv-fabric"),
		"cost": 1, "noTraversal": false, "fingerprint": uniq("rv-fp")})

	listed := func(path string) []string {
		t.Helper()
		r := e.do(t, http.MethodGet, path+"?limit=500", admin, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
		var out []string
		for _, item := range r.list() {
			out = append(out, obj(item)["id"].(string))
		}
		return out
	}
	for path, want := range map[string]map[string]bool{
		mgmt + "/edge-routers":    {edgeID: true, transitID: false, fabricID: false},
		mgmt + "/transit-routers": {edgeID: false, transitID: true, fabricID: true},
		mgmt + "/routers":         {edgeID: false, transitID: true, fabricID: true},
		FabricBase + "/routers":   {edgeID: true, transitID: true, fabricID: true},
	} {
		got := listed(path)
		for id, in := range want {
			if slices.Contains(got, id) != in {
				t.Errorf("%s lists %s: %v, want %v", path, id, !in, in)
			}
		}
	}
	total := func(path string) any {
		return obj(obj(e.do(t, http.MethodGet, mgmt+path, admin, nil).body["meta"])["pagination"])["totalCount"]
	}
	sum := e.do(t, http.MethodGet, mgmt+"/summary", admin, nil).data()
	if sum["edgeRouters"] != total("/edge-routers") || sum["transitRouters"] != total("/transit-routers") {
		t.Errorf("summary %v %v, lists %v %v", sum["edgeRouters"], sum["transitRouters"], total("/edge-routers"), total("/transit-routers"))
	}
	wantError(t, "a transit router as an edge router", e.do(t, http.MethodGet, mgmt+"/edge-routers/"+transitID, admin, nil), http.StatusNotFound, "NOT_FOUND")
	wantError(t, "an edge router as a transit router", e.do(t, http.MethodGet, mgmt+"/transit-routers/"+edgeID, admin, nil), http.StatusNotFound, "NOT_FOUND")
	wantError(t, "an edge router deleted as a router", e.do(t, http.MethodDelete, mgmt+"/routers/"+edgeID, admin, nil), http.StatusConflict, "CONFLICT")
	wantError(t, "re-enroll of a transit router", e.do(t, http.MethodPost, mgmt+"/edge-routers/"+transitID+"/re-enroll", admin, nil), http.StatusNotFound, "NOT_FOUND")

	// A transit router made on the management API enrolls; one made on
	// the fabric API has the fingerprint it was given.
	tr := e.do(t, http.MethodGet, mgmt+"/transit-routers/"+transitID, admin, nil).data()
	if tr["enrollmentJwt"] == nil || tr["isVerified"] != false || tr["isOnline"] != false {
		t.Errorf("a new transit router: %v", tr)
	}
	enr := e.do(t, http.MethodGet, mgmt+"/enrollments?filter="+queryEscape(`edgeRouterId = "`+transitID+`"`), admin, nil).list()
	if len(enr) != 1 || obj(enr[0])["transitRouterId"] != transitID || obj(enr[0])["edgeRouterId"] != nil {
		t.Errorf("a transit router's enrollment: %v", enr)
	}
	fr := e.do(t, http.MethodGet, FabricBase+"/routers/"+fabricID, admin, nil).data()
	if fr["connected"] != false || fr["fingerprint"] == "" || e.do(t, http.MethodGet, mgmt+"/transit-routers/"+fabricID, admin, nil).data()["isVerified"] != true {
		t.Errorf("a router made on the fabric API: %v", fr)
	}
	// An edge router's fingerprint is its enrollment's.
	wantFieldError(t, "edge router fingerprint", e.do(t, http.MethodPatch, FabricBase+"/routers/"+edgeID, admin, map[string]any{"fingerprint": "ab"}), "fingerprint")
	// Names are one space for every router.
	taken := e.do(t, http.MethodGet, mgmt+"/edge-routers/"+edgeID, admin, nil).data()["name"]
	wantFieldError(t, "a transit router named like an edge router", e.do(t, http.MethodPost, mgmt+"/transit-routers", admin, map[string]any{"name": taken}), "name")
	wantFieldError(t, "control channel listeners", e.do(t, http.MethodPost, mgmt+"/transit-routers", admin,
		map[string]any{"name": uniq("rv-l"), "ctrlChanListeners": map[string]any{"tls:1.2.3.4:80": []string{"x"}}}), "ctrlChanListeners")
	wantFieldError(t, "a fabric router without an id", e.do(t, http.MethodPost, FabricBase+"/routers", admin,
		map[string]any{"name": uniq("rv-noid"), "cost": 1, "noTraversal": false}), "id")

	// #all and @id reach edge routers only; no policy names a transit
	// router.
	wantFieldError(t, "a policy naming a transit router", e.do(t, http.MethodPost, mgmt+"/edge-router-policies", admin, map[string]any{
		"name": uniq("rv-erp"), "semantic": "AnyOf", "identityRoles": []string{"#x"}, "edgeRouterRoles": []string{"@" + transitID}}), "edgeRouterRoles")
	for _, roles := range [][]string{{"#all"}, {"@" + edgeID}} {
		erp := createOK(t, e, "/edge-router-policies", map[string]any{"name": uniq("rv-erp"), "semantic": "AnyOf",
			"identityRoles": []string{"#" + uniq("rv-nobody")}, "edgeRouterRoles": roles})
		reached := listed(mgmt + "/edge-router-policies/" + erp + "/edge-routers")
		if !slices.Contains(reached, edgeID) || slices.Contains(reached, transitID) || slices.Contains(reached, fabricID) {
			t.Errorf("a policy of %v reaches %v", roles, reached)
		}
	}

	// The fabric's sub-lists.
	svc := createIn(t, e, FabricBase, "/services", map[string]any{"name": uniq("rv-svc")})
	term := createIn(t, e, FabricBase, "/terminators", map[string]any{"service": svc, "router": transitID, "address": "tcp:127.0.0.1:80", "binding": "transport"})
	for _, path := range []string{FabricBase + "/routers/" + transitID + "/terminators", FabricBase + "/services/" + svc + "/terminators"} {
		if got := listed(path); !slices.Equal(got, []string{term}) {
			t.Errorf("%s: %v, want [%s]", path, got, term)
		}
	}
	// The management API sees the fabric's service, unencrypted.
	if d := e.do(t, http.MethodGet, mgmt+"/services/"+svc, admin, nil).data(); d["encryptionRequired"] != false || d["terminatorStrategy"] != "smartrouting" {
		t.Errorf("a fabric service on the management API: %v", d)
	}
	// Deleting a router takes its terminators with it.
	if r := e.do(t, http.MethodDelete, mgmt+"/transit-routers/"+transitID, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	wantError(t, "terminator of a deleted router", e.do(t, http.MethodGet, FabricBase+"/terminators/"+term, admin, nil), http.StatusNotFound, "NOT_FOUND")
}

// Links, circuits and inspections exist only in a data plane: empty lists,
// 404 for an id where the spec has one, 200 for a delete where it has none,
// and inspections that match nothing (or say what is wrong), all in the
// spec's shapes.
func TestDataPlaneAbsent(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	for _, kind := range []string{"links", "circuits"} {
		l := e.do(t, http.MethodGet, FabricBase+"/"+kind, admin, nil)
		if l.status != http.StatusOK || len(l.list()) != 0 {
			t.Errorf("%s: %d %s", kind, l.status, l.raw)
		}
		wantError(t, kind+" id", e.do(t, http.MethodGet, FabricBase+"/"+kind+"/x", admin, nil), http.StatusNotFound, "NOT_FOUND")
		if r := e.do(t, http.MethodDelete, FabricBase+"/"+kind+"/x", admin, nil); r.status != http.StatusOK {
			t.Errorf("delete a %s: %d %s", kind, r.status, r.raw)
		}
	}
	wantError(t, "patch a link", e.do(t, http.MethodPatch, FabricBase+"/links/x", admin, map[string]any{"down": true}), http.StatusNotFound, "NOT_FOUND")
	for body, ok := range map[string]bool{
		`{"appRegex": ".*", "requestedValues": ["stackdump"]}`: true,
		`{"appRegex": "(", "requestedValues": []}`:             false,
		`{"requestedValues": []}`:                              false,
		`not json`:                                             false,
	} {
		r := e.do(t, http.MethodPost, FabricBase+"/inspections", admin, body)
		errs, _ := r.body["errors"].([]any)
		if r.status != http.StatusOK || r.body["success"] != ok || (len(errs) == 0) != ok {
			t.Errorf("inspect %s: %d %s", body, r.status, r.raw)
		}
	}
	if r := e.do(t, http.MethodGet, FabricBase+"/links", e.userToken(t), nil); r.status != http.StatusUnauthorized {
		t.Errorf("a non-admin lists links: %d", r.status)
	}
}

// The client API's service PUT, PATCH and DELETE are the management API's,
// for admins.
func TestClientServiceWrites(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	svc := createOK(t, e, "/services", map[string]any{"name": uniq("csw"), "encryptionRequired": true})
	wantError(t, "a non-admin patches", e.do(t, http.MethodPatch, ClientBase+"/services/"+svc, e.userToken(t), map[string]any{"maxIdleTimeMillis": 5}), http.StatusUnauthorized, "UNAUTHORIZED")
	if r := e.do(t, http.MethodPatch, ClientBase+"/services/"+svc, admin, map[string]any{"maxIdleTimeMillis": 5}); r.status != http.StatusOK {
		t.Fatalf("patch: %d %s", r.status, r.raw)
	}
	if d := e.do(t, http.MethodGet, mgmt+"/services/"+svc, admin, nil).data(); d["maxIdleTimeMillis"] != float64(5) {
		t.Errorf("after the patch: %v", d)
	}
	if r := e.do(t, http.MethodDelete, ClientBase+"/services/"+svc, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	wantError(t, "deleted", e.do(t, http.MethodGet, mgmt+"/services/"+svc, admin, nil), http.StatusNotFound, "NOT_FOUND")
}

// A trace is stored on the identity for every node, for its duration; a
// bad duration is a 400 that stores nothing; enabled false ends it.
func TestIdentityTrace(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	id := newIdentity(t, e, map[string]any{"name": uniq("trace"), "type": "User", "isAdmin": false})
	r := e.do(t, http.MethodPut, mgmt+"/identities/"+id+"/trace", admin, map[string]any{"enabled": true, "duration": "5m", "traceId": "t-1"})
	if r.status != http.StatusOK || r.data()["traceId"] != "t-1" || r.data()["enabled"] != true || r.data()["until"] == nil {
		t.Fatalf("trace: %d %s", r.status, r.raw)
	}
	stored := func() *pb.Identity {
		rec, err := e.store.Get(fsm.KindIdentity, id)
		if err != nil {
			t.Fatal(err)
		}
		return rec.Body.(*pb.Identity)
	}
	if got := stored(); got.GetTraceId() != "t-1" || time.Until(time.Unix(0, got.GetTraceUntil())) < 4*time.Minute {
		t.Fatalf("stored trace: %v", got)
	}
	wantFieldError(t, "bad duration", e.do(t, http.MethodPut, mgmt+"/identities/"+id+"/trace", admin, map[string]any{"enabled": true, "duration": "forever"}), "duration")
	wantFieldError(t, "too long", e.do(t, http.MethodPut, mgmt+"/identities/"+id+"/trace", admin, map[string]any{"enabled": true, "duration": "48h"}), "duration")
	if stored().GetTraceId() != "t-1" {
		t.Fatal("a refused trace changed the stored one")
	}
	if r := e.do(t, http.MethodPut, mgmt+"/identities/"+id+"/trace", admin, map[string]any{"enabled": false}); r.status != http.StatusOK || r.data()["enabled"] != false {
		t.Fatalf("end trace: %d %s", r.status, r.raw)
	}
	if got := stored(); got.GetTraceUntil() != 0 {
		t.Fatalf("an ended trace: %v", got)
	}
	wantError(t, "unknown identity", e.do(t, http.MethodPut, mgmt+"/identities/nobody/trace", admin, map[string]any{"enabled": true}), http.StatusNotFound, "NOT_FOUND")
}

func updbID(list []any) string { return obj(list[0])["id"].(string) }

// An admin's request to extend a certificate reaches the identity's
// certificate sessions; a password authenticator cannot be extended.
func TestRequestExtend(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	u := newCertUser(t, e.apiNode, e.pki.inter, uniq("rqx"), admin)
	withCert := withClientCert(t, e.apiNode, e.pki.roots, u.tlsCert())
	login := withCert.do(t, http.MethodPost, ClientBase+"/authenticate?method=cert", "", map[string]any{})
	if login.status != http.StatusOK {
		t.Fatalf("cert login: %d %s", login.status, login.raw)
	}
	token := login.data()["token"].(string)
	flags := func() map[string]any {
		return e.do(t, http.MethodGet, ClientBase+"/current-api-session", token, nil).data()
	}
	if f := flags(); f["isCertExtendable"] != true || f["isCertExtendRequested"] != false || f["isCertKeyRollRequested"] != false {
		t.Fatalf("before: %v", f)
	}
	if r := e.do(t, http.MethodPost, mgmt+"/authenticators/"+u.authID+"/request-extend", admin, map[string]any{"rollKeys": true}); r.status != http.StatusOK {
		t.Fatalf("request-extend: %d %s", r.status, r.raw)
	}
	if f := flags(); f["isCertExtendRequested"] != true || f["isCertKeyRollRequested"] != true {
		t.Fatalf("after: %v", f)
	}
	updb := e.do(t, http.MethodGet, mgmt+"/authenticators?filter="+queryEscape(`identityId = "`+u.identityID+`" and method = "updb"`), admin, nil).list()
	if len(updb) != 1 {
		t.Fatalf("updb authenticators: %v", updb)
	}
	wantError(t, "extend a password", e.do(t, http.MethodPost, mgmt+"/authenticators/"+obj(updb[0])["id"].(string)+"/request-extend", admin, nil), http.StatusForbidden, api.CodeCanNotUpdateAuthenticator)
	wantError(t, "unknown authenticator", e.do(t, http.MethodPost, mgmt+"/authenticators/nobody/request-extend", admin, nil), http.StatusNotFound, "NOT_FOUND")
	// A malformed body is a 400 (undocumented there) that changes nothing.
	before := storedAuthenticator(t, e.apiNode, updbID(updb))
	wantFieldError(t, "rollKeys not a boolean", e.doUnchecked(t, http.MethodPost, mgmt+"/authenticators/"+updbID(updb)+"/request-extend", admin,
		map[string]any{"rollKeys": "yes"}), "rollKeys")
	if after := storedAuthenticator(t, e.apiNode, updbID(updb)); after.GetIsExtendRequested() != before.GetIsExtendRequested() {
		t.Error("a refused request-extend changed the authenticator")
	}
}
