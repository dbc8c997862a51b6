package fsm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

func openTest(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func entity(t *testing.T, kind, id string, body proto.Message) *pb.Entity {
	t.Helper()
	a, err := anypb.New(body)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Entity{Type: kind, Id: id, Body: a}
}

func createOp(e *pb.Entity) *pb.Op { return &pb.Op{Kind: &pb.Op_Create{Create: &pb.Create{Entity: e}}} }
func deleteOp(kind, id string) *pb.Op {
	return &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: kind, Id: id}}}
}

// applier feeds commands at increasing indexes.
type applier struct {
	t     *testing.T
	s     *Store
	index uint64
}

func (a *applier) apply(ts int64, ops ...*pb.Op) *pb.Result {
	a.t.Helper()
	a.index++
	res, err := a.s.ApplyLocal(a.index, &pb.Command{Timestamp: ts, Ops: ops})
	if err != nil {
		a.t.Fatal(err)
	}
	return res
}

func (a *applier) mustOK(ts int64, ops ...*pb.Op) {
	a.t.Helper()
	if res := a.apply(ts, ops...); res.GetCode() != pb.Result_OK {
		a.t.Fatalf("apply: %v", res)
	}
}

func TestCreateGetAndUniqueName(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(100, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice", TypeId: "User"})))

	rec, err := s.Get(KindIdentity, "i1")
	if err != nil {
		t.Fatal(err)
	}
	id, _ := As[*pb.Identity](rec)
	if id.GetName() != "alice" || rec.CreatedAt.UnixNano() != 100 || rec.UpdatedAt.UnixNano() != 100 {
		t.Fatalf("unexpected record %+v %v", rec, id)
	}

	res := a.apply(200, createOp(entity(t, KindIdentity, "i2", &pb.Identity{Name: "alice"})))
	if res.GetCode() != pb.Result_CONFLICT || res.GetField() != "name" || res.GetValue() != "alice" {
		t.Fatalf("duplicate name: got %v", res)
	}
	res = a.apply(200, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "bob"})))
	if res.GetCode() != pb.Result_CONFLICT || res.GetField() != "id" {
		t.Fatalf("duplicate id: got %v", res)
	}
	if _, err := s.Get(KindIdentity, "i2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("rejected entity was stored: %v", err)
	}
	if s.AppliedIndex() != a.index {
		t.Fatalf("applied index %d, want %d (failed commands still advance it)", s.AppliedIndex(), a.index)
	}
}

