package e2e

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/garrison-ctrl/garrison/fsm"
)

// restoredKinds are the kinds a restore keeps (it drops API sessions,
// their certificates and network sessions, and the old members' records).
var restoredKinds = []string{fsm.KindIdentity, fsm.KindAuthenticator, fsm.KindAuthPolicy, fsm.KindCa, fsm.KindConfigType,
	fsm.KindConfig, fsm.KindEnrollment, fsm.KindExtJwtSigner, fsm.KindMfa, fsm.KindService, fsm.KindServicePolicy,
	fsm.KindEdgeRouter, fsm.KindEdgeRouterPolicy, fsm.KindServiceEdgeRouterPolicy, fsm.KindPostureCheck, fsm.KindTerminator}

// dumpState reads a stopped node's state database: kind → id → the
// stored entity, bytes as stored.
func dumpState(t *testing.T, path string) map[string]map[string][]byte {
	t.Helper()
	s, err := fsm.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out := map[string]map[string][]byte{}
	err = s.View(func(rd *fsm.Reader) error {
		for _, kind := range restoredKinds {
			out[kind] = map[string][]byte{}
			err := rd.ForEach(kind, func(rec *fsm.Record) error {
				body, err := proto.MarshalOptions{Deterministic: true}.Marshal(rec.Body)
				out[kind][rec.ID] = append(body, []byte(rec.CreatedAt.String()+rec.UpdatedAt.String())...)
				return err
			})
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// A backup of a cluster with identities, a CA, enrollments, configs and
// sessions, restored into a wiped node that starts a new cluster: every
// entity is back with byte-identical bodies, the sessions are gone, the
// admin logs in with its old password. Bad backups are refused before
// the data directory is touched.
func TestBackupRestoreIntoANewCluster(t *testing.T) {
	c := newCluster(t, clusterOptions{})
	admin := c.Login(c.LBURL)
	mgmt := c.LBURL + "/edge/management/v1"
	for _, name := range []string{"backup-a", "backup-b"} {
		c.passwordUser(t, admin, name, name+"-pw-1", "")
	}
	c.createThrough(t, admin, "/identities", map[string]any{"name": "backup-ott", "type": "User", "isAdmin": false,
		"enrollment": map[string]any{"ott": true}})
	verifiedThirdPartyCA(t, c, admin)
	ct := c.createThrough(t, admin, "/config-types", map[string]any{"name": "backup-ct", "schema": map[string]any{"type": "object"}})
	c.createThrough(t, admin, "/configs", map[string]any{"name": "backup-cfg", "configTypeId": ct, "data": map[string]any{"port": 80}})
	file := filepath.Join(t.TempDir(), "cluster.backup")
	out := mustGarrison(t, "backup", "--url", c.LBURL, "-u", adminUser, "-p", adminPassword, "--ca", c.caFile, "-o", file)
	if !strings.Contains(out, "backup of node") {
		t.Fatalf("backup: %s", out)
	}
	// Non-admins and anonymous callers get no backup.
	// The backup path is Garrison's, outside the definitions: its refusals
	// are the error envelope all the same.
	if r := c.do("GET", c.LBURL+"/garrison/v1/backup", "", nil, false); r.Status != http.StatusUnauthorized || dig(r.Body, "error", "code") != "UNAUTHORIZED" {
		t.Fatalf("anonymous backup: %d %v", r.Status, r.Body)
	}
	st, body, _ := c.Do("POST", c.LBURL+"/edge/client/v1/authenticate?method=password", "", map[string]string{"username": "backup-a", "password": "backup-a-pw-1"})
	user, _ := dig(body, "data", "token").(string)
	if st != http.StatusOK || user == "" {
		t.Fatalf("user login: %d %v", st, body)
	}
	if r := c.do("GET", c.LBURL+"/garrison/v1/backup", user, nil, false); r.Status != http.StatusUnauthorized || dig(r.Body, "error", "code") != "UNAUTHORIZED" {
		t.Fatalf("non-admin backup: %d %v", r.Status, r.Body)
	}
	if st, _, _ := c.Do("POST", mgmt+"/database/snapshot", user, nil); st != http.StatusUnauthorized {
		t.Fatalf("non-admin snapshot: %d", st)
	}
	if st, body, _ := c.Do("POST", mgmt+"/database/snapshot", admin, nil); st != http.StatusOK {
		t.Fatalf("snapshot: %d %v", st, body)
	}

	n := c.Nodes[0]
	c.stopAll()
	before := dumpState(t, filepath.Join(n.DataDir, "state.db"))
	if len(before[fsm.KindIdentity]) < 4 || len(before[fsm.KindCa]) != 1 || len(before[fsm.KindEnrollment]) == 0 || len(before[fsm.KindConfig]) != 1 {
		t.Fatalf("the state to back up is thinner than built: %d identities", len(before[fsm.KindIdentity]))
	}
	// Bad files first: nothing in the data directory may change.
	stateBefore, _ := os.ReadFile(filepath.Join(n.DataDir, "state.db"))
	good, _ := os.ReadFile(file)
	for what, data := range map[string][]byte{"truncated": good[:len(good)/2], "corrupted": flipByte(good), "not a backup": []byte("hello\n")} {
		bad := filepath.Join(t.TempDir(), "bad.backup")
		_ = os.WriteFile(bad, data, 0o600)
		if out, err := garrison(t, "restore", "--config", n.ConfigPath, bad); err == nil || !strings.Contains(out, "not touched") {
			t.Fatalf("restore of a %s file: %v %s", what, err, out)
		}
	}
	if after, _ := os.ReadFile(filepath.Join(n.DataDir, "state.db")); string(after) != string(stateBefore) {
		t.Fatal("a refused restore changed the state database")
	}

	// Wipe the node, restore, start a new cluster on it.
	if err := os.RemoveAll(n.DataDir); err != nil {
		t.Fatal(err)
	}
	out = mustGarrison(t, "restore", "--config", n.ConfigPath, file)
	if !strings.Contains(out, "identities") {
		t.Fatalf("restore: %s", out)
	}
	n.Start()
	out = mustGarrison(t, "cluster", "init", "--config", n.ConfigPath, "-u", adminUser, "-p", adminPassword)
	if !strings.Contains(out, "restored state") {
		t.Fatalf("init: %s", out)
	}
	if st := c.SessionValid(n.URL(), admin); st != http.StatusUnauthorized {
		t.Fatalf("a session of the old cluster: %d", st)
	}
	fresh := c.Login(n.URL())
	if st, body, _ := c.Do("GET", n.URL()+"/edge/management/v1/identities?filter=name%3D%22backup-a%22", fresh, nil); st != http.StatusOK || len(body["data"].([]any)) != 1 {
		t.Fatalf("a restored identity: %d %v", st, body)
	}
	n.Stop()
	after := dumpState(t, filepath.Join(n.DataDir, "state.db"))
	for _, kind := range restoredKinds {
		for id, b := range before[kind] {
			if string(after[kind][id]) != string(b) {
				t.Errorf("%s %s differs after the restore", kind, id)
			}
		}
		if len(after[kind]) != len(before[kind]) {
			t.Errorf("%s: %d after the restore, %d before", kind, len(after[kind]), len(before[kind]))
		}
	}
}

func flipByte(b []byte) []byte {
	out := append([]byte(nil), b...)
	out[len(out)/2] ^= 0x20
	return out
}
