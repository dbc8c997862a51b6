package fsm

import (
	"fmt"
	"testing"
	"time"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// A command with a dedup_id takes effect once: applied again (a retry), it
// changes nothing and answers the first result, failures included; the
// record expires after DedupWindow of command time.
func TestDedupAppliesOnce(t *testing.T) {
	s := openTest(t)
	index := uint64(0)
	apply := func(ts int64, dedup string, ops ...*pb.Op) *pb.Result {
		t.Helper()
		index++
		res, err := s.ApplyLocal(index, &pb.Command{Timestamp: ts, DedupId: dedup, Ops: ops})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	first := apply(base, "req-1", createOp(entity(t, KindIdentity, "i1", &pb.Identity{Name: "alice"})))
	if first.GetCode() != pb.Result_OK {
		t.Fatal(first)
	}
	// The same id again, even with other ops: nothing happens, same answer.
	again := apply(base+1, "req-1", createOp(entity(t, KindIdentity, "i2", &pb.Identity{Name: "bob"})))
	if again.GetCode() != pb.Result_OK {
		t.Fatalf("replay: %v", again)
	}
	if _, err := s.Get(KindIdentity, "i2"); err == nil {
		t.Fatal("a replayed command took effect")
	}
	// A failure is remembered as a failure.
	fail := apply(base+2, "req-2", createOp(entity(t, KindIdentity, "i3", &pb.Identity{Name: "alice"})))
	if fail.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("conflict: %v", fail)
	}
	apply(base+3, "", deleteOp(KindIdentity, "i1"))
	if res := apply(base+4, "req-2", createOp(entity(t, KindIdentity, "i3", &pb.Identity{Name: "alice"}))); res.GetCode() != pb.Result_CONFLICT {
		t.Fatalf("a replayed failure: %v", res)
	}
	if _, err := s.Get(KindIdentity, "i3"); err == nil {
		t.Fatal("a replayed failed command took effect")
	}
	// Without a dedup_id nothing is remembered.
	apply(base+5, "", createOp(entity(t, KindIdentity, "i4", &pb.Identity{Name: "carol"})))
	apply(base+6, "", deleteOp(KindIdentity, "i4"))
	if res := apply(base+7, "", createOp(entity(t, KindIdentity, "i4", &pb.Identity{Name: "carol"}))); res.GetCode() != pb.Result_OK {
		t.Fatalf("a command without dedup_id: %v", res)
	}
	// After the window (in command time) the record is gone: the id is new.
	for i := range 3 {
		apply(base+int64(DedupWindow)+int64(i+10), fmt.Sprintf("later-%d", i), createOp(entity(t, KindIdentity, fmt.Sprintf("l%d", i), &pb.Identity{Name: fmt.Sprintf("later-%d", i)})))
	}
	if res := apply(base+int64(DedupWindow)+100, "req-1", createOp(entity(t, KindIdentity, "i2", &pb.Identity{Name: "bob"}))); res.GetCode() != pb.Result_OK {
		t.Fatalf("an expired id: %v", res)
	}
	if _, err := s.Get(KindIdentity, "i2"); err != nil {
		t.Fatal("an expired dedup_id still blocked its command")
	}
}

// A dedup_id reused with another request's fingerprint changes nothing and
// answers KEY_REUSED; the same fingerprint (a true retry) answers the first
// result, and a command without a fingerprint is not checked.
func TestDedupRefusesReusedKey(t *testing.T) {
	s := openTest(t)
	base := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC).UnixNano()
	apply := func(index uint64, fp string, name string) *pb.Result {
		t.Helper()
		res, err := s.ApplyLocal(index, &pb.Command{Timestamp: base + int64(index), DedupId: "k", DedupFingerprint: []byte(fp),
			Ops: []*pb.Op{createOp(entity(t, KindIdentity, name, &pb.Identity{Name: name}))}})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := apply(1, "fp-a", "a"); res.GetCode() != pb.Result_OK {
		t.Fatal(res)
	}
	if res := apply(2, "fp-b", "b"); res.GetCode() != pb.Result_KEY_REUSED {
		t.Fatalf("reused key: %v", res)
	}
	if _, err := s.Get(KindIdentity, "b"); err == nil {
		t.Fatal("a command reusing a key took effect")
	}
	for i, fp := range []string{"fp-a", ""} {
		res := apply(uint64(3+i), fp, "c")
		if res.GetCode() != pb.Result_OK || len(res.GetDedupFingerprint()) != 0 {
			t.Fatalf("retry with fingerprint %q: %v", fp, res)
		}
	}
	if _, err := s.Get(KindIdentity, "c"); err == nil {
		t.Fatal("a retried command took effect twice")
	}
	// A reader sees what applying the command again would answer.
	for _, tc := range []struct {
		id, fp string
		want   pb.Result_Code
	}{{"k", "fp-a", pb.Result_OK}, {"k", "", pb.Result_OK}, {"k", "fp-b", pb.Result_KEY_REUSED}, {"unknown", "fp-a", -1}} {
		err := s.View(func(rd *Reader) error {
			res, err := rd.Remembered(tc.id, []byte(tc.fp))
			switch {
			case err != nil:
				return err
			case tc.want < 0 && res != nil:
				return fmt.Errorf("remembered %v", res)
			case tc.want >= 0 && (res == nil || res.GetCode() != tc.want || len(res.GetDedupFingerprint()) != 0):
				return fmt.Errorf("remembered %v, want %v", res, tc.want)
			}
			return nil
		})
		if err != nil {
			t.Errorf("Remembered(%q, %q): %v", tc.id, tc.fp, err)
		}
	}
}
