// Package fsm is Garrison's replicated state: a bbolt database that every
// node changes only by applying Raft-committed protobuf commands. Applying is
// deterministic (no clocks, randomness or I/O beyond the database), so every
// node that applies the same log holds byte-identical entities.
package fsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/hashicorp/raft"
	bolt "go.etcd.io/bbolt"
	"google.golang.org/protobuf/proto"

	pb "github.com/garrison-ctrl/garrison/proto/garrisonpb"
)

const (
	metaBucket = "meta"
	appliedKey = "applied"
	// accessKey holds the command time of the last write to an Access kind.
	accessKey = "accessChangedAt"
)

func entityBucket(kind string) string       { return "e/" + kind }
func indexBucket(kind, index string) string { return "x/" + kind + "/" + index }

// Unique index: key -> id. Non-unique: key NUL id -> empty, so the ids of one
// key sit next to each other and a prefix scan finds them.
func indexKey(ix Index, key string, id []byte) []byte {
	if ix.Unique {
		return []byte(key)
	}
	b := make([]byte, 0, len(key)+1+len(id))
	b = append(b, key...)
	b = append(b, 0)
	return append(b, id...)
}

func indexValue(ix Index, id []byte) []byte {
	if ix.Unique {
		return id
	}
	return []byte{}
}

func scanIndex(b *bolt.Bucket, key string) []string {
	prefix := append([]byte(key), 0)
	var ids []string
	c := b.Cursor()
	for k, _ := c.Seek(prefix); k != nil && bytes.HasPrefix(k, prefix); k, _ = c.Next() {
		ids = append(ids, string(k[len(prefix):]))
	}
	return ids
}

type referrer struct {
	kind *Kind
	ref  Ref
}

// Store is the replicated state of one node. It implements raft.FSM and
// raft.BatchingFSM; reads go through View.
type Store struct {
	path      string
	log       *slog.Logger
	kinds     map[string]*Kind
	referrers map[string][]referrer // target kind -> kinds referring to it

	// mu guards db: Restore swaps the file underneath readers.
	mu sync.RWMutex
	db *bolt.DB

	appliedMu sync.Mutex
	applied   uint64
	advanced  chan struct{} // closed and replaced whenever applied grows

	// fatal stops the node when applying cannot go on without diverging.
	fatal func(error)
}

// Option changes how Open sets up a Store.
type Option func(*Store)

// WithFatal replaces what the store does when it cannot apply a committed
// entry (the default exits the process with status 70). Tests use it to
// observe the stop.
func WithFatal(fn func(error)) Option { return func(s *Store) { s.fatal = fn } }

// Open opens (creating if needed) the state database at path.
func Open(path string, log *slog.Logger, opts ...Option) (*Store, error) {
	if log == nil {
		log = slog.Default()
	}
	s := &Store{
		path:      path,
		log:       log,
		kinds:     map[string]*Kind{},
		referrers: map[string][]referrer{},
		advanced:  make(chan struct{}),
		fatal:     func(error) { os.Exit(70) },
	}
	for _, o := range opts {
		o(s)
	}
	if err := s.register(allKinds()); err != nil {
		return nil, err
	}
	if err := s.openDB(); err != nil {
		return nil, err
	}
	return s, nil
}

// register checks the kind declarations and indexes them. A mistake here
// would corrupt state or fail only on some later write, so it stops Open.
func (s *Store) register(kinds []*Kind) error {
	for _, k := range kinds {
		if k.Name == "" || k.New == nil {
			return fmt.Errorf("kind %q: a kind needs a name and a New function", k.Name)
		}
		if _, dup := s.kinds[k.Name]; dup {
			return fmt.Errorf("kind %s is declared twice", k.Name)
		}
		s.kinds[k.Name] = k
		seen := map[string]bool{TagIndex: true}
		for _, ix := range k.Indexes {
			switch {
			case seen[ix.Name]:
				return fmt.Errorf("kind %s: index %q is declared twice (or shadows the tag index)", k.Name, ix.Name)
			case ix.kind != k.Name:
				return fmt.Errorf("kind %s: index %q was declared through a handle of kind %q", k.Name, ix.Name, ix.kind)
			case ix.Keys == nil:
				return fmt.Errorf("kind %s: index %q has no Keys function", k.Name, ix.Name)
			}
			seen[ix.Name] = true
		}
	}
	for _, k := range kinds {
		for _, r := range k.Refs {
			if r.Index.kind != k.Name || k.index(r.Index.name) == nil {
				return fmt.Errorf("kind %s: reference to %s uses index %s/%s, which is not one of its own", k.Name, r.Target, r.Index.kind, r.Index.name)
			}
			if _, ok := s.kinds[r.Target]; !ok {
				return fmt.Errorf("kind %s: reference to unknown kind %q", k.Name, r.Target)
			}
			if r.OnDelete == Drop && r.Drop == nil {
				return fmt.Errorf("kind %s: reference to %s drops on delete but has no Drop", k.Name, r.Target)
			}
			s.referrers[r.Target] = append(s.referrers[r.Target], referrer{kind: k, ref: r})
		}
	}
	return nil
}

