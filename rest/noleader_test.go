package rest

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garrison-ctrl/garrison/cluster"
	"github.com/garrison-ctrl/garrison/fsm"
	"github.com/garrison-ctrl/garrison/internal/edge"
	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
	"github.com/garrison-ctrl/garrison/rest/api"
	"github.com/garrison-ctrl/garrison/rest/apispec"
)

func TestFromCluster(t *testing.T) {
	passthrough := &api.Error{Status: http.StatusTeapot, Code: "X", Message: "y"}
	for _, c := range []struct {
		name   string
		err    error
		status int
		code   string
	}{
		{"no leader", cluster.ErrNoLeader, http.StatusServiceUnavailable, api.CodeClusterHasNoLeader},
		{"no leader, wrapped", fmt.Errorf("%w: context deadline exceeded", cluster.ErrNoLeader), http.StatusServiceUnavailable, api.CodeClusterHasNoLeader},
		{"unknown outcome", fmt.Errorf("%w: leadership lost", cluster.ErrUnknownOutcome), http.StatusServiceUnavailable, api.CodeTimeout},
		{"member not found", fmt.Errorf("%w: %q", cluster.ErrNotFound, "n9"), http.StatusNotFound, api.CodeNotFound},
		{"invalid", fmt.Errorf("%w: cannot reach", cluster.ErrInvalid), http.StatusBadRequest, api.CodeCouldNotValidate},
		{"api error", fmt.Errorf("wrapped: %w", passthrough), http.StatusTeapot, "X"},
		{"anything else", errors.New("disk on fire"), http.StatusInternalServerError, api.CodeUnhandled},
	} {
		t.Run(c.name, func(t *testing.T) {
			ae := api.FromCluster(c.err)
			if ae == nil || ae.Status != c.status || ae.Code != c.code {
				t.Fatalf("api.FromCluster(%v) = %+v, want %d %s", c.err, ae, c.status, c.code)
			}
			if ae.Message == "" {
				t.Error("empty message")
			}
		})
	}
}

// recordError renders err as the server would answer method path.
func recordError(method, path string, err error) *http.Response {
	req := httptest.NewRequest(method, path, nil)
	rec := httptest.NewRecorder()
	api.WithRequestID(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { api.WriteError(w, r, err) })).ServeHTTP(rec, req)
	resp := rec.Result()
	resp.Request = req
	return resp
}

// TestNoLeaderEnvelopeMatchesSpec: the 503 of a write during an election
// fits the spec's error envelope where the spec documents 503.
func TestNoLeaderEnvelopeMatchesSpec(t *testing.T) {
	ae := api.FromCluster(fmt.Errorf("%w: timed out", cluster.ErrNoLeader))
	for _, c := range []struct{ method, path string }{
		{http.MethodPost, FabricBase + "/cluster/add-member"},
		{http.MethodPost, FabricBase + "/cluster/remove-member"},
		{http.MethodPost, FabricBase + "/cluster/transfer-leadership"},
		{http.MethodPost, ClientBase + "/enroll"},
		{http.MethodDelete, ManagementBase + "/identities/some-id"},
	} {
		resp := recordError(c.method, c.path, ae)
		body, err := apispec.Check(resp)
		if err != nil {
			t.Errorf("%s %s: %v", c.method, c.path, err)
		}
		if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), `"code":"CLUSTER_HAS_NO_LEADER"`) {
			t.Errorf("%s %s: %d %s", c.method, c.path, resp.StatusCode, body)
		}
	}
}

