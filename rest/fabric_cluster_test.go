package rest

import (
	"net/http"
	"testing"

	"github.com/garrison-ctrl/garrison/rest/api"
)

const (
	listMembers        = FabricBase + "/cluster/list-members"
	addMember          = FabricBase + "/cluster/add-member"
	removeMember       = FabricBase + "/cluster/remove-member"
	transferLeadership = FabricBase + "/cluster/transfer-leadership"
)

func TestFabricListMembers(t *testing.T) {
	e := env(t)
	r := e.do(t, http.MethodGet, listMembers, e.adminToken(t), nil)
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.raw)
	}
	list := r.list()
	if len(list) != 1 {
		t.Fatalf("%d members, want 1: %s", len(list), r.raw)
	}
	m := obj(list[0])
	for k, want := range map[string]any{
		"id": "n1", "address": "tls:" + e.node.Address(), "leader": true, "voter": true, "connected": true, "readOnly": false,
	} {
		if m[k] != want {
			t.Errorf("member.%s = %v, want %v", k, m[k], want)
		}
	}
	if v := stringOf(m["version"]); v == "" || v == "<not connected>" {
		t.Errorf("member.version %q for the node itself", v)
	}

	r = e.do(t, http.MethodGet, listMembers, e.userToken(t), nil)
	wantError(t, "list-members as a non-admin", r, http.StatusUnauthorized, api.CodeUnauthorized)
	r = e.do(t, http.MethodGet, listMembers, "", nil)
	wantError(t, "list-members without a session", r, http.StatusUnauthorized, api.CodeUnauthorized)
	r = e.do(t, http.MethodGet, listMembers, "garbage", nil)
	wantError(t, "list-members with a garbage token", r, http.StatusUnauthorized, api.CodeUnauthorized)
}

func TestFabricAddMemberValidation(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	for _, c := range []struct {
		name  string
		body  any
		code  string
		field string
	}{
		{"missing address", map[string]any{"isVoter": true}, api.CodeCouldNotValidate, "address"},
		{"empty address", map[string]any{"address": "", "isVoter": true}, api.CodeCouldNotValidate, "address"},
		{"missing isVoter", map[string]any{"address": "tls:127.0.0.1:1"}, api.CodeCouldNotValidate, "isVoter"},
		{"isVoter not a boolean", `{"address": "tls:127.0.0.1:1", "isVoter": "yes"}`, api.CodeCouldNotValidate, "isVoter"},
		{"nothing listening", map[string]any{"address": "tls:127.0.0.1:1", "isVoter": true}, api.CodeCouldNotValidate, "address"},
		{"body not JSON", "address=x", api.CodeCouldNotParseBody, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.do(t, http.MethodPost, addMember, token, c.body)
			er := wantError(t, c.name, r, http.StatusBadRequest, c.code)
			if causeField(er) != c.field {
				t.Errorf("error.cause.field %q, want %q: %s", causeField(er), c.field, r.raw)
			}
		})
	}
	r := e.do(t, http.MethodPost, addMember, e.userToken(t), map[string]any{"address": "tls:127.0.0.1:1", "isVoter": true})
	wantError(t, "add-member as a non-admin", r, http.StatusUnauthorized, api.CodeUnauthorized)
	r = e.do(t, http.MethodPost, addMember, "", map[string]any{"address": "tls:127.0.0.1:1", "isVoter": true})
	wantError(t, "add-member without a session", r, http.StatusUnauthorized, api.CodeUnauthorized)
	assertStillOneLeader(t, e)
}

func TestFabricRemoveMember(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	r := e.do(t, http.MethodPost, removeMember, token, map[string]any{"id": "no-such-node"})
	wantError(t, "remove unknown member", r, http.StatusNotFound, api.CodeNotFound)
	r = e.do(t, http.MethodPost, removeMember, token, map[string]any{})
	er := wantError(t, "remove without id", r, http.StatusBadRequest, api.CodeCouldNotValidate)
	if causeField(er) != "id" {
		t.Errorf("error.cause.field %q, want id", causeField(er))
	}
	r = e.do(t, http.MethodPost, removeMember, e.userToken(t), map[string]any{"id": "n1"})
	wantError(t, "remove-member as a non-admin", r, http.StatusUnauthorized, api.CodeUnauthorized)
	assertStillOneLeader(t, e)
}

func TestFabricTransferLeadership(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	r := e.do(t, http.MethodPost, transferLeadership, token, map[string]any{"newLeaderId": "no-such-node"})
	wantError(t, "transfer to unknown member", r, http.StatusNotFound, api.CodeNotFound)
	// To the current leader itself: nothing to do.
	r = e.do(t, http.MethodPost, transferLeadership, token, map[string]any{"newLeaderId": "n1"})
	if r.status != http.StatusOK {
		t.Errorf("transfer to the leader itself: %d %s", r.status, r.raw)
	}
	r = e.do(t, http.MethodPost, transferLeadership, e.userToken(t), map[string]any{"newLeaderId": "n1"})
	wantError(t, "transfer-leadership as a non-admin", r, http.StatusUnauthorized, api.CodeUnauthorized)
	assertStillOneLeader(t, e)
}

// assertStillOneLeader: the rejected operations left the cluster as it was.
func assertStillOneLeader(t *testing.T, e *testEnv) {
	t.Helper()
	members, err := e.node.Members()
	if err != nil || len(members) != 1 || !members[0].Leader || !e.node.IsLeader() {
		t.Errorf("membership changed: %+v %v", members, err)
	}
}
