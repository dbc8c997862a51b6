package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// backupFixture is a store with identities, a controller and a session.
func backupFixture(t *testing.T) *Store {
	t.Helper()
	s := openTest(t)
	a := &applier{t: t, s: s}
	ops := []*pb.Op{createOp(entity(t, KindController, "node1", &pb.Controller{Name: "node1"}))}
	for i := range 50 {
		ops = append(ops, createOp(entity(t, KindIdentity, fmt.Sprintf("i%d", i), &pb.Identity{Name: fmt.Sprintf("user-%d", i)})))
	}
	ops = append(ops, createOp(entity(t, KindApiSession, "s1", &pb.ApiSession{IdentityId: "i1", TokenHash: "h"})))
	a.mustOK(1, ops...)
	return s
}

// A backup reads back into the same state; a restore keeps the entities
// and drops the old members and every session, from index 0.
func TestBackupRoundTripAndRestore(t *testing.T) {
	s := backupFixture(t)
	var buf bytes.Buffer
	h, err := s.WriteBackup(&buf, "cluster-a", "node1")
	if err != nil || h.AppliedIndex != 1 || h.Bytes <= 0 {
		t.Fatalf("backup: %+v %v", h, err)
	}
	path := filepath.Join(t.TempDir(), "restored.db")
	got, err := ReadBackup(bytes.NewReader(buf.Bytes()), path)
	if err != nil || got.Cluster != "cluster-a" || got.AppliedIndex != 1 {
		t.Fatalf("read: %+v %v", got, err)
	}
	r, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	for _, id := range []string{"i0", "i49"} {
		want, _ := s.Get(KindIdentity, id)
		have, err := r.Get(KindIdentity, id)
		if err != nil || !proto.Equal(want.Body, have.Body) || !want.CreatedAt.Equal(have.CreatedAt) {
			t.Fatalf("identity %s after the round trip: %v %v", id, have, err)
		}
	}
	kept, err := r.PrepareRestore()
	if err != nil || kept[KindIdentity] != 50 || kept[KindApiSession] != 0 || kept[KindController] != 0 || r.AppliedIndex() != 0 {
		t.Fatalf("prepare: %v %v applied %d", kept, err, r.AppliedIndex())
	}
	if err := r.View(func(rd *Reader) error { _, err := rd.Lookup(ApiSessionToken, "h"); return err }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the dropped session is still indexed: %v", err)
	}
}

// Truncated, altered, foreign or empty files are refused with a clear
// reason and leave nothing behind.
func TestBadBackupsAreRefused(t *testing.T) {
	s := backupFixture(t)
	var buf bytes.Buffer
	if _, err := s.WriteBackup(&buf, "cluster-a", "node1"); err != nil {
		t.Fatal(err)
	}
	good := buf.Bytes()
	flipped := bytes.Clone(good)
	flipped[len(flipped)/2] ^= 0x01
	otherFormat := bytes.Replace(good, []byte(`"format":1`), []byte(`"format":2`), 1)
	for what, tc := range map[string]struct {
		data []byte
		want string
	}{
		"truncated body":  {good[:len(good)/2], "truncated"},
		"no trailer":      {good[:len(good)-20], "trailer"},
		"one bit flipped": {flipped, "checksum"},
		"another format":  {otherFormat, "format 2"},
		"not a backup":    {[]byte("SQLite format 3\x00..."), "not a Garrison backup"},
		"empty":           {nil, "not a Garrison backup"},
		"header only":     {[]byte("garrison-backup\n"), "no header"},
		"absurd size":     {[]byte("garrison-backup\n{\"format\":1,\"bytes\":-5}\n"), "announced size"},
		"header not json": {[]byte("garrison-backup\nnope\n"), "unreadable header"},
	} {
		path := filepath.Join(t.TempDir(), "restored.db")
		_, err := ReadBackup(bytes.NewReader(tc.data), path)
		if !errors.Is(err, ErrBadBackup) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", what, err, tc.want)
		}
		if _, serr := os.Stat(path); !os.IsNotExist(serr) {
			t.Errorf("%s: left %s behind", what, path)
		}
	}
}

// The integrity check finds nothing in a consistent state, and reports a
// missing index entry, an orphan one and a dangling reference.
func TestCheckIntegrity(t *testing.T) {
	s := backupFixture(t)
	rep, err := s.CheckIntegrity()
	if err != nil || len(rep.Issues) != 0 {
		t.Fatalf("a consistent state: %v %v", rep.Issues, err)
	}
	// Damage the database underneath the store, as a disk fault would.
	err = s.db.Update(func(tx *bolt.Tx) error {
		names := tx.Bucket([]byte(indexBucket(KindIdentity, "name")))
		if err := names.Delete([]byte("user-3")); err != nil {
			return err
		}
		if err := names.Put([]byte("ghost"), []byte("i999")); err != nil {
			return err
		}
		return tx.Bucket([]byte(entityBucket(KindIdentity))).Delete([]byte("i1")) // s1 refers to it
	})
	if err != nil {
		t.Fatal(err)
	}
	rep, err = s.CheckIntegrity()
	text := strings.Join(rep.Issues, "\n")
	for _, want := range []string{`identities index name: entry "user-3" is missing`, `entry "ghost" names no entity`,
		"apiSessions s1: identityId names identities i1, which does not exist"} {
		if !strings.Contains(text, want) {
			t.Errorf("no issue %q in:\n%s", want, text)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
}

// Backup files from outside never panic, and only whole, unaltered ones
// are taken.
func FuzzReadBackup(f *testing.F) {
	s, err := Open(filepath.Join(f.TempDir(), "state.db"), nil)
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	var buf bytes.Buffer
	if _, err := s.WriteBackup(&buf, "c", "n"); err != nil {
		f.Fatal(err)
	}
	good := buf.Bytes()
	f.Add(good)
	f.Add(good[:100])
	f.Add([]byte("garrison-backup\n{\"format\":1,\"bytes\":3}\nabc\n{\"sha256\":\"00\"}\n"))
	dir := f.TempDir()
	n := 0
	f.Fuzz(func(t *testing.T, data []byte) {
		n++
		path := filepath.Join(dir, fmt.Sprintf("r%d.db", n))
		_, err := ReadBackup(bytes.NewReader(data), path)
		if err == nil {
			os.Remove(path) // a file that verifies carries its own checksum
			return
		}
		if _, serr := os.Stat(path); !os.IsNotExist(serr) {
			t.Fatalf("a refused backup left %s", path)
		}
	})
}