func (s *Store) openDB() error {
	db, err := bolt.Open(s.path, 0o600, &bolt.Options{
		Timeout:        5 * time.Second,
		FreelistType:   bolt.FreelistMapType,
		NoFreelistSync: true,
		// A large initial mmap avoids remaps, which wait for open read
		// transactions such as a snapshot being written out.
		InitialMmapSize: 256 << 20,
	})
	if err != nil {
		return fmt.Errorf("open state db %s: %w", s.path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		names := []string{metaBucket, dedupBucket, dedupByTime}
		for _, k := range s.kinds {
			names = append(names, entityBucket(k.Name))
			for _, ix := range k.allIndexes() {
				names = append(names, indexBucket(k.Name, ix.Name))
			}
		}
		for _, n := range names {
			if _, err := tx.CreateBucketIfNotExists([]byte(n)); err != nil {
				return fmt.Errorf("create bucket %s: %w", n, err)
			}
		}
		return nil
	})
	if err != nil {
		db.Close()
		return err
	}
	var applied uint64
	_ = db.View(func(tx *bolt.Tx) error {
		if v := tx.Bucket([]byte(metaBucket)).Get([]byte(appliedKey)); len(v) == 8 {
			applied = binary.BigEndian.Uint64(v)
		}
		return nil
	})
	s.db = db
	s.setApplied(applied)
	return nil
}

// Close closes the database.
func (s *Store) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.db == nil {
		return nil
	}
	err := s.db.Close()
	s.db = nil
	return err
}

// AppliedIndex is the Raft index of the last log entry applied here.
func (s *Store) AppliedIndex() uint64 {
	s.appliedMu.Lock()
	defer s.appliedMu.Unlock()
	return s.applied
}

func (s *Store) setApplied(i uint64) {
	s.appliedMu.Lock()
	defer s.appliedMu.Unlock()
	s.applied = i
	close(s.advanced)
	s.advanced = make(chan struct{})
}

// WaitApplied blocks until the entry at index has been applied on this node,
// which is what makes a write answered by this node readable here at once.
func (s *Store) WaitApplied(ctx context.Context, index uint64) error {
	for {
		s.appliedMu.Lock()
		applied, ch := s.applied, s.advanced
		s.appliedMu.Unlock()
		if applied >= index {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("wait for index %d (applied %d): %w", index, applied, ctx.Err())
		}
	}
}

// Apply implements raft.FSM.
func (s *Store) Apply(l *raft.Log) interface{} {
	return s.ApplyBatch([]*raft.Log{l})[0]
}

// maxOpsPerTx bounds the ops one bbolt transaction of ApplyBatch carries.
// bbolt splits a node only when a transaction commits, so n inserts of
// scattered keys into one node cost O(n²) memmove: a follower catching up
// on 256 commands of 500 creates spent 40 s in one transaction. Past
// this many ops the batch commits and a new transaction starts; a command
// is never split, and the state is the same wherever the batch is cut.
// BenchmarkApplyCatchUp (256 commands of 500 creates, raft's largest batch
// here): one transaction 40 s; cut at 2,048 ops 2.4 s, 8,192 1.8 s, 16,384
// 1.7 s, 32,768 3.3 s. 8,192 keeps a margin from where the square wins.
const maxOpsPerTx = 8192

// ApplyBatch implements raft.BatchingFSM: the batch is applied in as few
// bbolt transactions (fsyncs) as maxOpsPerTx allows; each command is still
// atomic on its own. Entries at or below the stored applied index were
// applied before a restart and are skipped, so replaying the log after a
// restart is harmless.
func (s *Store) ApplyBatch(logs []*raft.Log) []interface{} {
	out := make([]interface{}, len(logs))
	s.mu.RLock()
	defer s.mu.RUnlock()
	for first := 0; first < len(logs); {
		next, err := s.applyChunk(logs[first:], out[first:])
		if err != nil {
			// Continuing would let this node's state silently diverge from
			// the others': stop, and let an operator (or an upgrade) step in.
			if errors.Is(err, ErrIncompatible) {
				s.log.Error("a committed command names something this build does not know: this node runs an older "+
					"version than the node that proposed it (or its log is damaged); stopping so that its state does not "+
					"diverge. Upgrade this node and start it again", "err", err)
			} else {
				s.log.Error("state database write failed; stopping", "err", err)
			}
			s.fatal(err)
			for i := first; i < len(out); i++ {
				out[i] = failure(pb.Result_INVALID, "", "", "not applied: "+err.Error())
			}
			return out
		}
		first += next
	}
	return out
}

