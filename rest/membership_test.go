package rest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// TestFabricMembershipRoundTrip runs on a cluster of its own (the shared
// one must stay a single node): a second node is added as a non-voter
// through the Fabric API, answers API calls with a token minted on the
// first, and is removed again.
func TestFabricMembershipRoundTrip(t *testing.T) {
	t.Parallel()
	p, err := newTestPKI()
	if err != nil {
		t.Fatal(err)
	}
	a, err := startAPINode(p, "a1", t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.close)
	b, err := startAPINode(p, "b2", t.TempDir(), 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.close)
	if err := a.node.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := a.node.WaitForLeader(ctx); err != nil {
		t.Fatal(err)
	}
	if aerr := a.srv.CreateDefaultAdmin(httptest.NewRequest(http.MethodPost, AgentInitPath, nil),
		InitRequest{AdminUsername: adminUsername, AdminPassword: adminPassword, AdminName: adminName}); aerr != nil {
		t.Fatal(aerr)
	}
	token := a.login(t, ManagementBase, adminUsername, adminPassword)

	r := a.do(t, http.MethodPost, addMember, token, map[string]any{"address": "tls:" + b.node.Address(), "isVoter": false})
	if r.status != http.StatusOK {
		t.Fatalf("add-member: %d %s", r.status, r.raw)
	}
	// Adding the same member again is a no-op.
	if r := a.do(t, http.MethodPost, addMember, token, map[string]any{"address": b.node.Address(), "isVoter": false}); r.status != http.StatusOK {
		t.Errorf("repeated add-member: %d %s", r.status, r.raw)
	}

	// The new member catches up, sees the session and records itself.
	waitFor(t, "b2 connected and both controllers listed on b2", func() (bool, string) {
		r := a.do(t, http.MethodGet, listMembers, token, nil)
		byID := map[string]map[string]any{}
		for _, m := range r.list() {
			byID[stringOf(obj(m)["id"])] = obj(m)
		}
		if len(byID) != 2 || byID["b2"]["connected"] != true {
			return false, string(r.raw)
		}
		c := b.do(t, http.MethodGet, ClientBase+"/controllers", token, nil)
		if c.status != http.StatusOK || len(c.list()) != 2 {
			return false, string(c.raw)
		}
		return true, string(r.raw)
	})
	r = a.do(t, http.MethodGet, listMembers, token, nil)
	for _, m := range r.list() {
		m := obj(m)
		switch m["id"] {
		case "a1":
			if m["leader"] != true || m["voter"] != true {
				t.Errorf("a1: %v", m)
			}
		case "b2":
			if m["leader"] != false || m["voter"] != false || m["address"] != "tls:"+b.node.Address() {
				t.Errorf("b2: %v", m)
			}
		}
	}
	// The follower serves the Fabric API too (reads are local).
	if r := b.do(t, http.MethodGet, listMembers, token, nil); r.status != http.StatusOK || len(r.list()) != 2 {
		t.Errorf("list-members on the follower: %d %s", r.status, r.raw)
	}

	t.Run("transfer leadership to a non-voter", func(t *testing.T) {
		// The spec documents 200, 401, 404, 429, 500 and 503 for this
		// operation; a.do fails the test on any other status.
		r := a.do(t, http.MethodPost, transferLeadership, token, map[string]any{"newLeaderId": "b2"})
		if r.status == http.StatusOK {
			t.Errorf("leadership handed to a non-voter: %s", r.raw)
		}
		if !a.node.IsLeader() {
			t.Error("a1 is no longer the leader")
		}
	})

	// Removing through the follower: forwarded to the leader.
	r = b.do(t, http.MethodPost, removeMember, token, map[string]any{"id": "b2"})
	if r.status != http.StatusOK {
		t.Fatalf("remove-member: %d %s", r.status, r.raw)
	}
	r = a.do(t, http.MethodGet, listMembers, token, nil)
	if len(r.list()) != 1 || obj(r.list()[0])["id"] != "a1" {
		t.Errorf("after remove-member: %s", r.raw)
	}
	waitFor(t, "b2's controller record deleted", func() (bool, string) {
		r := a.do(t, http.MethodGet, ClientBase+"/controllers", token, nil)
		return len(r.list()) == 1 && obj(r.list()[0])["id"] == "a1", string(r.raw)
	})
	r = a.do(t, http.MethodPost, removeMember, token, map[string]any{"id": "b2"})
	wantError(t, "removing b2 twice", r, http.StatusNotFound, api.CodeNotFound)
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, what string, cond func() (bool, string)) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok, last := cond()
		if ok {
			return last
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; last: %s", what, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