// TestNoLeaderWrites: writes on a node that has never had a leader fail
// with 503 CLUSTER_HAS_NO_LEADER (retryable), never 500, once LeaderWait
// runs out. The node is real (Raft over TLS, bbolt) but never bootstrapped;
// its store is seeded outside Raft so a login gets as far as its write.
func TestNoLeaderWrites(t *testing.T) {
	t.Parallel()
	p, err := newTestPKI()
	if err != nil {
		t.Fatal(err)
	}
	n, err := startAPINode(p, "lonely", t.TempDir(), 300*time.Millisecond, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(n.close)
	cmd, err := userCommand("seeded-admin", "seeded-user", "seeded-password", false)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := n.store.ApplyLocal(1, cmd); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("seed store: %v %v", res, err)
	}

	// An enrollment token this node does not know might exist on the
	// leader: without one to ask, the answer is a retryable 503, not
	// "invalid token".
	en := n.doUnchecked(t, http.MethodPost, ClientBase+"/enroll/ott", "", map[string]any{"token": uuid.NewString(), "clientCsr": "x"})
	wantError(t, "unknown token without a leader", en, http.StatusServiceUnavailable, api.CodeClusterHasNoLeader)
	// Likewise a session token this node does not know.
	wantError(t, "unknown session without a leader", n.doUnchecked(t, http.MethodGet, ClientBase+"/current-identity", uuid.NewString(), nil),
		http.StatusServiceUnavailable, api.CodeClusterHasNoLeader)

	// Through HTTP: the password checks out, the session write cannot be
	// replicated.
	start := time.Now()
	resp := n.send(t, http.MethodPost, ClientBase+"/authenticate?method=password", "",
		map[string]string{"username": "seeded-user", "password": "seeded-password"}, nil)
	body, specErr := apispec.Check(resp)
	r := readResponse(t, resp)
	wantError(t, "login without a leader", r, http.StatusServiceUnavailable, api.CodeClusterHasNoLeader)
	if el := time.Since(start); el > 10*time.Second {
		t.Errorf("the write waited %v for a leader, LeaderWait is 300ms", el)
	}
	if specErr != nil {
		// POST /authenticate documents no 503 (only 200, 400, 401, 429):
		// a gap in the spec for an HA controller, reported, not a Garrison
		// bug. The body must still be the spec's error envelope as the
		// operations that do document 503 define it.
		if !strings.Contains(specErr.Error(), "status 503 is not documented") {
			t.Errorf("spec check: %v", specErr)
		} else {
			t.Logf("SPEC GAP: %v", specErr)
		}
		if err := apispec.ValidateHTTP(http.MethodPost, FabricBase+"/cluster/remove-member", http.StatusServiceUnavailable, body); err != nil {
			t.Errorf("503 body is not the spec's error envelope: %v", err)
		}
	}
	if r.header.Get("zt-session") != "" {
		t.Error("a session token was handed out although the session was never written")
	}

	// Directly: the default admin cannot be created either.
	aerr := n.srv.CreateDefaultAdmin(httptest.NewRequest(http.MethodPost, AgentInitPath, nil),
		InitRequest{AdminUsername: "someone", AdminPassword: "secret-pw"})
	if aerr == nil || aerr.Status != http.StatusServiceUnavailable || aerr.Code != api.CodeClusterHasNoLeader {
		t.Errorf("CreateDefaultAdmin without a leader: %v, want 503 %s", aerr, api.CodeClusterHasNoLeader)
	}

	// Fabric operations that need the leader answer 503 as documented.
	admin := seedAdminSession(t, n)
	for _, c := range []struct {
		path string
		body any
	}{
		{FabricBase + "/cluster/remove-member", map[string]any{"id": "n1"}},
		{FabricBase + "/cluster/transfer-leadership", map[string]any{"newLeaderId": "n1"}},
		{FabricBase + "/cluster/add-member", map[string]any{"address": "tls:" + n.node.Address(), "isVoter": true}},
	} {
		r := n.do(t, http.MethodPost, c.path, admin, c.body)
		wantError(t, c.path+" without a leader", r, http.StatusServiceUnavailable, api.CodeClusterHasNoLeader)
	}
}

// seedAdminSession writes an admin identity and a session for it straight
// into n's store (outside Raft) and returns the session token.
func seedAdminSession(t *testing.T, n *apiNode) string {
	t.Helper()
	token := "seeded-admin-token"
	ident, err := fsm.CreateOp(fsm.KindIdentity, "seeded-admin-id", &pb.Identity{Name: "seeded admin", IsAdmin: true}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sess, err := fsm.CreateOp(fsm.KindApiSession, "seeded-session-id", &pb.ApiSession{
		IdentityId: "seeded-admin-id", TokenHash: edge.TokenHash(token),
		LastActivityAt: time.Now().UnixNano(), ExpirationSeconds: 600,
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	cmd := &pb.Command{Timestamp: time.Now().UnixNano(), Ops: []*pb.Op{ident, sess}}
	if res, err := n.store.ApplyLocal(n.store.AppliedIndex()+1, cmd); err != nil || res.GetCode() != pb.Result_OK {
		t.Fatalf("seed admin session: %v %v", res, err)
	}
	return token
}
