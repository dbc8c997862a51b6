package fsm

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/hashicorp/raft"
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

// BenchmarkApplyFSMOnly measures the state machine alone: ApplyBatch of
// batches of create-identity commands (unique ids and names, each must
// answer OK) against one Store on the disk that holds the temp dir. Every
// ApplyBatch is one bbolt read-write transaction, whose commit syncs the
// file (bbolt fdatasyncs twice per commit: the dirty pages, then the meta
// page), so batch=1 shows the per-commit cost and batch=64 how far one
// commit is shared. One op is one command; ns/op is per command.
//
//	go test -run '^$' -bench BenchmarkApplyFSMOnly -benchtime 5s ./fsm/
func BenchmarkApplyFSMOnly(b *testing.B) {
	for _, batch := range []int{1, 64} {
		b.Run(fmt.Sprintf("batch=%d", batch), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "state.db"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			// Encode the commands up front: raft hands the FSM encoded logs.
			logs := make([]*raft.Log, b.N)
			for i := range logs {
				name := fmt.Sprintf("bench-%d", i)
				op, err := CreateOp(KindIdentity, "id-"+name, &pb.Identity{Name: name}, nil)
				if err != nil {
					b.Fatal(err)
				}
				data, err := proto.Marshal(&pb.Command{Timestamp: int64(i + 1), Ops: []*pb.Op{op}})
				if err != nil {
					b.Fatal(err)
				}
				logs[i] = &raft.Log{Index: uint64(i + 1), Type: raft.LogCommand, Data: data}
			}
			b.ResetTimer()
			start := time.Now()
			batches := 0
			for lo := 0; lo < len(logs); lo += batch {
				hi := min(lo+batch, len(logs))
				for i, r := range s.ApplyBatch(logs[lo:hi]) {
					if res, ok := r.(*pb.Result); !ok || res.GetCode() != pb.Result_OK {
						b.Fatalf("index %d: %v", lo+i+1, r)
					}
				}
				batches++
			}
			elapsed := time.Since(start)
			b.StopTimer()
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "cmds/s")
			b.ReportMetric(float64(batches)/elapsed.Seconds(), "batches/s")
			b.ReportMetric(float64(elapsed)/float64(time.Millisecond)/float64(batches), "ms/batch")
		})
	}
}

// BenchmarkApplyCatchUp measures what a follower catching up does: raft
// hands it up to MaxAppendEntries logs at once (256 in cluster.Config), here
// 256 commands of 500 identity creates with scattered (uuid-like) ids,
// applied by one ApplyBatch into an empty store. Before maxOpsPerTx this was
// one transaction, quadratic in the creates per bbolt node; ns/op is per
// batch.
//
//	go test -run '^$' -bench BenchmarkApplyCatchUp -benchtime 5x ./fsm/
func BenchmarkApplyCatchUp(b *testing.B) {
	const cmds, perCmd = 256, 500
	for b.Loop() {
		b.StopTimer()
		s, err := Open(filepath.Join(b.TempDir(), "state.db"), nil)
		if err != nil {
			b.Fatal(err)
		}
		logs := make([]*raft.Log, cmds)
		for c := range logs {
			ops := make([]*pb.Op, perCmd)
			for i := range ops {
				n := c*perCmd + i
				id := fmt.Sprintf("%08x-%06d", uint32(n)*2654435761, n)
				if ops[i], err = CreateOp(KindIdentity, id, &pb.Identity{Name: fmt.Sprintf("bench-%06d", n)}, nil); err != nil {
					b.Fatal(err)
				}
			}
			data, err := proto.Marshal(&pb.Command{Timestamp: int64(c + 1), Ops: ops})
			if err != nil {
				b.Fatal(err)
			}
			logs[c] = &raft.Log{Index: uint64(c + 1), Type: raft.LogCommand, Data: data}
		}
		b.StartTimer()
		for i, r := range s.ApplyBatch(logs) {
			if res, ok := r.(*pb.Result); !ok || res.GetCode() != pb.Result_OK {
				b.Fatalf("index %d: %v", i+1, r)
			}
		}
		b.StopTimer()
		s.Close()
		b.StartTimer()
	}
	b.ReportMetric(float64(cmds*perCmd), "creates/batch")
}

// BenchmarkBackupRestore100k measures a backup of a state of 100,000
// identities (with a password-like authenticator each) and its restore:
// WriteBackup to a file, then ReadBackup (verify and copy), Open and
// PrepareRestore. The state is built once; ns/op is one backup plus one
// restore.
//
//	go test -run '^$' -bench BenchmarkBackupRestore100k -benchtime 3x -timeout 30m ./fsm/
func BenchmarkBackupRestore100k(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(filepath.Join(dir, "state.db"), nil)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const total, perCmd = 100_000, 500
	index := uint64(0)
	for lo := 0; lo < total; lo += perCmd {
		var ops []*pb.Op
		for i := lo; i < lo+perCmd; i++ {
			id := fmt.Sprintf("%08x-ident", i*2654435761%(1<<32))
			op, err := CreateOp(KindIdentity, id, &pb.Identity{Name: fmt.Sprintf("user-%d", i), TypeId: "User"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			auth, err := CreateOp(KindAuthenticator, id+"-updb", &pb.Authenticator{IdentityId: id, Method: "updb",
				Username: fmt.Sprintf("user-%d", i), PasswordHash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$aGFzaGhhc2hoYXNoaGFzaGhhc2hoYXNoaGFzaA"}, nil)
			if err != nil {
				b.Fatal(err)
			}
			ops = append(ops, op, auth)
		}
		index++
		if res, err := s.ApplyLocal(index, &pb.Command{Timestamp: int64(index), Ops: ops}); err != nil || res.GetCode() != pb.Result_OK {
			b.Fatalf("seed: %v %v", res, err)
		}
	}
	b.ResetTimer()
	var backupTime, restoreTime time.Duration
	var size int64
	for i := range b.N {
		file := filepath.Join(dir, fmt.Sprintf("b%d.backup", i))
		start := time.Now()
		f, err := os.Create(file)
		if err != nil {
			b.Fatal(err)
		}
		h, err := s.WriteBackup(f, "c", "n1")
		if err == nil {
			err = f.Sync()
		}
		f.Close()
		if err != nil {
			b.Fatal(err)
		}
		backupTime += time.Since(start)
		fi, _ := os.Stat(file)
		size = fi.Size()

		start = time.Now()
		f, err = os.Open(file)
		if err != nil {
			b.Fatal(err)
		}
		restored := filepath.Join(dir, fmt.Sprintf("r%d.db", i))
		if _, err := ReadBackup(f, restored); err != nil {
			b.Fatal(err)
		}
		f.Close()
		r, err := Open(restored, nil)
		if err != nil {
			b.Fatal(err)
		}
		kept, err := r.PrepareRestore()
		r.Close()
		if err != nil || kept[KindIdentity] != total {
			b.Fatalf("restore: %v %v", kept[KindIdentity], err)
		}
		restoreTime += time.Since(start)
		_ = h
		os.Remove(file)
		os.Remove(restored)
	}
	b.ReportMetric(float64(backupTime.Milliseconds())/float64(b.N), "backup-ms")
	b.ReportMetric(float64(restoreTime.Milliseconds())/float64(b.N), "restore-ms")
	b.ReportMetric(float64(size)/(1<<20), "file-MiB")
}