func TestUpdatePatchAndRename(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	tags, _ := structpb.NewStruct(map[string]any{"env": "prod"})
	e := entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice", TypeId: "User", IsAdmin: true})
	e.Tags = tags
	a.mustOK(100, createOp(e))

	// Patch only isAdmin (by JSON name) and tags; name and type stay.
	p := entity(t, KindIdentity, "i1", &pb.Identity{Name: "ignored", IsAdmin: false})
	newTags, _ := structpb.NewStruct(map[string]any{"env": "dev"})
	p.Tags = newTags
	a.mustOK(200, &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: p, Fields: []string{"isAdmin", "tags"}}}})
	rec, _ := s.Get(KindIdentity, "i1")
	id, _ := As[*pb.Identity](rec)
	if id.GetName() != "alice" || id.GetIsAdmin() || id.GetTypeId() != "User" || rec.Tags["env"] != "dev" {
		t.Fatalf("patch result %v tags %v", id, rec.Tags)
	}
	if rec.CreatedAt.UnixNano() != 100 || rec.UpdatedAt.UnixNano() != 200 {
		t.Fatalf("timestamps %v %v", rec.CreatedAt, rec.UpdatedAt)
	}

	badPatch := &pb.Command{Ops: []*pb.Op{{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: p, Fields: []string{"noSuchField"}}}}}}
	if err := s.CheckCommand(badPatch); !errors.Is(err, ErrIncompatible) {
		t.Fatalf("unknown patch field: CheckCommand = %v", err)
	}

	// Rename through a full update frees the old name.
	a.mustOK(300, &pb.Op{Kind: &pb.Op_Update{Update: &pb.Update{Entity: entity(t, KindIdentity, "i1", &pb.Identity{Name: "carol"})}}})
	a.mustOK(400, createOp(entity(t, KindIdentity, "i2", &pb.Identity{Name: "alice"})))
	err := s.View(func(r *Reader) error {
		rec, err := r.Lookup(IdentityName, "carol")
		if err != nil || rec.ID != "i1" {
			return fmt.Errorf("lookup carol: %v %v", rec, err)
		}
		if rec.Tags != nil {
			return fmt.Errorf("update without tags should clear tags, got %v", rec.Tags)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	res := a.apply(500, &pb.Op{Kind: &pb.Op_Update{Update: &pb.Update{Entity: entity(t, KindIdentity, "nope", &pb.Identity{Name: "x"})}}})
	if res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("update of missing entity: %v", res)
	}
}

func TestReferencesAndCascade(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	res := a.apply(1, createOp(entity(t, KindAuthenticator, "a1", &pb.Authenticator{IdentityId: "missing", Method: "updb", Username: "u"})))
	if res.GetCode() != pb.Result_REFERENCE_MISSING || res.GetField() != "identityId" {
		t.Fatalf("dangling reference: %v", res)
	}
	a.mustOK(2,
		createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})),
		createOp(entity(t, KindAuthenticator, "a1", &pb.Authenticator{IdentityId: "i1", Method: "updb", Username: "alice"})),
		createOp(entity(t, KindApiSession, "s1", &pb.ApiSession{IdentityId: "i1", TokenHash: "h1"})),
	)
	a.mustOK(3, deleteOp(KindIdentity, "i1"))
	for _, k := range [][2]string{{KindIdentity, "i1"}, {KindAuthenticator, "a1"}, {KindApiSession, "s1"}} {
		if _, err := s.Get(k[0], k[1]); !errors.Is(err, ErrNotFound) {
			t.Fatalf("%s %s survived cascade: %v", k[0], k[1], err)
		}
	}
	// Index entries went with them: the username and token are free again.
	err := s.View(func(r *Reader) error {
		if _, err := r.Lookup(ApiSessionToken, "h1"); !errors.Is(err, ErrNotFound) {
			return fmt.Errorf("token index kept: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := a.apply(4, deleteOp(KindIdentity, "i1")); res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("second delete must be NOT_FOUND (consume-once), got %v", res)
	}
}

func TestFailedCommandInBatchIsUndoneAlone(t *testing.T) {
	s := openTest(t)
	logs := []*raft.Log{
		cmdLog(t, 1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"}))),
		// Second command: first op succeeds, second collides: both must vanish.
		cmdLog(t, 2,
			createOp(entity(t, KindIdentity, "i2", &pb.Identity{Name: "bob"})),
			createOp(entity(t, KindIdentity, "i3", &pb.Identity{Name: "alice"}))),
		cmdLog(t, 3, createOp(entity(t, KindIdentity, "i4", &pb.Identity{Name: "dave"}))),
	}
	out := s.ApplyBatch(logs)
	codes := []pb.Result_Code{}
	for _, o := range out {
		codes = append(codes, o.(*pb.Result).GetCode())
	}
	want := []pb.Result_Code{pb.Result_OK, pb.Result_CONFLICT, pb.Result_OK}
	if fmt.Sprint(codes) != fmt.Sprint(want) {
		t.Fatalf("codes %v want %v", codes, want)
	}
	if out[1].(*pb.Result).GetOpIndex() != 1 {
		t.Fatalf("op index %d", out[1].(*pb.Result).GetOpIndex())
	}
	var names []string
	_ = s.View(func(r *Reader) error {
		return r.ForEach(KindIdentity, func(rec *Record) error {
			id, _ := As[*pb.Identity](rec)
			names = append(names, id.GetName())
			return nil
		})
	})
	if fmt.Sprint(names) != "[alice dave]" {
		t.Fatalf("names %v", names)
	}
	if err := s.View(func(r *Reader) error {
		_, err := r.Lookup(IdentityName, "bob")
		return err
	}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("undone create left its name index: %v", err)
	}
}

func TestReplayAfterRestartIsSkipped(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	l1 := cmdLog(t, 1, createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})))
	l2 := cmdLog(t, 2, deleteOp(KindIdentity, "i1"))
	s.ApplyBatch([]*raft.Log{l1, l2})
	s.Close()

	s, err = Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.AppliedIndex() != 2 {
		t.Fatalf("applied index after reopen %d", s.AppliedIndex())
	}
	// Raft replays entries after its last snapshot; re-applying l1 would
	// resurrect a deleted identity.
	s.ApplyBatch([]*raft.Log{l1, l2})
	if _, err := s.Get(KindIdentity, "i1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("replayed create resurrected entity: %v", err)
	}
}