// applyChunk applies a prefix of logs in one transaction, stopping after
// the command that brings the transaction to maxOpsPerTx ops, and returns
// how many entries it consumed.
func (s *Store) applyChunk(logs []*raft.Log, out []interface{}) (int, error) {
	start := s.AppliedIndex()
	last := start
	consumed := 0
	err := s.db.Update(func(tx *bolt.Tx) error {
		j := &journal{tx: tx}
		ops := 0
		for i, l := range logs {
			if ops >= maxOpsPerTx {
				break
			}
			consumed = i + 1
			if l.Index <= start {
				out[i] = &pb.Result{Code: pb.Result_OK, Message: "already applied"}
				continue
			}
			last = l.Index
			if l.Type != raft.LogCommand {
				continue
			}
			cmd := &pb.Command{}
			if err := proto.Unmarshal(l.Data, cmd); err != nil {
				return fmt.Errorf("apply index %d: %w", l.Index, incompatible("undecodable command: %v", err))
			}
			ops += len(cmd.GetOps())
			prev, err := dedupResult(j, cmd)
			if err != nil {
				return fmt.Errorf("apply index %d: %w", l.Index, err)
			}
			if prev != nil {
				out[i] = prev // applied before: once is enough
				continue
			}
			res, err := s.applyCommand(j, cmd)
			if err != nil {
				return fmt.Errorf("apply index %d: %w", l.Index, err)
			}
			if err := rememberResult(j, cmd, res); err != nil {
				return fmt.Errorf("apply index %d: remember its result: %w", l.Index, err)
			}
			out[i] = res
		}
		var buf [8]byte
		binary.BigEndian.PutUint64(buf[:], last)
		return tx.Bucket([]byte(metaBucket)).Put([]byte(appliedKey), buf[:])
	})
	if err != nil {
		return 0, err
	}
	s.setApplied(last)
	return consumed, nil
}

// ApplyLocal applies a command outside Raft at the given index. It exists
// for tests and tools that drive a Store without a cluster.
func (s *Store) ApplyLocal(index uint64, cmd *pb.Command) (*pb.Result, error) {
	data, err := proto.Marshal(cmd)
	if err != nil {
		return nil, err
	}
	r := s.Apply(&raft.Log{Index: index, Type: raft.LogCommand, Data: data})
	return r.(*pb.Result), nil
}

// Snapshot implements raft.FSM. It only opens a read transaction; the copy
// is written by Persist while applies continue.
func (s *Store) Snapshot() (raft.FSMSnapshot, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tx, err := s.db.Begin(false)
	if err != nil {
		return nil, fmt.Errorf("begin snapshot: %w", err)
	}
	return &snapshot{tx: tx}, nil
}

type snapshot struct {
	tx   *bolt.Tx
	once sync.Once
}

// Persist writes the copy and then ends the read transaction: raft's
// RecoverCluster persists a snapshot without ever releasing it, and an open
// read transaction would block closing the database forever.
func (sn *snapshot) Persist(sink raft.SnapshotSink) error {
	defer sn.Release()
	if _, err := sn.tx.WriteTo(sink); err != nil {
		sink.Cancel()
		return fmt.Errorf("write snapshot: %w", err)
	}
	return sink.Close()
}

func (sn *snapshot) Release() {
	sn.once.Do(func() { _ = sn.tx.Rollback() })
}

// Restore implements raft.FSM: it replaces the database with the snapshot.
func (s *Store) Restore(rc io.ReadCloser) error {
	defer rc.Close()
	tmp := s.path + ".restore"
	f, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create restore file: %w", err)
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("copy snapshot: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("sync restore file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("close restore file: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("close state db for restore: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("replace state db: %w", err)
	}
	if err := syncDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	return s.openDB()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("open dir %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync dir %s: %w", dir, err)
	}
	return nil
}

// ErrNotFound is returned by reads of an entity that does not exist.
var ErrNotFound = errors.New("not found")

// DBStats are figures of the state database for monitoring.
type DBStats struct {
	// FileBytes is the database file's size.
	FileBytes int64
	// ReadTxs is how many read transactions were started; OpenReadTxs how
	// many are open now.
	ReadTxs, OpenReadTxs int
	// WriteTime, SpillTime and RebalanceTime are bbolt's cumulative times
	// spent writing pages to disk, splitting and rebalancing nodes in
	// commits.
	WriteTime, SpillTime, RebalanceTime time.Duration
	// Writes is how many page writes were made.
	Writes int64
}

// Stats reads the database's figures.
func (s *Store) Stats() DBStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	st := s.db.Stats()
	out := DBStats{ReadTxs: st.TxN, OpenReadTxs: st.OpenTxN, WriteTime: st.TxStats.GetWriteTime(),
		SpillTime: st.TxStats.GetSpillTime(), RebalanceTime: st.TxStats.GetRebalanceTime(), Writes: st.TxStats.GetWrite()}
	if fi, err := os.Stat(s.path); err == nil {
		out.FileBytes = fi.Size()
	}
	return out
}
