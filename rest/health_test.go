package rest

import (
	"net/http"
	"os"
	"testing"
)

// The health checks of a one-member cluster: alive, ready and leading;
// OpenZiti's shape with the raft section on the leader's path.
func TestHealthChecks(t *testing.T) {
	e := env(t)
	for path, want := range map[string]int{"/health-checks": 200, "/health-checks/live": 200, "/health-checks/ready": 200, "/health-checks/controller/raft": 200} {
		r := e.doUnchecked(t, http.MethodGet, path, "", nil)
		data := obj(r.body["data"])
		checks, _ := data["checks"].([]any)
		if r.status != want || data["healthy"] != true || len(checks) == 0 || obj(checks[0])["id"] != "bolt.read" ||
			obj(checks[0])["lastCheckTime"] == nil || r.body["meta"] == nil {
			t.Fatalf("%s: %d %s", path, r.status, r.raw)
		}
	}
	r := e.doUnchecked(t, http.MethodGet, "/health-checks/controller/raft", "", nil)
	if raft := obj(r.body["raft"]); raft["isLeader"] != true || raft["isRaftEnabled"] != true {
		t.Fatalf("raft section: %s", r.raw)
	}
	if r := e.doUnchecked(t, http.MethodGet, "/health-checks/nope", "", nil); r.status != http.StatusNotFound {
		t.Fatalf("unknown check: %d", r.status)
	}
}

// A node that is no member of any cluster yet is alive, not ready, and
// not the leader.
func TestHealthOfANodeOutsideTheCluster(t *testing.T) {
	e := env(t)
	dir, err := os.MkdirTemp("", "garrison-health-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	n, err := startAPINode(e.pki, "lonely", dir, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer n.close()
	if r := n.doUnchecked(t, http.MethodGet, "/health-checks/live", "", nil); r.status != http.StatusOK {
		t.Fatalf("live: %d %s", r.status, r.raw)
	}
	r := n.doUnchecked(t, http.MethodGet, "/health-checks/ready", "", nil)
	checks, _ := obj(r.body["data"])["checks"].([]any)
	if r.status != http.StatusServiceUnavailable || len(checks) != 2 || obj(obj(checks[1])["details"])["reason"] != "not a member of the cluster" {
		t.Fatalf("ready: %d %s", r.status, r.raw)
	}
	if r := n.doUnchecked(t, http.MethodGet, "/health-checks/controller/raft", "", nil); r.status != http.StatusTooManyRequests {
		t.Fatalf("raft on a non-leader: %d", r.status)
	}
}
