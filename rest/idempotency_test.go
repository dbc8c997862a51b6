package rest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// A create retried with the same Idempotency-Key answers the first
// creation, once; another caller's same key is its own; a malformed key is
// a 400.
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