func cmdLog(t *testing.T, index uint64, ops ...*pb.Op) *raft.Log {
	t.Helper()
	data, err := proto.Marshal(&pb.Command{Timestamp: int64(index) * 1000, Ops: ops})
	if err != nil {
		t.Fatal(err)
	}
	return &raft.Log{Index: index, Type: raft.LogCommand, Data: data}
}

type memSink struct {
	bytes.Buffer
	cancelled bool
}

func (m *memSink) ID() string    { return "mem" }
func (m *memSink) Cancel() error { m.cancelled = true; return nil }
func (m *memSink) Close() error  { return nil }

func TestSnapshotRestore(t *testing.T) {
	src := openTest(t)
	a := &applier{t: t, s: src}
	for i := 0; i < 50; i++ {
		a.mustOK(int64(i), createOp(entity(t, KindIdentity, fmt.Sprintf("i%02d", i), &pb.Identity{Name: fmt.Sprintf("n%02d", i)})))
	}
	snap, err := src.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	// Writes after the snapshot began must not leak into it.
	a.mustOK(99, deleteOp(KindIdentity, "i00"))
	sink := &memSink{}
	if err := snap.Persist(sink); err != nil {
		t.Fatal(err)
	}
	snap.Release()

	dst := openTest(t)
	b := &applier{t: t, s: dst}
	b.mustOK(1, createOp(entity(t, KindIdentity, "other", &pb.Identity{Name: "replaced"})))
	if err := dst.Restore(io.NopCloser(bytes.NewReader(sink.Bytes()))); err != nil {
		t.Fatal(err)
	}
	if dst.AppliedIndex() != 50 {
		t.Fatalf("restored applied index %d want 50", dst.AppliedIndex())
	}
	b.index = dst.AppliedIndex()
	if _, err := dst.Get(KindIdentity, "other"); !errors.Is(err, ErrNotFound) {
		t.Fatal("restore kept pre-restore state")
	}
	if _, err := dst.Get(KindIdentity, "i00"); err != nil {
		t.Fatalf("snapshot missed i00: %v", err)
	}
	var n int
	_ = dst.View(func(r *Reader) error { n, _ = r.Count(KindIdentity); return nil })
	if n != 50 {
		t.Fatalf("restored %d identities", n)
	}
	// The restored store keeps working and enforces its indexes.
	if res := b.apply(1, createOp(entity(t, KindIdentity, "x", &pb.Identity{Name: "n07"}))); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("unique index lost in restore: %v", res)
	}
}

