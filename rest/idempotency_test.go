package rest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// A create retried with the same Idempotency-Key answers the first
// creation, once; another caller's same key is its own; a malformed key is
// a 400; the same key for a different request is a 400.
func TestIdempotencyKeyRetriesTakeEffectOnce(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	create := func(token, key, name string) *response {
		h := http.Header{}
		if key != "" {
			h.Set(api.IdempotencyHeader, key)
		}
		return e.doWithHeader(t, http.MethodPost, mgmt+"/identities", token, map[string]any{"name": name, "type": "User", "isAdmin": false}, h)
	}
	first := create(admin, "k-123", "idem-once")
	again := create(admin, "k-123", "idem-once")
	if first.status != http.StatusCreated || again.status != http.StatusCreated || first.data()["id"] != again.data()["id"] {
		t.Fatalf("retry with the key: %d %s / %d %s", first.status, first.raw, again.status, again.raw)
	}
	list := e.do(t, http.MethodGet, mgmt+`/identities?filter=name%3D%22idem-once%22`, admin, nil)
	if len(list.list()) != 1 {
		t.Fatalf("%d identities after a retried create", len(list.list()))
	}
	// The same key with another body, or on another path, is a client
	// error that changes nothing.
	reused := []*response{create(admin, "k-123", "idem-twice")}
	h := http.Header{api.IdempotencyHeader: {"k-123"}}
	reused = append(reused, readResponse(t, e.send(t, http.MethodPatch, mgmt+"/identities/"+first.data()["id"].(string), admin, map[string]any{"name": "idem-renamed"}, h)))
	for i, r := range reused {
		if r.status != http.StatusBadRequest || !strings.Contains(string(r.raw), api.CodeIdempotencyKeyReused) {
			t.Fatalf("reused key %d: %d %s", i, r.status, r.raw)
		}
	}
	if got := e.do(t, http.MethodGet, mgmt+"/identities/"+first.data()["id"].(string), admin, nil); got.data()["name"] != "idem-once" {
		t.Fatalf("a reused key changed the identity: %s", got.raw)
	}
	if n := len(e.do(t, http.MethodGet, mgmt+`/identities?filter=name%3D%22idem-twice%22`, admin, nil).list()); n != 0 {
		t.Fatalf("a reused key created %d identities", n)
	}
	// Without a key, the same body twice is two requests: the second a
	// name conflict.
	if r := create(admin, "", "idem-once"); r.status == http.StatusCreated {
		t.Fatalf("a create without a key was taken as a retry: %s", r.raw)
	}
	// Another identity's same key names its own request.
	id2 := newIdentity(t, e, map[string]any{"name": uniq("idem-admin"), "type": "User", "isAdmin": true})
	createOK(t, e, "/authenticators", map[string]any{"method": "updb", "identityId": id2, "username": "idem-admin-2", "password": "idem-pw-12"})
	other := create(e.login(t, ClientBase, "idem-admin-2", "idem-pw-12"), "k-123", "idem-other")
	if other.status != http.StatusCreated || other.data()["id"] == first.data()["id"] {
		t.Fatalf("another caller's key: %d %s", other.status, other.raw)
	}
	for _, bad := range []string{strings.Repeat("k", 256), "tab\there"} {
		h := http.Header{api.IdempotencyHeader: {bad}}
		resp := readResponse(t, e.send(t, http.MethodPost, mgmt+"/identities", admin, map[string]any{"name": "idem-bad", "type": "User", "isAdmin": false}, h))
		if resp.status != http.StatusBadRequest || causeField(wantError(t, "bad key", resp, http.StatusBadRequest, "COULD_NOT_VALIDATE")) != api.IdempotencyHeader {
			t.Fatalf("key %q: %d %s", bad, resp.status, resp.raw)
		}
	}
}

