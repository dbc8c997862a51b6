package rest

import (
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"testing"
	"time"

	"github.com/garrison-ctrl/garrison/rest/api"
)

// TestControllers: every Edge API lists the node from the replicated
// controllers records once the node has registered itself.
func TestControllers(t *testing.T) {
	e := env(t)
	token := e.adminToken(t)
	sum := sha1.Sum(e.leaf.Raw)
	wantFingerprint := hex.EncodeToString(sum[:])
	for _, ap := range apis {
		t.Run(ap.name, func(t *testing.T) {
			// Registration is asynchronous (the node's register loop): poll.
			var r *response
			deadline := time.Now().Add(10 * time.Second)
			for {
				r = e.do(t, http.MethodGet, ap.base+"/controllers", token, nil)
				if r.status != http.StatusOK {
					t.Fatalf("status %d: %s", r.status, r.raw)
				}
				if len(r.list()) > 0 || time.Now().After(deadline) {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			list := r.list()
			if len(list) != 1 {
				t.Fatalf("%d controllers listed, want 1: %s", len(list), r.raw)
			}
			c := obj(list[0])
			if c["id"] != "n1" || c["name"] != "n1" {
				t.Errorf("id %v name %v, want n1", c["id"], c["name"])
			}
			if c["fingerprint"] != wantFingerprint {
				t.Errorf("fingerprint %v, want %s (sha1 of the node certificate)", c["fingerprint"], wantFingerprint)
			}
			if c["isOnline"] != true {
				t.Errorf("isOnline %v, want true", c["isOnline"])
			}
			if stringOf(c["certPem"]) == "" {
				t.Error("empty certPem")
			}
			addrs := obj(c["apiAddresses"])
			for name, path := range map[string]string{APIEdgeClient: ClientBase, APIEdgeManagement: ManagementBase} {
				list, _ := addrs[name].([]any)
				if len(list) != 1 {
					t.Errorf("apiAddresses.%s = %v, want one address", name, addrs[name])
					continue
				}
				a := obj(list[0])
				if a["url"] != e.url+path || a["version"] != "v1" {
					t.Errorf("apiAddresses.%s[0] = %v, want url %s version v1", name, a, e.url+path)
				}
			}
			if joined, err := time.Parse(time.RFC3339Nano, stringOf(c["lastJoinedAt"])); err != nil || time.Since(joined) > time.Hour || joined.After(time.Now()) {
				t.Errorf("lastJoinedAt %v: not a recent time (%v)", c["lastJoinedAt"], err)
			}
			pg := obj(obj(r.body["meta"])["pagination"])
			if pg["totalCount"] != float64(1) {
				t.Errorf("meta.pagination %v, want totalCount 1", pg)
			}

			r = e.do(t, http.MethodGet, ap.base+"/controllers", "", nil)
			wantError(t, "controllers without a session", r, http.StatusUnauthorized, api.CodeUnauthorized)
		})
	}
}