// dump returns every key and value of every bucket, for comparing stores.
func dump(t *testing.T, s *Store) []byte {
	t.Helper()
	var buf bytes.Buffer
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.ForEach(func(name []byte, b *bolt.Bucket) error {
			fmt.Fprintf(&buf, "[%s]\n", name)
			return b.ForEach(func(k, v []byte) error {
				fmt.Fprintf(&buf, "%x=%x\n", k, v)
				return nil
			})
		})
	})
	if err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestDeterminism(t *testing.T) {
	var logs []*raft.Log
	idx := uint64(0)
	next := func(ops ...*pb.Op) {
		idx++
		logs = append(logs, cmdLog(t, idx, ops...))
	}
	for i := 0; i < 30; i++ {
		tags, _ := structpb.NewStruct(map[string]any{"k": fmt.Sprint(i), "z": true, "a": float64(i)})
		e := entity(t, KindIdentity, fmt.Sprintf("id-%d", i), &pb.Identity{
			Name: fmt.Sprintf("name-%d", i%20), RoleAttributes: []string{"b", "a"},
			ServiceHostingCosts: map[string]int64{"s1": 1, "s2": 2, "s3": 3},
		})
		e.Tags = tags
		next(createOp(e))
		if i%3 == 0 {
			next(deleteOp(KindIdentity, fmt.Sprintf("id-%d", i/2)))
		}
		if i%4 == 0 {
			p := entity(t, KindIdentity, fmt.Sprintf("id-%d", i), &pb.Identity{ServiceHostingPrecedences: map[string]string{"x": "required", "y": "failed"}})
			next(&pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: p, Fields: []string{"service_hosting_precedences"}}}})
		}
	}
	one, two := openTest(t), openTest(t)
	// Same log, different batch boundaries: the state must be identical.
	for _, l := range logs {
		one.ApplyBatch([]*raft.Log{l})
	}
	for i := 0; i < len(logs); i += 7 {
		end := min(i+7, len(logs))
		two.ApplyBatch(logs[i:end])
	}
	d1, d2 := dump(t, one), dump(t, two)
	if !bytes.Equal(d1, d2) {
		t.Fatalf("stores differ after the same commands:\n%s\n----\n%s", d1, d2)
	}
	if !bytes.Contains(d1, []byte("[e/identities]")) || bytes.Count(d1, []byte("\n")) < 40 {
		t.Fatalf("dump looks empty:\n%s", d1)
	}
}

func TestSkipMissing(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	a.mustOK(1, createOp(entity(t, KindApiSession, "s1", &pb.ApiSession{TokenHash: "h"})))
	patch := func(id string) *pb.Op {
		return &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{
			Entity: entity(t, KindApiSession, id, &pb.ApiSession{LastActivityAt: 42}), Fields: []string{"last_activity_at"},
			KeepUpdatedAt: true, SkipMissing: true}}}
	}
	// One gone session must not sink the whole activity batch.
	a.mustOK(2, patch("gone"), patch("s1"))
	rec, err := s.Get(KindApiSession, "s1")
	if err != nil {
		t.Fatal(err)
	}
	if sess, _ := As[*pb.ApiSession](rec); sess.GetLastActivityAt() != 42 || rec.UpdatedAt.UnixNano() != 1 {
		t.Fatalf("patch: %v updatedAt %d", sess, rec.UpdatedAt.UnixNano())
	}
	a.mustOK(3, &pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: KindApiSession, Id: "gone", SkipMissing: true}}},
		&pb.Op{Kind: &pb.Op_Delete{Delete: &pb.Delete{Type: KindApiSession, Id: "s1", SkipMissing: true}}})
	if _, err := s.Get(KindApiSession, "s1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("skip-missing delete did not delete the present one: %v", err)
	}
	if res := a.apply(4, &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: entity(t, KindApiSession, "s1", &pb.ApiSession{}), Fields: []string{"last_activity_at"}}}}); res.GetCode() != pb.Result_NOT_FOUND {
		t.Fatalf("patch without skip_missing of a missing entity: %v", res)
	}
}

// raft's RecoverCluster persists a snapshot without releasing it; closing
// the store afterwards must not hang.
func TestPersistWithoutReleaseDoesNotBlockClose(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "state.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := s.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	if err := snap.Persist(&memSink{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked by a persisted but unreleased snapshot")
	}
	snap.Release() // still safe after Persist released it
}

