package rest

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// Database snapshots land in the node's backup directory, under a plain
// file name only; the data integrity check runs and reports in the
// spec's shape.
func TestDatabaseSnapshotsAndIntegrity(t *testing.T) {
	e := env(t)
	admin := e.adminToken(t)
	dir := t.TempDir()
	e.srv.cfg.BackupDir = dir
	t.Cleanup(func() { e.srv.cfg.BackupDir = "" })

	if r := e.do(t, http.MethodPost, mgmt+"/database/snapshot", admin, nil); r.status != http.StatusOK {
		t.Fatalf("management snapshot: %d %s", r.status, r.raw)
	}
	r := e.do(t, http.MethodPost, FabricBase+"/database/snapshot", admin, map[string]any{"path": "named.backup"})
	if r.status != http.StatusOK || r.data()["path"] != filepath.Join(dir, "named.backup") {
		t.Fatalf("fabric snapshot: %d %s", r.status, r.raw)
	}
	if fi, err := os.Stat(filepath.Join(dir, "named.backup")); err != nil || fi.Size() == 0 {
		t.Fatalf("the snapshot file: %v", err)
	}
	for _, bad := range []string{"../escape.backup", "/etc/passwd", ".hidden", "named.backup"} {
		r := e.doUnchecked(t, http.MethodPost, FabricBase+"/database/snapshot", admin, map[string]any{"path": bad})
		if r.status != http.StatusBadRequest || causeField(wantError(t, bad, r, http.StatusBadRequest, "COULD_NOT_VALIDATE")) != "path" {
			t.Fatalf("snapshot path %q: %d %s", bad, r.status, r.raw)
		}
	}
	if r := e.do(t, http.MethodPost, mgmt+"/database/snapshot", e.userToken(t), nil); r.status != http.StatusUnauthorized {
		t.Fatalf("a non-admin's snapshot: %d", r.status)
	}

	for _, op := range []string{"check-data-integrity", "fix-data-integrity"} {
		if r := e.do(t, http.MethodPost, mgmt+"/database/"+op, admin, nil); r.status != http.StatusAccepted {
			t.Fatalf("%s: %d %s", op, r.status, r.raw)
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			r := e.do(t, http.MethodGet, mgmt+"/database/data-integrity-results", admin, nil)
			d := r.data()
			if r.status != http.StatusOK {
				t.Fatalf("results: %d %s", r.status, r.raw)
			}
			if d["inProgress"] == false && d["fixingErrors"] == (op == "fix-data-integrity") {
				if results := d["results"].([]any); len(results) != 0 {
					t.Fatalf("issues in a consistent state: %v", results)
				}
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the %s did not finish: %s", op, r.raw)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}