// A retry whose first attempt took effect gets that attempt's answer even
// when the state has moved on since: a delete retried finds its entity
// gone, a patch retried finds it deleted by someone else, a create retried
// finds its entity deleted. None takes effect again.
func TestIdempotentRetryAfterTheStateMoved(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	send := func(method, path, key string, body map[string]any) *response {
		t.Helper()
		h := http.Header{}
		if key != "" {
			h.Set(api.IdempotencyHeader, key)
		}
		return e.doWithHeader(t, method, mgmt+path, admin, body, h)
	}
	svc := func(name string) map[string]any { return map[string]any{"name": name, "encryptionRequired": true} }
	named := func(name string) int {
		return len(e.do(t, http.MethodGet, mgmt+`/services?filter=name%3D%22`+name+`%22`, admin, nil).list())
	}

	gone := createOK(t, e, "/services", svc("retry-delete"))
	for i := range 2 {
		if r := send(http.MethodDelete, "/services/"+gone, "del-1", nil); r.status != http.StatusOK {
			t.Fatalf("delete, attempt %d: %d %s", i+1, r.status, r.raw)
		}
	}
	wantError(t, "a delete without a key", send(http.MethodDelete, "/services/"+gone, "", nil), http.StatusNotFound, api.CodeNotFound)
	// The same key on another entity is another request.
	other := createOK(t, e, "/services", svc("retry-other"))
	wantError(t, "the key on another entity", send(http.MethodDelete, "/services/"+other, "del-1", nil), http.StatusBadRequest, api.CodeIdempotencyKeyReused)
	if named("retry-other") != 1 {
		t.Fatal("a reused key deleted another entity")
	}

	patched := createOK(t, e, "/services", svc("retry-patch"))
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		if r := send(method, "/services/"+patched, "upd-"+method, svc("retry-patch")); r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", method, r.status, r.raw)
		}
	}
	if r := send(http.MethodDelete, "/services/"+patched, "", nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	for _, method := range []string{http.MethodPatch, http.MethodPut} {
		if r := send(method, "/services/"+patched, "upd-"+method, svc("retry-patch")); r.status != http.StatusOK {
			t.Fatalf("%s retried after the delete: %d %s", method, r.status, r.raw)
		}
	}
	wantError(t, "a patch without a key", send(http.MethodPatch, "/services/"+patched, "", svc("retry-patch")), http.StatusNotFound, api.CodeNotFound)
	if named("retry-patch") != 0 {
		t.Fatal("a retried update brought a deleted entity back")
	}

	first := send(http.MethodPost, "/services", "create-1", svc("retry-create"))
	if first.status != http.StatusCreated {
		t.Fatalf("create: %d %s", first.status, first.raw)
	}
	id := first.data()["id"].(string)
	if r := send(http.MethodDelete, "/services/"+id, "", nil); r.status != http.StatusOK {
		t.Fatalf("delete: %d %s", r.status, r.raw)
	}
	again := send(http.MethodPost, "/services", "create-1", svc("retry-create"))
	if again.status != http.StatusCreated || again.data()["id"] != id {
		t.Fatalf("create retried after a delete: %d %s, want 201 naming %s", again.status, again.raw, id)
	}
	if named("retry-create") != 0 {
		t.Fatal("a retried create took effect again")
	}

	// An entity whose id the body gives: a retry refused for what its first
	// attempt made (a member's settings exist) names that id too.
	member := e.srv.node.ID()
	settings := mgmt + "/controller-settings/" + member + "/effective"
	_ = e.doUnchecked(t, http.MethodDelete, settings, admin, nil) // another test's, if left
	body := map[string]any{"controllerId": member, "oidc": map[string]any{"redirectUris": []string{"https://retry.example/cb"}}}
	for i := range 2 {
		r := send(http.MethodPost, "/controller-settings", "create-settings", body)
		if r.status != http.StatusCreated || r.data()["id"] != member {
			t.Fatalf("create a member's settings, attempt %d: %d %s, want 201 naming %s", i+1, r.status, r.raw, member)
		}
	}
	if r := e.do(t, http.MethodDelete, settings, admin, nil); r.status != http.StatusOK {
		t.Fatalf("delete the member's settings: %d %s", r.status, r.raw)
	}
}