func TestTagRoleAndPrefixIndexes(t *testing.T) {
	s := openTest(t)
	a := &applier{t: t, s: s}
	mk := func(id, name string, roles []string, tags map[string]any) *pb.Op {
		e := entity(t, KindIdentity, id, &pb.Identity{Name: name, RoleAttributes: roles})
		if tags != nil {
			st, err := structpb.NewStruct(tags)
			if err != nil {
				t.Fatal(err)
			}
			e.Tags = st
		}
		return createOp(e)
	}
	a.mustOK(1,
		mk("1", "alpha", []string{"web", "db", "web"}, map[string]any{"env": "prod", "tier": float64(1)}),
		mk("2", "alphabet", []string{"web"}, map[string]any{"env": "dev"}),
		mk("3", "beta", nil, map[string]any{"env": "prod", "nul\x00key": "x"}),
	)
	check := func(got []string, want ...string) {
		t.Helper()
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("got %v want %v", got, want)
		}
	}
	_ = s.View(func(r *Reader) error {
		ids, _ := r.IDsByTag(KindIdentity, "env", "prod")
		check(ids, "1", "3")
		ids, _ = r.IDsByTag(KindIdentity, "tier", float64(1))
		check(ids, "1")
		ids, _ = r.IDsByTag(KindIdentity, "tier", "1")
		check(ids)
		ids, _ = r.IDsByIndex(IdentityRoleAttributes, "web")
		check(ids, "1", "2")
		var names []string
		_ = r.ScanPrefix(IdentityName, "alph", func(key, id string) error { names = append(names, key+":"+id); return nil })
		check(names, "alpha:1", "alphabet:2")
		roles, total, _ := r.Keys(IdentityRoleAttributes, 0, -1)
		check(roles, "db", "web")
		if total != 2 {
			t.Fatalf("distinct roles %d", total)
		}
		return nil
	})
	// Changing tags and roles moves the index entries; deleting removes them.
	p := entity(t, KindIdentity, "1", &pb.Identity{RoleAttributes: []string{"db"}})
	p.Tags, _ = structpb.NewStruct(map[string]any{"env": "dev"})
	a.mustOK(2, &pb.Op{Kind: &pb.Op_Patch{Patch: &pb.Patch{Entity: p, Fields: []string{"roleAttributes", "tags"}}}})
	a.mustOK(3, deleteOp(KindIdentity, "2"))
	_ = s.View(func(r *Reader) error {
		ids, _ := r.IDsByTag(KindIdentity, "env", "dev")
		check(ids, "1")
		ids, _ = r.IDsByTag(KindIdentity, "env", "prod")
		check(ids, "3")
		ids, _ = r.IDsByIndex(IdentityRoleAttributes, "web")
		check(ids)
		return nil
	})
}

// A batch larger than maxOpsPerTx is applied in several transactions: every
// command still gets its own result, a failing one is undone alone, entries
// already applied are skipped, and the applied index ends at the last entry.
func TestLargeBatchSpansTransactions(t *testing.T) {
	s := openTest(t)
	const perCmd = 500
	cmds := 2*maxOpsPerTx/perCmd + 3
	pre := []*raft.Log{cmdLog(t, 1, createOp(entity(t, KindIdentity, "pre", &pb.Identity{Name: "pre"})))}
	if res := s.ApplyBatch(pre)[0].(*pb.Result); res.GetCode() != pb.Result_OK {
		t.Fatalf("first command: %v", res)
	}
	logs := []*raft.Log{pre[0]} // replayed: must be skipped, not re-applied
	for c := range cmds {
		ops := make([]*pb.Op, 0, perCmd)
		for i := range perCmd {
			name := fmt.Sprintf("n-%d-%d", c, i)
			if c == cmds/2 && i == perCmd-1 {
				name = "pre" // collides: the whole command must vanish
			}
			ops = append(ops, createOp(entity(t, KindIdentity, fmt.Sprintf("%08x-%d", (c*perCmd+i)*2654435761%(1<<32), c), &pb.Identity{Name: name})))
		}
		logs = append(logs, cmdLog(t, uint64(c+2), ops...))
	}
	out := s.ApplyBatch(logs)
	if msg := out[0].(*pb.Result).GetMessage(); msg != "already applied" {
		t.Fatalf("replayed entry: %q", msg)
	}
	for c := range cmds {
		want := pb.Result_OK
		if c == cmds/2 {
			want = pb.Result_CONFLICT
		}
		if got := out[c+1].(*pb.Result).GetCode(); got != want {
			t.Fatalf("command %d: %v, want %v", c, got, want)
		}
	}
	if got, want := s.AppliedIndex(), uint64(cmds+1); got != want {
		t.Fatalf("applied %d, want %d", got, want)
	}
	count := 0
	_ = s.View(func(r *Reader) error {
		return r.ForEach(KindIdentity, func(*Record) error { count++; return nil })
	})
	if want := 1 + (cmds-1)*perCmd; count != want {
		t.Fatalf("%d identities, want %d", count, want)
	}
}
